"""Agent sessions in the memory: the session id each agent seat returned, per workspace, seat and user.

An agent seat (`orchestration.providers.agents`) that answers with a session id has it kept here
(`remember`); the next call of that seat in that workspace, for that user, resumes it (`find`), and
so do follow-up questions (`chorus ask`, the MCP `ask` tool). `chorus sessions` lists them (`listed`)
and `--clear` forgets them (`clear`). Rows live in the `agent_sessions` table (migration 0003): one
per workspace × seat × user, replaced when the agent starts a new session. Every function takes an
open `Store` and raises `StoreError` (one line) when the database fails.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from orchestration.memory import schema
from orchestration.memory.engine import WRITE
from orchestration.memory.errors import StoreError, describe
from orchestration.memory.store import Store

table = schema.agent_sessions


@dataclass(frozen=True, slots=True)
class AgentSession:
    """One kept session: where, which seat and agent, its id, whose, and when it was made and used."""

    workspace: str
    seat: str
    agent: str
    session_id: str
    user: str
    run_id: str | None = None
    created_at: float = 0.0
    used_at: float = 0.0


@contextmanager
def _connection(store: Store, *, write: bool) -> Iterator[Connection]:
    try:
        with store.engine.connect() as connection:
            if write:
                connection = connection.execution_options(**WRITE)
            with connection.begin():
                yield connection
    except (SQLAlchemyError, OSError) as error:
        raise StoreError(f"the store at {store.location} failed: {describe(error)}") from error


def _session(row: Row[Any]) -> AgentSession:
    mapping = row._mapping
    return AgentSession(
        workspace=mapping["workspace"],
        seat=mapping["seat"],
        agent=mapping["agent"],
        session_id=mapping["session_id"],
        user=mapping["user"],
        run_id=mapping["run_id"],
        created_at=mapping["created_at"],
        used_at=mapping["used_at"],
    )


def find(store: Store, workspace: str, seat: str, user: str | None = None) -> AgentSession | None:
    """The session kept for `seat` in `workspace` for the user (default: the store's), or None."""
    who = user or store.user
    query = select(table).where(table.c.workspace == workspace, table.c.seat == seat, table.c.user == who)
    with _connection(store, write=False) as connection:
        row = connection.execute(query).first()
    return None if row is None else _session(row)


def remember(
    store: Store,
    workspace: str,
    seat: str,
    agent: str,
    session_id: str,
    *,
    run_id: str | None = None,
    user: str | None = None,
    now: float | None = None,
) -> AgentSession:
    """Keep `session_id` as the seat's session in `workspace` (replacing another; touching the same)."""
    who = user or store.user
    at = time.time() if now is None else now
    where = (table.c.workspace == workspace, table.c.seat == seat, table.c.user == who)
    with _connection(store, write=True) as connection:
        row = connection.execute(select(table).where(*where)).first()
        if row is None:
            connection.execute(
                insert(table).values(
                    workspace=workspace,
                    seat=seat,
                    agent=agent,
                    session_id=session_id,
                    user=who,
                    run_id=run_id,
                    created_at=at,
                    used_at=at,
                )
            )
            return AgentSession(workspace, seat, agent, session_id, who, run_id, at, at)
        kept = _session(row)
        created = kept.created_at if kept.session_id == session_id else at
        connection.execute(
            update(table)
            .where(*where)
            .values(
                agent=agent,
                session_id=session_id,
                run_id=run_id or kept.run_id,
                created_at=created,
                used_at=at,
            )
        )
    return AgentSession(workspace, seat, agent, session_id, who, run_id or kept.run_id, created, at)


def forget(store: Store, workspace: str, seat: str, user: str | None = None) -> int:
    """Forget the seat's session in `workspace` (one that can no longer be resumed); returns how many."""
    who = user or store.user
    where = (table.c.workspace == workspace, table.c.seat == seat, table.c.user == who)
    with _connection(store, write=True) as connection:
        return int(connection.execute(delete(table).where(*where)).rowcount or 0)


def listed(store: Store, workspace: str | None = None, user: str | None = None) -> list[AgentSession]:
    """The user's kept sessions (in `workspace` only, when given), most recently used first."""
    query = select(table).where(table.c.user == (user or store.user))
    if workspace is not None:
        query = query.where(table.c.workspace == workspace)
    with _connection(store, write=False) as connection:
        rows = connection.execute(query.order_by(table.c.used_at.desc(), table.c.id.desc())).all()
    return [_session(row) for row in rows]


def clear(store: Store, workspace: str | None = None, user: str | None = None) -> int:
    """Forget the user's sessions (in `workspace` only, when given); returns how many were removed."""
    query = delete(table).where(table.c.user == (user or store.user))
    if workspace is not None:
        query = query.where(table.c.workspace == workspace)
    with _connection(store, write=True) as connection:
        return int(connection.execute(query).rowcount or 0)
