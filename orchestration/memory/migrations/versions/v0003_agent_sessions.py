"""Agent sessions: the session id each agent seat returned, per workspace, seat and user.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("workspace", sa.Text, nullable=False),
        sa.Column("seat", sa.String(128), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(512), nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("used_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agent_sessions"),
        sa.UniqueConstraint("workspace", "seat", "user", name="uq_agent_sessions_workspace"),
    )
    op.create_index("ix_agent_sessions_used_at", "agent_sessions", ["used_at"])


def downgrade() -> None:
    op.drop_index("ix_agent_sessions_used_at", table_name="agent_sessions")
    op.drop_table("agent_sessions")
