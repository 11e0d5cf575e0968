"""The store under faults: concurrent processes, kill -9, read-only and full disks, PostgreSQL down.

Every fault is real: separate OS processes on one SQLite file, SIGKILL, a tmpfs remounted read-only
or filled up (as root; as another user, chmod), a PostgreSQL server stopped and started again.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.memory.records import AuditRecord, RunEnd, RunStart, SeatCall
from orchestration.memory.settings import StoreConfig
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from tests.postgres import SKIP_REASON, PostgresServer, find_bindir

REPO_ROOT = Path(__file__).resolve().parent.parent
CHILD_PRELUDE = """
import json, os, sys, time
from pathlib import Path
from orchestration.memory.records import *
from orchestration.memory.settings import StoreConfig
from orchestration.memory.writer import StoreWriter
config = StoreConfig(path=Path(sys.argv[1]), keep_code=True)
"""


def _child(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(script), *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


WRITE_RUNS = """
writer = StoreWriter(config)
started = time.perf_counter()
for i in range(int(sys.argv[2])):
    run = RunStart(task="review", workspace=f"/ws/{os.getpid()}", seats=("a", "b", "c"))
    writer.submit(run)
    for seat in ("a", "b", "c"):
        writer.submit(SeatCall(run_id=run.run_id, seat=seat, model=f"m/{seat}", status="ok", latency_ms=i))
    writer.submit(FindingRecord(f"{run.run_id}-f", run.run_id, 1, 2, 2, 3, "warning", "bug", "msg"))
    writer.submit(RunEnd(run_id=run.run_id, outcome="ok"))
    writer.submit(FeedbackEvent(finding_id=f"{run.run_id}-f", verdict="useful"))
writer.close(timeout=120)
print(json.dumps({"written": writer.written, "dropped": writer.dropped, "s": time.perf_counter() - started}))
"""


def test_three_processes_write_one_sqlite_store_without_losing_a_row(tmp_path: Path) -> None:
    database, runs_each = tmp_path / "chorus.db", 200
    started = time.perf_counter()
    children = [
        _child(WRITE_RUNS, str(database), str(runs_each)) for _ in range(3)
    ]  # a fresh store: 3 migrate at once
    reports = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        reports.append(json.loads(out))
    wall = time.perf_counter() - started
    print(
        f"\n3 processes x {runs_each * 7} records: {wall:.2f} s wall, "
        f"{3 * runs_each * 7 / wall:.0f} records/s"
    )
    assert [(r["written"], r["dropped"]) for r in reports] == [(runs_each * 7, 0)] * 3
    assert _integrity(database) == "ok"
    counts = {table: _count(database, table) for table in ("runs", "seat_calls", "findings", "feedback")}
    assert counts == {"runs": 600, "seat_calls": 1800, "findings": 600, "feedback": 600}
    with sqlite3.connect(database) as connection:
        assert connection.execute(
            "SELECT count(DISTINCT workspace), min(outcome), max(outcome) FROM runs"
        ).fetchone() == (3, "ok", "ok")


def test_kill_9_mid_run_leaves_a_sound_store_and_the_run_interrupted(tmp_path: Path) -> None:
    database = tmp_path / "chorus.db"
    child = _child(
        """
        writer = StoreWriter(config)
        run = RunStart(task="review", code="x = 1\\n" * 500)
        writer.submit(run)
        writer.flush()
        print(run.run_id, flush=True)
        i = 0
        while True:
            writer.submit(SeatCall(run_id=run.run_id, seat="a", model="m", status="ok", latency_ms=i))
            i += 1
            if i % 200 == 0:
                writer.flush()
        """,
        str(database),
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert run_id, child.stderr.read() if child.stderr else ""
    time.sleep(0.8)  # let it commit batches, then kill it inside one
    with Store.open(StoreConfig(path=database)) as other_face:  # the CLI opening while the server runs
        assert [summary.outcome for summary in other_face.history()] == ["running"]  # its process lives
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert _integrity(database) == "ok"
    with Store.open(StoreConfig(path=database, keep_code=True)) as store:
        detail = store.show(run_id)
        assert detail is not None and detail.run.outcome == "interrupted" and detail.run.ended_at is not None
        assert len(detail.seats) > 0 and detail.code == "x = 1\n" * 500
    assert _integrity(database) == "ok"


def _mount_tmpfs(directory: Path, size: str) -> bool:
    directory.mkdir()
    if os.geteuid() != 0:
        return False
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(directory)], check=False
    )
    return mounted.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on a 400 kB tmpfs of its own (root only), unmounted afterwards."""
    directory = tmp_path / "disk"
    if not _mount_tmpfs(directory, "400k"):
        pytest.skip("a real full or read-only disk needs root and mount (tmpfs)")
    yield directory
    subprocess.run(["umount", "-l", str(directory)], check=False)


def _writer_keeps_working(config: StoreConfig, caplog: pytest.LogCaptureFixture) -> StoreWriter:
    warnings: list[str] = []
    writer = StoreWriter(config, on_warning=warnings.append)
    started = time.perf_counter()
    for _ in range(100):
        run = RunStart(task="review")
        writer.submit(run)
        writer.submit(RunEnd(run_id=run.run_id, outcome="ok"))
    assert time.perf_counter() - started < 0.5
    assert writer.flush(60)
    writer.close()
    assert len(warnings) == 1 and writer.dropped > 0
    assert len([r for r in caplog.records if r.name == "chorus.store" and r.levelno == logging.WARNING]) == 1
    return writer


