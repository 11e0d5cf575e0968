"""Alembic environment: migrate the connection `orchestration.memory.engine.migrate` passes in."""

from __future__ import annotations

from alembic import context

from orchestration.memory.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the memory's migrations run only through orchestration.memory.engine.migrate")
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
