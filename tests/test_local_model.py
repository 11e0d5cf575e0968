"""Assembly of the local model from its parts: order, hashes, atomicity, the verified-sidecar cache.

Small stand-in parts made in tmp_path play the 22 wheels; one test checks the real installed parts
(sizes only) when the `local` extra is present.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from orchestration.providers.local_model import (
    MODEL_SIZE,
    ModelIntegrityError,
    assemble_model,
    ensure_model_file,
    local_extra_installed,
    part_paths,
    sidecar_path,
    stderr_progress,
)
from orchestration.types.errors import ChorusError

PART_CONTENTS = [b"GGUF-head:" + bytes(range(256)) * 3, b"middle-" * 500, b"tail\x00\xff" * 77]
JOINED = b"".join(PART_CONTENTS)
JOINED_SHA256 = hashlib.sha256(JOINED).hexdigest()


@pytest.fixture
def parts(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "parts"
    folder.mkdir()
    paths = []
    for index, content in enumerate(PART_CONTENTS, start=1):
        path = folder / f"part{index:02d}.bin"
        path.write_bytes(content)
        paths.append(path)
    return paths


@pytest.fixture
def destination(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "models" / "model.gguf"


def leftovers(folder: Path) -> list[str]:
    """Temporary files an assembly may have left in `folder`."""
    return sorted(path.name for path in folder.glob("*.partial"))


def test_parts_are_joined_in_order_and_verified(parts: list[Path], destination: Path) -> None:
    reports: list[tuple[int, int]] = []
    path = assemble_model(
        parts, destination, sha256=JOINED_SHA256, size=len(JOINED), progress=lambda *a: reports.append(a)
    )
    assert path == destination
    assert destination.read_bytes() == JOINED
    assert reports[-1] == (len(JOINED), len(JOINED))
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)
    record = json.loads(sidecar_path(destination).read_text())
    assert record == {
        "size": len(JOINED),
        "mtime_ns": destination.stat().st_mtime_ns,
        "sha256": JOINED_SHA256,
    }
    assert leftovers(destination.parent) == []


def test_parts_in_the_wrong_order_fail_the_hash_and_leave_nothing(
    parts: list[Path], destination: Path
) -> None:
    with pytest.raises(ModelIntegrityError, match="corrupt"):
        assemble_model(list(reversed(parts)), destination, sha256=JOINED_SHA256, size=len(JOINED))
    assert not destination.exists()
    assert not sidecar_path(destination).exists()
    assert leftovers(destination.parent) == []


def test_wrong_expected_hash_is_an_error_and_no_file_is_left(parts: list[Path], destination: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="sha256"):
        assemble_model(parts, destination, sha256="0" * 64, size=len(JOINED))
    assert not destination.exists()
    assert leftovers(destination.parent) == []


def test_parts_of_the_wrong_total_size_are_refused_before_writing(
    parts: list[Path], destination: Path
) -> None:
    with pytest.raises(
        ModelIntegrityError, match=f"add up to {len(JOINED)} bytes, expected {len(JOINED) + 1}"
    ):
        assemble_model(parts, destination, sha256=JOINED_SHA256, size=len(JOINED) + 1)
    assert not destination.exists()


def test_an_interrupted_write_leaves_no_file_and_is_rebuilt(parts: list[Path], destination: Path) -> None:
    calls = 0

    def interrupt(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ensure_model_file(
            interrupt, destination=destination, parts=parts, sha256=JOINED_SHA256, size=len(JOINED)
        )
    assert not destination.exists()
    assert leftovers(destination.parent) == []
    path = ensure_model_file(destination=destination, parts=parts, sha256=JOINED_SHA256, size=len(JOINED))
    assert path.read_bytes() == JOINED


def test_a_partial_file_at_the_destination_is_rebuilt(parts: list[Path], destination: Path) -> None:
    destination.parent.mkdir(parents=True)
    destination.write_bytes(JOINED[:100])
    path = ensure_model_file(destination=destination, parts=parts, sha256=JOINED_SHA256, size=len(JOINED))
    assert path.read_bytes() == JOINED
    assert sidecar_path(destination).is_file()


def test_a_verified_file_is_reused_without_rehashing(parts: list[Path], destination: Path) -> None:
    ensure_model_file(destination=destination, parts=parts, sha256=JOINED_SHA256, size=len(JOINED))
    stat = destination.stat()
    # Same size and mtime but different bytes: only a re-hash could notice, and none must happen.
    destination.write_bytes(b"X" * len(JOINED))
    os.utime(destination, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    reports: list[tuple[int, int]] = []
    path = ensure_model_file(
        lambda *a: reports.append(a),
        destination=destination,
        parts=[],
        sha256=JOINED_SHA256,
        size=len(JOINED),
    )
    assert path == destination
    assert reports == []
    assert destination.read_bytes() == b"X" * len(JOINED)


def test_a_modified_file_is_rehashed_and_rebuilt(parts: list[Path], destination: Path) -> None:
    ensure_model_file(destination=destination, parts=parts, sha256=JOINED_SHA256, size=len(JOINED))
    destination.write_bytes(b"X" * len(JOINED))
    os.utime(destination, ns=(time.time_ns(), destination.stat().st_mtime_ns + 5_000_000_000))
    path = ensure_model_file(destination=destination, parts=parts, sha256=JOINED_SHA256, size=len(JOINED))
    assert path.read_bytes() == JOINED
    assert json.loads(sidecar_path(destination).read_text())["mtime_ns"] == destination.stat().st_mtime_ns


def test_a_touched_but_intact_file_is_rehashed_and_kept(parts: list[Path], destination: Path) -> None:
    ensure_model_file(destination=destination, parts=parts, sha256=JOINED_SHA256, size=len(JOINED))
    inode = destination.stat().st_ino
    os.utime(destination, ns=(time.time_ns(), destination.stat().st_mtime_ns + 5_000_000_000))
    reports: list[tuple[int, int]] = []
    ensure_model_file(
        lambda *a: reports.append(a),
        destination=destination,
        parts=[],
        sha256=JOINED_SHA256,
        size=len(JOINED),
    )
    assert reports and reports[-1] == (len(JOINED), len(JOINED))  # It was hashed again...
    assert destination.stat().st_ino == inode  # ...but not rewritten.
    assert json.loads(sidecar_path(destination).read_text())["mtime_ns"] == destination.stat().st_mtime_ns


def test_a_corrupt_sidecar_does_not_vouch_for_the_file(parts: list[Path], destination: Path) -> None:
    ensure_model_file(destination=destination, parts=parts, sha256=JOINED_SHA256, size=len(JOINED))
    stat = destination.stat()
    destination.write_bytes(b"X" * len(JOINED))
    os.utime(destination, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    sidecar_path(destination).write_text("{not json")
    path = ensure_model_file(destination=destination, parts=parts, sha256=JOINED_SHA256, size=len(JOINED))
    assert path.read_bytes() == JOINED


def test_stale_temporaries_from_killed_assemblies_are_removed(parts: list[Path], destination: Path) -> None:
    destination.parent.mkdir(parents=True)
    stale = destination.parent / f".{destination.name}.abc123.partial"
    stale.write_bytes(b"half a model")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    ensure_model_file(destination=destination, parts=parts, sha256=JOINED_SHA256, size=len(JOINED))
    assert not stale.exists()


def write_fake_part(root: Path, module: str, data: Path | None) -> None:
    package = root / module
    package.mkdir()
    target = repr(str(data)) if data is not None else repr(str(root / "nowhere.bin"))
    (package / "__init__.py").write_text(f"def get_part_path():\n    return {target}\n")


def test_part_paths_names_the_missing_part(
    tmp_path: Path, parts: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    write_fake_part(tmp_path, "chorus_fake_part_a", parts[0])
    write_fake_part(tmp_path, "chorus_fake_part_c", parts[2])
    assert part_paths(["chorus_fake_part_a", "chorus_fake_part_c"]) == [parts[0], parts[2]]
    with pytest.raises(ChorusError, match=r"part 2 of 3 \(package chorus-fake-part-b\) is not installed"):
        part_paths(["chorus_fake_part_a", "chorus_fake_part_b", "chorus_fake_part_c"])


def test_part_paths_names_a_part_without_its_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    write_fake_part(tmp_path, "chorus_fake_part_empty", None)
    with pytest.raises(
        ChorusError, match=r"part 1 of 1 \(package chorus-fake-part-empty\) lacks its data file"
    ):
        part_paths(["chorus_fake_part_empty"])


@pytest.mark.skipif(not local_extra_installed(), reason="the 'local' extra is not installed")
def test_installed_parts_add_up_to_the_model_size() -> None:
    paths = part_paths()
    assert len(paths) == 22
    assert [path.name for path in paths] == [f"part{index:02d}.bin" for index in range(1, 23)]
    assert sum(path.stat().st_size for path in paths) == MODEL_SIZE


def test_progress_bar_writes_to_stderr_only(capfd: pytest.CaptureFixture[str]) -> None:
    with stderr_progress("Assembling") as report:
        report(0, 100)
        report(100, 100)
    captured = capfd.readouterr()
    assert captured.out == ""


def test_unused_progress_bar_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    with stderr_progress("Assembling"):
        pass
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
