"""Runs, seat calls, merged findings, conflicts.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _run_fk(table: str) -> sa.Column[str]:
    return sa.Column(
        "run_id",
        sa.String(32),
        sa.ForeignKey("runs.id", ondelete="CASCADE", name=f"fk_{table}_run_id_runs"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32)),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("workspace", sa.Text),
        sa.Column("path", sa.Text),
        sa.Column("start_line", sa.Integer),
        sa.Column("end_line", sa.Integer),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("config_hash", sa.String(64)),
        sa.Column("prompt_version", sa.String(64)),
        sa.Column("seats", JSON, nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("ended_at", sa.Double),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("notice", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_outcome", "runs", ["outcome"])
    op.create_index("ix_runs_user_started_at", "runs", ["user", "started_at"])
    op.create_table(
        "seat_calls",
        sa.Column("id", sa.Integer, autoincrement=True),
        _run_fk("seat_calls"),
        sa.Column("seat", sa.String(128), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_class", sa.Text),
        sa.Column("latency_ms", sa.Integer),
        sa.Column("tokens_in", sa.Integer),
        sa.Column("tokens_out", sa.Integer),
        sa.Column("cost_usd", sa.Double),
        sa.Column("answer_hash", sa.String(64)),
        sa.Column("findings", JSON, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_seat_calls"),
    )
    op.create_index("ix_seat_calls_run_id", "seat_calls", ["run_id"])
    op.create_index("ix_seat_calls_model_at", "seat_calls", ["model", "at"])
    op.create_table(
        "findings",
        sa.Column("id", sa.String(32)),
        _run_fk("findings"),
        sa.Column("start_line", sa.Integer, nullable=False),
        sa.Column("end_line", sa.Integer, nullable=False),
        sa.Column("votes", sa.Integer, nullable=False),
        sa.Column("panel_size", sa.Integer, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("models", JSON, nullable=False),
        sa.Column("arbiter_verdict", sa.Text),
        sa.Column("fingerprint", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_findings"),
    )
    op.create_index("ix_findings_run_id", "findings", ["run_id"])
    op.create_index("ix_findings_fingerprint", "findings", ["fingerprint"])
    op.create_table(
        "conflicts",
        sa.Column("id", sa.Integer, autoincrement=True),
        _run_fk("conflicts"),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("finding_id", sa.String(32)),
        sa.Column("start_line", sa.Integer),
        sa.Column("end_line", sa.Integer),
        sa.Column("models_for", JSON, nullable=False),
        sa.Column("models_against", JSON, nullable=False),
        sa.Column("detail", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_conflicts"),
    )
    op.create_index("ix_conflicts_run_id", "conflicts", ["run_id"])


def downgrade() -> None:
    for table in ("conflicts", "findings", "seat_calls", "runs"):
        op.drop_table(table)
