"""Feedback, suppressions, the answer cache, the audit log, encrypted code blobs.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("finding_id", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_finding_id", "feedback", ["finding_id"])
    op.create_index("ix_feedback_at", "feedback", ["at"])
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("cluster_key", sa.Text, nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("finding_id", sa.String(32)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_suppressions"),
        sa.UniqueConstraint("fingerprint", "user", name="uq_suppressions_fingerprint_user"),
    )
    op.create_table(
        "cache_entries",
        sa.Column("key", sa.String(128)),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("answer", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("ttl_s", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_cache_entries"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("run_id", sa.String(32)),
        sa.Column("seat", sa.String(128), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("endpoint_host", sa.String(255)),
        sa.Column("path", sa.Text),
        sa.Column("start_line", sa.Integer),
        sa.Column("end_line", sa.Integer),
        sa.Column("bytes_sent", sa.Integer, nullable=False),
        sa.Column("redactions", sa.Integer, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_model_at", "audit", ["model", "at"])
    op.create_table(
        "code_blobs",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column(
            "run_id",
            sa.String(32),
            sa.ForeignKey("runs.id", ondelete="CASCADE", name="fk_code_blobs_run_id_runs"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("finding_id", sa.String(32)),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_code_blobs"),
    )
    op.create_index("ix_code_blobs_run_id", "code_blobs", ["run_id"])


def downgrade() -> None:
    for table in ("code_blobs", "audit", "cache_entries", "suppressions", "feedback"):
        op.drop_table(table)
