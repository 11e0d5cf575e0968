"""The memory's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

The migrations in `orchestration/memory/migrations/versions` create exactly these tables; this
module is what the store's queries are written against. Times are `Double` seconds since the epoch
(UTC); JSON columns are JSON on SQLite and JSONB on PostgreSQL. The runs' owner column is named
`user` (quoted by SQLAlchemy: it is a reserved word in PostgreSQL) so row-level security policies
can later compare it with `current_user`. The `rollup_*` tables are counters the writer keeps in
step with the rows (`orchestration.memory.rollup`), so stats and trust read days, not rows.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

VERSION_TABLE = "chorus_schema_version"
"""Alembic's version table (one row: the store's schema revision)."""

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)
Json = JSON().with_variant(JSONB(), "postgresql")
ID = 32
ROLLUP_CALL_COUNTS = (
    "calls", "asked", "answered", "errors", "timeouts", "cached", "timed", "tokens_in", "tokens_out",
    "opinions",
)  # fmt: skip
"""`rollup_calls`' integer counters (`timed`: `ok` calls with a latency)."""
ROLLUP_FLAGS = ("good", "accepted", "dismissed", "useful")
"""`rollup_verdicts`' judgement columns (0 or 1): the latest verdict's, then ever accepted, ..."""


def _run_fk() -> Column[str]:
    return Column("run_id", String(ID), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)


runs = Table(
    "runs",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("task", String(32), nullable=False),
    Column("workspace", Text),
    Column("path", Text),
    Column("start_line", Integer),
    Column("end_line", Integer),
    Column("content_hash", String(64)),
    Column("config_hash", String(64)),
    Column("prompt_version", String(64)),
    Column("seats", Json, nullable=False),
    Column("user", String(128), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("ended_at", Double),
    Column("outcome", String(16), nullable=False),
    Column("notice", Text),
    Index(None, "started_at"),
    Index(None, "outcome"),
    Index(None, "user", "started_at"),
)

Index("ix_runs_wall", runs.c.task, runs.c.ended_at - runs.c.started_at, runs.c.started_at)
"""Per task, runs in order of wall time (`chorus stats`' median wall, by offset)."""

seat_calls = Table(
    "seat_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _run_fk(),
    Column("seat", String(128), nullable=False),
    Column("model", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_class", Text),
    Column("latency_ms", Integer),
    Column("tokens_in", Integer),
    Column("tokens_out", Integer),
    Column("cost_usd", Double),
    Column("answer_hash", String(64)),
    Column("findings", Json, nullable=False),
    Column("at", Double, nullable=False),
    Index(None, "run_id"),
    Index(None, "model", "at"),
    Index(None, "at"),
    Index("ix_seat_calls_latency", "status", "model", "latency_ms", "at"),
)

findings = Table(
    "findings",
    metadata,
    Column("id", String(ID), primary_key=True),
    _run_fk(),
    Column("start_line", Integer, nullable=False),
    Column("end_line", Integer, nullable=False),
    Column("votes", Integer, nullable=False),
    Column("panel_size", Integer, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("category", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("models", Json, nullable=False),
    Column("arbiter_verdict", Text),
    Column("fingerprint", String(64)),
    Index(None, "run_id"),
    Index(None, "fingerprint"),
)

conflicts = Table(
    "conflicts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _run_fk(),
    Column("kind", String(32), nullable=False),
    Column("finding_id", String(ID)),
    Column("start_line", Integer),
    Column("end_line", Integer),
    Column("models_for", Json, nullable=False),
    Column("models_against", Json, nullable=False),
    Column("detail", Text),
    Index(None, "run_id"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("finding_id", String(ID), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("user", String(128), nullable=False),
    Column("at", Double, nullable=False),
    Index(None, "finding_id"),
    Index(None, "at"),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False),
    Column("cluster_key", Text, nullable=False),
    Column("user", String(128), nullable=False),
    Column("shared", Boolean, nullable=False),
    Column("finding_id", String(ID)),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("fingerprint", "user"),
)

cache_entries = Table(
    "cache_entries",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("model", String(255), nullable=False),
    Column("answer", LargeBinary, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("ttl_s", Double, nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(ID)),
    Column("seat", String(128), nullable=False),
    Column("model", String(255), nullable=False),
    Column("endpoint_host", String(255)),
    Column("path", Text),
    Column("start_line", Integer),
    Column("end_line", Integer),
    Column("bytes_sent", Integer, nullable=False),
    Column("redactions", Integer, nullable=False),
    Column("at", Double, nullable=False),
    Column("outcome", String(64), nullable=False),
    Index(None, "at"),
    Index(None, "model", "at"),
)

code_blobs = Table(
    "code_blobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _run_fk(),
    Column("kind", String(16), nullable=False),
    Column("finding_id", String(ID)),
    Column("key_id", String(16), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Index(None, "run_id"),
)

agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace", Text, nullable=False),
    Column("seat", String(128), nullable=False),
    Column("agent", String(64), nullable=False),
    Column("session_id", String(512), nullable=False),
    Column("user", String(128), nullable=False),
    Column("run_id", String(ID)),
    Column("created_at", Double, nullable=False),
    Column("used_at", Double, nullable=False),
    Index(None, "used_at"),
    UniqueConstraint("workspace", "seat", "user", name="uq_agent_sessions_workspace"),
)


def _day(name: str) -> Column[int]:
    return Column(name, Integer, primary_key=True, autoincrement=False)


def _key(name: str, length: int) -> Column[str]:
    return Column(name, String(length), primary_key=True)


def _count(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False, default=0)


def _sum(name: str) -> Column[float]:
    return Column(name, Double, nullable=False, default=0.0)


rollup_calls = Table(
    "rollup_calls",
    metadata,
    _day("call_day"),
    _day("run_day"),
    _key("task", 32),
    _key("seat", 128),
    _key("model", 255),
    *(_count(name) for name in ROLLUP_CALL_COUNTS),
    _sum("cost_usd"),
)
"""Seat calls per UTC day of the call and of its run (`orchestration.memory.rollup`)."""

rollup_findings = Table(
    "rollup_findings",
    metadata,
    _day("run_day"),
    _key("task", 32),
    _key("seat", 128),
    _key("call_model", 255),
    _key("category", 32),
    Column("votes", Integer, primary_key=True, autoincrement=False),
    Column("panel_size", Integer, primary_key=True, autoincrement=False),
    _count("items"),
    _count("pairs"),
    _sum("started_items"),
    _sum("started_pairs"),
)
"""The seats merged findings name, per day of their run and the model of the seat's call in it."""

rollup_verdicts = Table(
    "rollup_verdicts",
    metadata,
    _day("verdict_day"),
    _day("run_day"),
    _key("task", 32),
    _key("seat", 128),
    _key("call_model", 255),
    _key("category", 32),
    *(Column(name, Integer, primary_key=True, autoincrement=False) for name in ROLLUP_FLAGS),
    _count("items"),
    _count("pairs"),
    _sum("at_items"),
    _sum("at_pairs"),
)
"""The same for judged findings, per day of the latest verdict and what the verdicts said."""
