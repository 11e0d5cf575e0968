"""`AgentProvider`: a coding-agent CLI answering as a panel seat (`agent = "claude"` and the others).

For one call it checks that the request has a trusted workspace (`scope.current_scope`), finds
the CLI on PATH ("unavailable: claude is not on PATH" otherwise), copies the workspace to a
throwaway folder (`sandbox.workspace_copy`), runs the CLI there headless in its read-only mode
with a scrubbed environment (`process`), and returns the answer's text for the same tolerant
parser, merge and privacy gate as any seat. The session id the agent returns is kept in the memory
per workspace, seat and user (`orchestration.memory.sessions`); the seat's next call in that
workspace resumes it, and a session the CLI can no longer resume is forgotten and the call made
afresh. The workspace copy is written to the audit as its own row ("workspace copy: N files"),
so the log shows that an agent saw the workspace and how much of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

import anyio

from orchestration.memory.reads import read_soon
from orchestration.memory.records import AuditRecord
from orchestration.privacy.gate import register_secret, scrub_secrets
from orchestration.providers.agents.output import AgentOutputError, AgentReply, parse_output
from orchestration.providers.agents.process import (
    Finished,
    agent_environment,
    find_executable,
    run_agent_process,
)
from orchestration.providers.agents.profiles import PROFILES, AgentProfile, custom_profile
from orchestration.providers.agents.sandbox import CopiedWorkspace, workspace_copy
from orchestration.providers.agents.scope import AgentScope, current_scope
from orchestration.providers.base import ChatCall
from orchestration.types.config import ModelConfig
from orchestration.types.errors import ProviderError
from orchestration.types.requests import Message

if TYPE_CHECKING:
    from orchestration.memory.sessions import AgentSession
    from orchestration.memory.store import Store

SESSION_READ_BUDGET_S: Final = 1.0
NOTHING_SENT: Final = "nothing was sent"


def profile_for(seat: ModelConfig) -> AgentProfile:
    """The seat's agent profile: a built-in one (its `command` replacing the executable), or custom."""
    if seat.agent is None:
        raise ProviderError(f"{seat.model} is not an agent seat (set agent = 'claude' or another)")
    if seat.agent == "custom":
        return custom_profile(list(seat.command or []), seat.prompt, seat.output)
    profile = PROFILES[seat.agent]
    if seat.command:
        return _with_command(profile, seat.command)
    return profile


def _with_command(profile: AgentProfile, command: list[str]) -> AgentProfile:
    return replace(profile, executable=command[0], argv=(*command[1:], *profile.argv))


def prompt_text(messages: list[Message]) -> str:
    """The chat as one prompt: the instructions, then the request (agents take one text)."""
    return "\n\n".join(m.get("content", "") for m in messages if m.get("content", "").strip())


def _expand(items: tuple[str, ...], values: dict[str, str], groups: dict[str, tuple[str, ...]]) -> list[str]:
    argv: list[str] = []
    for item in items:
        if item in groups:
            argv.extend(_expand(groups[item], values, {}))
            continue
        for name, value in values.items():
            item = item.replace("{" + name + "}", value)
        argv.append(item)
    return argv


@dataclass(frozen=True, slots=True)
class Invocation:
    """One run of an agent: the command line, its environment and what it reads on stdin."""

    argv: list[str]
    environment: dict[str, str]
    stdin: bytes | None


def invocation(
    seat_name: str,
    seat: ModelConfig,
    profile: AgentProfile,
    executable: str,
    prompt: str,
    session: str | None,
) -> Invocation:
    """The command line and environment for one call (`session`: the id to resume, or None)."""
    api_base = seat.endpoints[0] if seat.endpoints else None
    model = seat.agent_model
    values = {"prompt": prompt, "session": session or "", "model": model or "", "api_base": api_base or ""}
    groups = {
        "{resume}": profile.resume if session else (),
        "{model_args}": profile.model_args if model else (),
        "{endpoint_args}": profile.endpoint_args if api_base else (),
        "{prompt_args}": profile.prompt_args if profile.prompt == "arg" else (),
    }
    variables: dict[str, str] = dict(profile.fixed_env)
    if api_base:
        variables.update(profile.endpoint_fixed_env)
        variables.update(dict.fromkeys(profile.endpoint_env, api_base))
    if model:
        variables.update(dict.fromkeys(profile.model_env, model))
    key = _seat_key(seat_name, seat)
    if key is not None:
        variables.update(dict.fromkeys(profile.key_env, key))
    argv = [executable, *_expand(profile.argv, values, groups)]
    stdin = prompt.encode("utf-8") if profile.prompt == "stdin" else None
    return Invocation(argv, agent_environment(seat_name, variables), stdin)


def _seat_key(seat_name: str, seat: ModelConfig) -> str | None:
    """The seat's own key (from its `api_key_env`), registered as a secret; None when it names none."""
    if not seat.api_key_env:
        return None
    value = os.environ.get(seat.api_key_env, "").strip()
    if not value:
        raise ProviderError(
            f"{seat.api_key_env} is not set (seat '{seat_name}' reads its key from it); {NOTHING_SENT}"
        )
    register_secret(value)
    return value


