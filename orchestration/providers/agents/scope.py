"""What an agent seat may see for one request: the workspace, the globs kept from it, the memory.

A provider is handed only the seat and its messages; an agent also needs the workspace it may
read (a throwaway copy of it), the `policy.exclude` globs that copy leaves out, whether the
workspace is trusted, and the memory where its sessions are kept. Whoever serves the request
(a pipeline's entry, a face) sets them for the calls under it:

    with agent_scope(workspace, config.policy, memory=memory):
        result = await review_selection(...)

Without a scope (or a workspace), or in a workspace the user has not trusted (`chorus trust`, or
the editor's word passed as `trusted`), agent seats refuse, and the rest of the panel answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.privacy import trust
from orchestration.privacy.gate import excluded_patterns
from orchestration.types.config import PolicyConfig

if TYPE_CHECKING:
    from orchestration.memory.writer import StoreWriter


@dataclass(frozen=True, slots=True)
class AgentScope:
    """The workspace an agent seat may read for the calls under it, and where its sessions go."""

    workspace: Path | None
    exclude: tuple[str, ...]
    memory: StoreWriter | None = None
    trusted: bool | None = None
    """The editor's word on the workspace; None: the records of `chorus trust` decide."""
    run_id: str | None = None

    def is_trusted(self) -> bool:
        """Whether agents may run in this workspace (the editor said so, or `chorus trust` holds)."""
        if self.workspace is None:
            return False
        if self.trusted is not None:
            return self.trusted
        return workspace_trusted(self.workspace)


_SCOPE: ContextVar[AgentScope | None] = ContextVar("chorus_agent_scope", default=None)


@contextmanager
def agent_scope(
    workspace: Path | None,
    policy: PolicyConfig,
    *,
    memory: StoreWriter | None = None,
    trusted: bool | None = None,
    run_id: str | None = None,
) -> Iterator[AgentScope]:
    """Let agent seats below read `workspace` (less `policy.exclude`) and keep sessions in `memory`.

    Unset here, `trusted`, `memory` and `run_id` are those of an enclosing scope for the same
    workspace (a face that knows the editor's word on trust, around a pipeline that knows its memory).
    """
    folder = workspace.resolve() if workspace is not None else None
    outer = _SCOPE.get()
    if outer is not None and outer.workspace == folder:
        trusted = outer.trusted if trusted is None else trusted
        memory = outer.memory if memory is None else memory
        run_id = outer.run_id if run_id is None else run_id
    scope = AgentScope(folder, tuple(excluded_patterns(policy)), memory, trusted, run_id)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def current_scope() -> AgentScope | None:
    """The scope set by the innermost `agent_scope` around this call, or None."""
    return _SCOPE.get()


def workspace_trusted(workspace: Path, store: Path | None = None) -> bool:
    """Whether `chorus trust` recorded `workspace` and its Chorus config is unchanged since."""
    from orchestration.types.config import ConfigError, find_settings  # config imports trust, not this

    folder = workspace.resolve()
    records = [r for r in trust.load_records(store) if r.workspace == str(folder)]
    if not records:
        return False
    try:
        found = find_settings(folder, folder)
    except ConfigError:
        return False
    for record in records:
        if found is None and record.config is None:
            return True
        if found is not None and record.config == str(found.path.resolve()):
            return record.sha256 == trust.settings_digest(found.raw)
    return False
