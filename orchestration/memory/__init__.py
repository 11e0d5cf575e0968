"""The memory: every run, what each seat said, what it cost, and what the user did with it.

Owns the store behind one typed interface (`store.Store`), its schema (`schema`, SQLAlchemy Core) and
versioned migrations (`migrations/`, Alembic, run on open), the off-loop writer every face uses
(`writer.StoreWriter`), encryption of code at rest (`crypto`) and the typed records that go in and
come out (`records`). Embedded default: SQLite in WAL mode under the platformdirs user data dir;
team backend: PostgreSQL via psycopg 3, same schema.

What the pipelines use: `recorder` (one run written down: start, seats, findings, conflicts, audit,
end), `identity` (a finding's cluster key, fingerprint, stable id, and the panel's conflicts),
`cache` (a seat's answer reused, identical calls in flight shared), `reads` (bounded reads from the
event loop), and `feedback.record_verdict` (the user's verdict; a dismissal suppresses the finding
on that code) for the faces. `settings` holds `[store]` and `[cache]`.

May import: `orchestration.types`, `orchestration.privacy`, `orchestration.offload`,
`orchestration.merge.wording` (cluster keys), SQLAlchemy, Alembic, psycopg, cryptography,
platformdirs, pydantic, anyio. Never `server/`, the CLI, or an editor library. This module imports
nothing, so `orchestration.types.config` can import `memory.settings` without a cycle; the modules
the pipelines import eagerly (`recorder`, `identity`, `cache`, `reads`, `records`) import the store
(SQLAlchemy, Alembic) only for type checking.
"""
