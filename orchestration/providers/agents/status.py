"""What `chorus models` says about an agent seat: is the CLI there, which version, is it signed in.

`agent_status(seat_name, seat)` runs the CLI's `--version` and, where the CLI has one, its
sign-in check (`claude auth status`, `codex login status`; exit 0 = signed in) with the same
scrubbed environment an agent seat gets (so a key the seat names counts), each within
`CHECK_TIMEOUT_S`, in the user's home folder (nothing of the workspace is read). A CLI that
cannot tell leaves `signed_in` None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio

from orchestration.privacy.gate import scrub_secrets
from orchestration.providers.agents.process import agent_environment, find_executable, run_agent_process
from orchestration.providers.agents.provider import invocation, profile_for
from orchestration.types.config import ModelConfig
from orchestration.types.errors import ProviderError

CHECK_TIMEOUT_S: Final = 15.0
VERSION: Final = re.compile(r"\d+\.\d+(?:\.\d+)?(?:[-.+\w]*)?")


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """An agent CLI as `chorus models` shows it."""

    available: bool
    version: str | None = None
    signed_in: bool | None = None
    detail: str | None = None
    """Why it is unavailable, in one line."""


async def agent_status(seat_name: str, seat: ModelConfig) -> AgentStatus:
    """Whether the seat's CLI is on PATH, its version, and (where it can tell) whether it is signed in."""
    profile = profile_for(seat)
    executable = find_executable(profile.executable, agent_environment(seat_name, {}))
    if executable is None:
        return AgentStatus(False, detail=f"unavailable: {profile.executable} is not on PATH")
    key_problem: str | None = None
    try:
        environment = invocation(seat_name, seat, profile, executable, "", None).environment
    except ProviderError as error:
        environment, key_problem = agent_environment(seat_name, {}), str(error)
    home = Path.home()
    version = None
    if profile.version_args:
        with anyio.move_on_after(CHECK_TIMEOUT_S):
            finished = await run_agent_process(
                [executable, *profile.version_args], cwd=home, environment=environment, stdin=None
            )
            found = VERSION.search(finished.stdout or finished.stderr)
            version = found.group(0) if found else None
    signed_in = None
    if profile.auth_args:
        with anyio.move_on_after(CHECK_TIMEOUT_S):
            checked = await run_agent_process(
                [executable, *profile.auth_args], cwd=home, environment=environment, stdin=None
            )
            signed_in = checked.returncode == 0
    if version is None:
        return AgentStatus(False, detail=f"{profile.executable} --version gave no version")
    return AgentStatus(True, version, signed_in, scrub_secrets(key_problem) if key_problem else None)
