"""The rollup (per-day counters for stats and trust) and three indexes, the rollup backfilled.

Creates `rollup_calls`, `rollup_findings` and `rollup_verdicts` (`orchestration.memory.rollup`),
an index on `seat_calls.at` (a window's first day), and seat calls' (status, model, latency_ms,
at) and runs' (task, ended_at - started_at, started_at) indexes (latency and wall percentiles by
offset); then fills the rollup from the rows already stored (one INSERT ... SELECT per table), so
an upgraded store reports the same stats. The backfill is `rollup.rebuild`, written against
`orchestration.memory.schema`: the columns it reads exist in every revision from 0004 on.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _days(*names: str) -> list[sa.Column[int]]:
    return [sa.Column(name, sa.Integer, nullable=False, autoincrement=False) for name in names]


def _counts(*names: str) -> list[sa.Column[int]]:
    return [sa.Column(name, sa.BigInteger, nullable=False) for name in names]


def _sums(*names: str) -> list[sa.Column[float]]:
    return [sa.Column(name, sa.Double, nullable=False) for name in names]


def _names() -> list[sa.Column[str]]:
    return [
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("seat", sa.String(128), nullable=False),
    ]


def upgrade() -> None:
    from orchestration.memory import rollup
    from orchestration.memory.schema import ROLLUP_CALL_COUNTS, ROLLUP_FLAGS

    op.create_index("ix_seat_calls_at", "seat_calls", ["at"])
    op.create_index("ix_seat_calls_latency", "seat_calls", ["status", "model", "latency_ms", "at"])
    op.create_index("ix_runs_wall", "runs", ["task", sa.text("(ended_at - started_at)"), "started_at"])
    op.create_table(
        "rollup_calls",
        *_days("call_day", "run_day"),
        *_names(),
        sa.Column("model", sa.String(255), nullable=False),
        *_counts(*ROLLUP_CALL_COUNTS),
        *_sums("cost_usd"),
        sa.PrimaryKeyConstraint("call_day", "run_day", "task", "seat", "model", name="pk_rollup_calls"),
    )
    keys = ("task", "seat", "call_model", "category")
    op.create_table(
        "rollup_findings",
        *_days("run_day"),
        *_names(),
        sa.Column("call_model", sa.String(255), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        *_days("votes", "panel_size"),
        *_counts("items", "pairs"),
        *_sums("started_items", "started_pairs"),
        sa.PrimaryKeyConstraint("run_day", *keys, "votes", "panel_size", name="pk_rollup_findings"),
    )
    op.create_table(
        "rollup_verdicts",
        *_days("verdict_day", "run_day"),
        *_names(),
        sa.Column("call_model", sa.String(255), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        *_days(*ROLLUP_FLAGS),
        *_counts("items", "pairs"),
        *_sums("at_items", "at_pairs"),
        sa.PrimaryKeyConstraint("verdict_day", "run_day", *keys, *ROLLUP_FLAGS, name="pk_rollup_verdicts"),
    )
    rollup.rebuild(op.get_bind())


def downgrade() -> None:
    for table in ("rollup_verdicts", "rollup_findings", "rollup_calls"):
        op.drop_table(table)
    op.drop_index("ix_runs_wall", table_name="runs")
    op.drop_index("ix_seat_calls_latency", table_name="seat_calls")
    op.drop_index("ix_seat_calls_at", table_name="seat_calls")
