"""Alembic migrations of the memory's schema, run programmatically by `orchestration.memory.engine`.

`env.py` only runs online, on the connection the store hands it (`config.attributes["connection"]`),
inside the store's own transaction. Revisions live in `versions/`; each is frozen once released.
"""
