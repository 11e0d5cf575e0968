"""The memory: every run, what each seat said, what it cost, and what the user did with it.

Owns the store behind one typed interface (`store.Store`), its schema (`schema`, SQLAlchemy Core) and
versioned migrations (`migrations/`, Alembic, run on open), the off-loop writer every face uses
(`writer.StoreWriter`), encryption of code at rest (`crypto`) and the typed records that go in and
come out (`records`). Embedded default: SQLite in WAL mode under the platformdirs user data dir;
team backend: PostgreSQL via psycopg 3, same schema.

May import: `orchestration.types.config`, `orchestration.types.errors`, `orchestration.privacy.gate`,
SQLAlchemy, Alembic, psycopg, cryptography, platformdirs, pydantic. Never `server/`, the CLI, or an editor
library. This module imports nothing, so `orchestration.types.config` can import `memory.settings`
without a cycle.
"""