def test_a_read_only_store_warns_once_and_the_caller_keeps_working(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "ro"
    mounted = _mount_tmpfs(directory, "4m")
    config = StoreConfig(path=directory / "chorus.db")
    with Store.open(config) as store:
        store.begin_run(RunStart(task="review", run_id="committed0000000"))
        store.finish_run(RunEnd(run_id="committed0000000", outcome="ok"))
    try:
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        elif os.geteuid() != 0:
            config.path.chmod(0o444)
            directory.chmod(0o555)
        else:
            pytest.skip("as root without mount, nothing is read-only")
        writer = _writer_keeps_working(config, caplog)
        assert writer.written == 0
        assert "read" in (writer.last_error or "").lower() or "open" in (writer.last_error or "").lower()
    finally:
        if mounted:
            subprocess.run(["mount", "-o", "remount,rw", str(directory)], check=False)
        directory.chmod(0o700)
        config.path.chmod(0o600)
    assert _integrity(config.path) == "ok" and _count(config.path, "runs") == 1
    if mounted:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def test_a_full_disk_warns_once_and_keeps_what_was_committed(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = StoreConfig(path=small_disk / "chorus.db")
    warnings: list[str] = []
    writer = StoreWriter(config, on_warning=warnings.append, max_batch=20)
    notice = "the panel could not agree on this part of the file " * 100
    for _ in range(400):
        writer.submit(RunStart(task="review", notice=notice))
    assert writer.flush(120)
    writer.close()
    assert writer.written > 0 and writer.dropped > 0 and len(warnings) == 1
    assert "full" in warnings[0]
    assert _integrity(config.path) == "ok"
    assert _count(config.path, "runs") == writer.written


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    server = PostgresServer.start(bindir)
    yield server
    server.destroy()


def test_postgres_stopped_mid_run_the_caller_keeps_working_and_commits_survive(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    config = StoreConfig(url=postgres.create_database(), path=tmp_path / "chorus.db")
    warnings: list[str] = []
    writer = StoreWriter(config, on_warning=warnings.append, reopen_after_s=0.2)
    before = RunStart(task="review", seats=("a",))
    for record in (before, SeatCall(run_id=before.run_id, seat="a", model="m", status="ok")):
        writer.submit(record)
    assert writer.flush(30) and writer.written == 2
    postgres.stop("immediate")
    during = RunStart(task="review")
    started = time.perf_counter()
    assert writer.submit(during) and writer.submit(RunEnd(run_id=during.run_id, outcome="ok"))
    assert time.perf_counter() - started < 0.05
    assert writer.flush(30) and writer.dropped == 2 and len(warnings) == 1
    postgres.start_again()
    after = RunStart(task="review")
    writer.submit(after)
    writer.submit(AuditRecord(seat="a", model="m", endpoint="https://api.example.com/v1", outcome="ok"))
    assert writer.flush(30) and writer.written == 4
    writer.close()
    postgres.stop("immediate")  # a crash right after: committed rows are in the WAL
    postgres.start_again()
    with Store.open(config) as store:
        assert {summary.run_id for summary in store.history()} == {before.run_id, after.run_id}
        detail = store.show(before.run_id)
        assert detail is not None and [seat.seat for seat in detail.seats] == ["a"]


def test_no_key_reaches_the_sqlite_file(tmp_path: Path) -> None:
    canary = "sk-test-CANARYcanary0123456789abcdef"
    database = tmp_path / "store" / "chorus.db"
    child = _child(
        """
        key = os.environ["OPENAI_API_KEY"]
        writer = StoreWriter(config)
        run = RunStart(task="review", notice=f"env key {key}", code=f"API_KEY = '{key}'\\n")
        writer.submit(run)
        error = f"AuthenticationError: Incorrect API key provided: {key}. See https://x/?key={key}"
        writer.submit(SeatCall(run_id=run.run_id, seat="a", model="m", status="error", error_class=error,
                               findings=(SeatFinding(1, 1, "error", "security", f"key {key}"),)))
        writer.submit(FindingRecord("f1", run.run_id, 1, 1, 1, 1, "error", "security", f"leaks {key}",
                                    fix=key))
        writer.submit(ConflictRecord(run_id=run.run_id, kind="missing", detail=f"{key}"))
        writer.submit(Suppression(fingerprint="fp", cluster_key=f"{key}"))
        writer.submit(CacheEntry(key="k", model="m", answer=f"answer with {key}"))
        writer.submit(AuditRecord(seat="a", model="m", endpoint=f"https://{key}@api.x.com/?k={key}",
                                  outcome=error))
        writer.submit(RunEnd(run_id=run.run_id, outcome="failed", notice=error))
        writer.close()
        print(writer.written, writer.dropped)
        """,
        str(database),
        env={"OPENAI_API_KEY": canary, "CHORUS_STORE_KEY": ""},
    )
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.split() == ["8", "0"]
    files = [path for path in database.parent.iterdir() if path.is_file()]
    assert database in files
    for path in files:
        data = path.read_bytes()
        assert canary.encode() not in data and canary[8:].encode() not in data, path.name
    assert b"<redacted:" in database.read_bytes()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
