"""The validation sandbox: a command run on a throwaway copy of the workspace with one file changed.

`run_validate_command` copies the workspace (without `.git`, `node_modules`, `.venv`,
`__pycache__`) to a temporary folder, writes the changed file there, and runs the command in its
own session with the scrubbed environment of `privacy.child_environment`, under a deadline; the
command and everything it started are killed at the deadline or on cancellation, and the copy is
removed. The user's files are never touched. Imports only `orchestration.privacy.gate`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import anyio
from anyio.abc import Process

from orchestration.privacy.gate import child_environment

OUTPUT_TAIL_LINES = 25
OUTPUT_TAIL_CHARS = 2000
SKIPPED_IN_COPY = shutil.ignore_patterns(".git", "node_modules", ".venv", "__pycache__")


def _output_tail(log_path: Path) -> str:
    text = log_path.read_bytes().decode("utf-8", "replace").strip()
    return "\n".join(text.splitlines()[-OUTPUT_TAIL_LINES:])[-OUTPUT_TAIL_CHARS:]


def _copy_workspace(workspace: Path, copy: Path, relative_path: str, new_text: str) -> None:
    shutil.copytree(workspace, copy, ignore=SKIPPED_IN_COPY, symlinks=True)
    target = (copy / relative_path).resolve()
    if not target.is_relative_to(copy.resolve()):
        raise ValueError(f"{relative_path} is outside the workspace")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(new_text.encode("utf-8"))


def _kill_process_group(process: Process) -> None:
    """Kill the command and everything it started (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        elif process.returncode is None:
            process.kill()


async def _run_logged(argv: list[str], cwd: Path, log_path: Path, seconds: float) -> tuple[bool, str]:
    log = await anyio.to_thread.run_sync(functools.partial(log_path.open, "wb"))
    try:
        process = await anyio.open_process(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_environment(),
        )
    except OSError as error:
        log.close()
        return False, f"cannot run {argv[0]}: {error.strerror or error}"
    try:
        with anyio.fail_after(seconds):
            returncode = await process.wait()
    except TimeoutError:
        return False, f"timed out after {seconds:g} s"
    finally:
        _kill_process_group(process)
        with anyio.CancelScope(shield=True):
            await process.wait()
            log.close()
    tail = await anyio.to_thread.run_sync(_output_tail, log_path)
    return returncode == 0, tail or f"exit code {returncode}"


async def run_validate_command(
    command: str,
    workspace: Path,
    relative_path: str,
    new_text: str,
    timeout: float,  # noqa: ASYNC109
) -> tuple[bool, str]:
    """Run `command` in a temporary copy of the workspace with `new_text` at `relative_path`.

    Returns whether it passed and a short tail of its output. The copy skips `.git`,
    `node_modules`, `.venv` and `__pycache__`. The command gets the scrubbed environment of
    `privacy.child_environment` (no keys or tokens of the user's). After `timeout` seconds, or
    on cancellation, the command and its children are killed.
    """
    try:
        argv = shlex.split(command)
    except ValueError as error:
        return False, f"cannot parse validate_command: {error}"
    if not argv:
        return False, "validate_command is empty"
    scratch = Path(await anyio.to_thread.run_sync(tempfile.mkdtemp, None, "chorus-validate-"))
    try:
        copy = scratch / "workspace"
        await anyio.to_thread.run_sync(_copy_workspace, workspace, copy, relative_path, new_text)
        return await _run_logged(argv, copy, scratch / "output.log", timeout)
    except (OSError, ValueError) as error:
        return False, f"cannot prepare the workspace copy: {error}"
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, scratch, ignore_errors=True))


def relative_document_path(document_path: str, workspace: Path) -> str | None:
    """The document's path relative to the workspace (paths or file:// URIs); None when outside."""
    path = Path(unquote(urlparse(document_path).path) if document_path.startswith("file:") else document_path)
    if not path.is_absolute():
        return None if ".." in path.parts else path.as_posix()
    try:
        return path.resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:
        return None
