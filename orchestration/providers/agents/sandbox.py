"""The throwaway copy of a workspace an agent seat runs in: it may read it, and nothing it does stays.

`workspace_copy(workspace, seat, exclude)` copies the files an agent may read into a private
folder (mode 0700) and removes it afterwards, whatever happened. In a git repository these are
the files git knows or would add (`git ls-files --cached --others --exclude-standard`: tracked
and untracked, never ignored ones); elsewhere every regular file outside version-control and
dependency folders. Files matching the exclude globs (`policy.exclude` with the built-in ones:
`.env`, keys, `secrets/`) are left out, so are symlinks (they could lead out of the workspace)
and files over `MAX_FILE_BYTES`; the copy stops at `MAX_FILES` files or `MAX_TOTAL_BYTES`.

The folder's path is the same for each workspace and seat (claude finds the session it resumes by
its working directory: `claude --resume ID` elsewhere says "No conversation found"), so calls of
one seat in one workspace take turns: within a process on an `anyio.Lock`, across processes (two
editors, the CLI) on an advisory `flock` of a lock file beside the copy, polled so that waiting
stays cancellable. The copy is refreshed for each call.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio
from anyio.lowlevel import RunVar

from orchestration.privacy.gate import matching_pattern

LOCK_POLL_S: Final = 0.1
MAX_FILES: Final = 20_000
MAX_FILE_BYTES: Final = 5_000_000
MAX_TOTAL_BYTES: Final = 300_000_000
SKIPPED_FOLDERS: Final = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".tox", ".idea"}
)
"""Folders never copied from a workspace that is not a git repository."""

_locks: RunVar[dict[Path, anyio.Lock]] = RunVar("chorus_agent_copies")


@dataclass(frozen=True, slots=True)
class CopiedWorkspace:
    """The copy an agent runs in: its folder, and how many files and bytes of the workspace it holds."""

    path: Path
    files: int
    bytes: int


def copies_root() -> Path:
    """The private folder holding the copies (`$TMPDIR/chorus-agents-<uid>`, mode 0700)."""
    root = Path(tempfile.gettempdir()) / f"chorus-agents-{os.getuid() if hasattr(os, 'getuid') else 0}"
    root.mkdir(mode=0o700, exist_ok=True)
    os.chmod(root, 0o700)
    return root


def copy_folder(workspace: Path, seat: str) -> Path:
    """The copy's folder for this workspace and seat (stable, so agents can resume their sessions)."""
    digest = hashlib.sha256(str(workspace.resolve()).encode("utf-8")).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in seat)[:40] or "seat"
    return copies_root() / f"{safe}-{digest}" / workspace.resolve().name


def _git_files(workspace: Path) -> list[str] | None:
    """The files git knows or would add in `workspace` (relative), or None when it is no repository."""
    if not (workspace / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        listed = subprocess.run(
            ["git", "-C", str(workspace), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            timeout=30,
            check=True,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return [name for name in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if name]


def _walked_files(workspace: Path) -> Iterator[str]:
    for folder, folders, files in os.walk(workspace):
        folders[:] = sorted(name for name in folders if name not in SKIPPED_FOLDERS)
        base = Path(folder)
        for name in sorted(files):
            yield (base / name).relative_to(workspace).as_posix()


def fill_copy(workspace: Path, target: Path, exclude: Sequence[str]) -> CopiedWorkspace:
    """Copy the files an agent may read from `workspace` into `target` (blocking: run in a thread)."""
    names = _git_files(workspace)
    candidates: Iterator[str] | list[str] = names if names is not None else _walked_files(workspace)
    files = total = 0
    for name in candidates:
        if files >= MAX_FILES or total >= MAX_TOTAL_BYTES:
            break
        source = workspace / name
        if matching_pattern(name, exclude, workspace) is not None:
            continue
        try:
            if source.is_symlink() or not source.is_file():
                continue
            size = source.stat().st_size
            if size > MAX_FILE_BYTES:
                continue
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        except OSError:
            continue
        files += 1
        total += size
    return CopiedWorkspace(target, files, total)


def _remove(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)


def _lock_for(path: Path) -> anyio.Lock:
    try:
        locks = _locks.get()
    except LookupError:
        locks = {}
        _locks.set(locks)
    return locks.setdefault(path, anyio.Lock())


@asynccontextmanager
async def _process_lock(path: Path) -> AsyncIterator[None]:
    """Hold `path`'s advisory lock (another process's agent on the same copy makes this wait)."""
    try:
        import fcntl
    except ImportError:  # Not on POSIX: the in-process lock is all there is.
        yield
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await anyio.sleep(LOCK_POLL_S)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


@asynccontextmanager
async def workspace_copy(
    workspace: Path, seat: str, exclude: Sequence[str]
) -> AsyncIterator[CopiedWorkspace]:
    """A fresh copy of `workspace` for `seat`'s agent, removed when the block ends (even on cancel)."""
    target = copy_folder(workspace, seat)
    target.parent.mkdir(mode=0o700, exist_ok=True)
    async with _lock_for(target), _process_lock(target.parent.with_name(target.parent.name + ".lock")):
        try:
            await anyio.to_thread.run_sync(_remove, target)
            target.mkdir(parents=True, mode=0o700)
            copied = await anyio.to_thread.run_sync(fill_copy, workspace, target, tuple(exclude))
            yield copied
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_remove, target)
