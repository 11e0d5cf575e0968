"""Running an agent CLI: its own process group, a scrubbed environment, and nothing left behind.

`run_agent_process` starts the command in a new session (its own process group), feeds it the
prompt on stdin (or nothing), reads stdout and stderr (each up to `MAX_OUTPUT_BYTES`) and waits.
However the call ends, normally, at its deadline or by cancellation, the whole process group is
killed (SIGKILL): agents start helpers (node workers, shells, MCP servers) that would otherwise
outlive the seat. `agent_environment` builds the child's environment from nothing but the basics
(`orchestration.privacy.gate.child_environment`: PATH, HOME, locale, temp dirs), the variables the
seat's profile names (its endpoint, its own key, its model) and `CHORUS_AGENT_SEAT`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio
from anyio.abc import ByteReceiveStream, Process

from orchestration.privacy.gate import child_environment
from orchestration.providers.agent_seat import agent_seat_environment

MAX_OUTPUT_BYTES: Final = 16_000_000
"""stdout or stderr beyond this is read and dropped (an agent that floods cannot fill the memory)."""
REAP_TIMEOUT_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class Finished:
    """How an agent process ended: its exit code and what it printed."""

    returncode: int | None
    stdout: str
    stderr: str


def find_executable(command: str, environment: Mapping[str, str]) -> str | None:
    """The full path of `command` on the child's PATH (or the path itself when it names a file)."""
    if os.sep in command:
        path = Path(command).expanduser()
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(command, path=environment.get("PATH", os.defpath))


def agent_environment(seat_name: str, variables: Mapping[str, str]) -> dict[str, str]:
    """The child's whole environment: the scrubbed basics, `variables`, and the agent-seat mark."""
    return agent_seat_environment(child_environment(dict(variables)), seat_name)


def kill_group(pid: int) -> None:
    """SIGKILL every process in the group `pid` leads (gone already: nothing to do)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def _read(stream: ByteReceiveStream | None, into: bytearray) -> None:
    if stream is None:
        return
    try:
        async for chunk in stream:
            if len(into) < MAX_OUTPUT_BYTES:
                into.extend(chunk[: MAX_OUTPUT_BYTES - len(into)])
    except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
        pass


async def _feed(process: Process, data: bytes | None) -> None:
    if process.stdin is None:
        return
    try:
        if data:
            await process.stdin.send(data)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass  # The agent exited (or closed stdin) without reading it all.
    finally:
        try:
            await process.stdin.aclose()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass


async def run_agent_process(
    argv: list[str], *, cwd: Path, environment: Mapping[str, str], stdin: bytes | None
) -> Finished:
    """Run `argv` in `cwd` in its own process group; the group is killed when this returns or is cancelled."""
    process = await anyio.open_process(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=dict(environment),
        start_new_session=True,
    )
    out, err = bytearray(), bytearray()
    try:
        async with anyio.create_task_group() as readers:
            readers.start_soon(_read, process.stdout, out)
            readers.start_soon(_read, process.stderr, err)
            await _feed(process, stdin)
            await process.wait()
            kill_group(process.pid)  # Helpers still holding the pipes open: the readers then end.
    finally:
        kill_group(process.pid)
        with anyio.CancelScope(shield=True), anyio.move_on_after(REAP_TIMEOUT_S):
            await process.wait()
        with anyio.CancelScope(shield=True):
            await process.aclose()
    text = (bytes(out).decode("utf-8", "replace"), bytes(err).decode("utf-8", "replace"))
    return Finished(process.returncode, *text)