class AgentProvider:
    """Seats whose model id starts with `agent/`: a coding-agent CLI run on a copy of the workspace."""

    __slots__ = ()

    async def complete(self, call: ChatCall) -> str:
        """The answer to `call.messages` within `call.seat.timeout`; the process tree is killed after."""
        seat, name = call.seat, call.seat_name
        profile = profile_for(seat)
        scope = current_scope()
        if scope is None or scope.workspace is None:
            raise ProviderError(
                f"{name}: agent seats need a workspace to read, and this request has none; {NOTHING_SENT}"
            )
        if not scope.is_trusted():
            raise ProviderError(
                f"{name}: agent seats run only in trusted workspaces; run `chorus trust {scope.workspace}` "
                f"if you trust it; {NOTHING_SENT}"
            )
        probe = agent_environment(name, {})
        executable = find_executable(profile.executable, probe)
        if executable is None:
            hint = f" (npm install -g {profile.package})" if profile.package else ""
            raise ProviderError(f"unavailable: {profile.executable} is not on PATH{hint}")
        call.usage.endpoint = seat.endpoints[0] if seat.endpoints else f"{profile.name}-cli"
        workspace = str(scope.workspace)
        kept = await _kept_session(scope, workspace, name) if profile.resume else None
        prompt = prompt_text(call.messages)
        try:
            with anyio.fail_after(seat.timeout):
                async with workspace_copy(scope.workspace, name, scope.exclude) as copy:
                    _audit_copy(scope, name, seat, copy)
                    reply = await _ask(name, seat, profile, executable, prompt, kept, copy.path)
                    if reply is None:  # The kept session could not be resumed: forget it, start afresh.
                        await _forget_session(scope, workspace, name)
                        reply = await _ask(name, seat, profile, executable, prompt, None, copy.path)
        except TimeoutError:
            raise ProviderError(f"{name} timed out after {seat.timeout:g} s", "timeout") from None
        if reply is None:
            raise ProviderError(f"{name}: {profile.executable} gave no answer")
        call.usage.add(reply.usage)
        if reply.session_id and profile.resume:
            await _keep_session(scope, workspace, name, profile.name, reply.session_id)
        return reply.text


async def _ask(
    name: str,
    seat: ModelConfig,
    profile: AgentProfile,
    executable: str,
    prompt: str,
    session: str | None,
    cwd: Path,
) -> AgentReply | None:
    """One run of the agent; None when resuming `session` failed (the caller retries without it)."""
    run = invocation(name, seat, profile, executable, prompt, session)
    finished = await run_agent_process(run.argv, cwd=cwd, environment=run.environment, stdin=run.stdin)
    try:
        reply = parse_output(finished.stdout, profile)
    except AgentOutputError as error:
        if session is not None:
            return None
        raise ProviderError(scrub_secrets(f"{name}: {profile.executable} reported: {error}")) from None
    if finished.returncode != 0 and not reply.text:
        if session is not None:
            return None
        raise ProviderError(scrub_secrets(f"{name}: {profile.executable} {_failure(finished)}"))
    if not reply.text.strip():
        raise ProviderError(f"{name}: {profile.executable} printed no answer")
    return reply


def _failure(finished: Finished) -> str:
    lines = [line.strip() for line in finished.stderr.splitlines() if line.strip()]
    said = f": {lines[-1][:200]}" if lines else ""
    return f"exited with status {finished.returncode}{said}"


async def _kept_session(scope: AgentScope, workspace: str, seat: str) -> str | None:
    def find(store: Store) -> AgentSession | None:
        from orchestration.memory import sessions  # The SQL layer, in the reader thread.

        return sessions.find(store, workspace, seat)

    kept = await read_soon(scope.memory, find, None, budget=SESSION_READ_BUDGET_S)
    return kept.session_id if kept is not None else None


async def _keep_session(scope: AgentScope, workspace: str, seat: str, agent: str, session_id: str) -> None:
    memory = scope.memory
    if memory is None or not memory.config.enabled:
        return

    def keep() -> None:
        from orchestration.memory import sessions  # The SQL layer, in this worker thread.

        memory.read(
            lambda store: sessions.remember(store, workspace, seat, agent, session_id, run_id=scope.run_id),
            None,
        )

    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(keep)


async def _forget_session(scope: AgentScope, workspace: str, seat: str) -> None:
    memory = scope.memory
    if memory is None or not memory.config.enabled:
        return

    def forget() -> int:
        from orchestration.memory import sessions  # The SQL layer, in this worker thread.

        return memory.read(lambda store: sessions.forget(store, workspace, seat), 0)

    await anyio.to_thread.run_sync(forget)


def _audit_copy(scope: AgentScope, seat_name: str, seat: ModelConfig, copy: CopiedWorkspace) -> None:
    """One audit row saying the agent was given the workspace (its files and bytes), when recorded."""
    if scope.memory is None:
        return
    scope.memory.submit(
        AuditRecord(
            seat=seat_name,
            model=seat.model,
            endpoint=seat.endpoints[0] if seat.endpoints else None,
            outcome=f"workspace copy: {copy.files} files",
            path=str(scope.workspace),
            bytes_sent=copy.bytes,
            run_id=scope.run_id,
        )
    )
