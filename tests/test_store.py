"""The memory's store: one suite, run on SQLite and on a real PostgreSQL server (tests/postgres.py)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from orchestration.memory import schema
from orchestration.memory.engine import create_store_engine, head_revision, migrate
from orchestration.memory.errors import StoreError, StoreTooNewError
from orchestration.memory.records import (
    AuditRecord,
    CacheEntry,
    ConflictRecord,
    FeedbackEvent,
    FindingRecord,
    RunEnd,
    RunStart,
    SeatCall,
    SeatFinding,
    Suppression,
    code_fingerprint,
    content_hash,
    stable_finding_id,
)
from orchestration.memory.settings import StoreConfig
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.privacy.gate import register_secret
from tests.postgres import SKIP_REASON, PostgresServer, find_bindir

DAY = 86400.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    server = PostgresServer.start(bindir)
    yield server
    server.destroy()


@pytest.fixture(params=["sqlite", "postgresql"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> StoreConfig:
    """A fresh, empty store's config on each backend."""
    if request.param == "sqlite":
        return StoreConfig(path=tmp_path / "store" / "chorus.db")
    server: PostgresServer = request.getfixturevalue("postgres")
    return StoreConfig(url=server.create_database(), path=tmp_path / "pg-keys" / "chorus.db")


@pytest.fixture
def store(config: StoreConfig) -> Iterator[Store]:
    with Store.open(config) as opened:
        yield opened


def _run(store: Store, **overrides: object) -> RunStart:
    values: dict[str, object] = {
        "task": "review", "workspace": "/ws", "path": "src/app.py", "start_line": 1, "end_line": 40,
        "content_hash": content_hash("print(1)\n"), "config_hash": "c" * 64, "prompt_version": "review-3",
        "seats": ("alpha", "beta"),
    } | overrides  # fmt: skip
    run = RunStart(**values)  # type: ignore[arg-type]
    assert store.begin_run(run) == run.run_id
    return run


def _finding(run: RunStart, line: int, cluster: str = "null-check") -> FindingRecord:
    fingerprint = code_fingerprint([f"line {line}"], cluster)
    return FindingRecord(
        finding_id=stable_finding_id(run.run_id, fingerprint), run_id=run.run_id, start_line=line,
        end_line=line + 1, votes=2, panel_size=3, severity="warning", category="bug",
        message=f"possible None at {line}", models=("alpha", "beta"), fingerprint=fingerprint, fix="x = 1",
    )  # fmt: skip


def test_a_run_round_trips_with_seats_findings_conflicts_and_feedback(store: Store) -> None:
    run = _run(store)
    opinion = SeatFinding(start_line=3, end_line=4, severity="error", category="bug", message="boom")
    store.record_seat(
        SeatCall(
            run_id=run.run_id, seat="alpha", model="openai/gpt-x", status="ok", latency_ms=812,
            tokens_in=1200, tokens_out=300, cost_usd=0.0042, answer_hash="a" * 64, findings=(opinion,),
        )
    )  # fmt: skip
    store.record_seat(SeatCall(run_id=run.run_id, seat="beta", model="local/qwen", status="timeout"))
    first, second = _finding(run, 3), _finding(run, 9, "leak")
    conflict = ConflictRecord(
        run_id=run.run_id, kind="severity_split", finding_id=first.finding_id, models_for=("alpha",),
        models_against=("beta",), detail="error vs warning",
    )  # fmt: skip
    store.record_findings([first, second], [conflict])
    store.finish_run(RunEnd(run_id=run.run_id, outcome="partial", notice="beta timed out"))
    store.record_feedback(FeedbackEvent(finding_id=first.finding_id, verdict="accept"))
    store.record_feedback(FeedbackEvent(finding_id=second.finding_id, verdict="dismiss", user="bob"))

    detail = store.show(run.run_id[:6])
    assert detail is not None
    assert detail.run.outcome == "partial" and detail.run.notice == "beta timed out"
    assert detail.run.seats == ("alpha", "beta") and detail.run.user == store.user
    assert detail.run.prompt_version == "review-3" and detail.run.path == "src/app.py"
    assert [(seat.seat, seat.status) for seat in detail.seats] == [("alpha", "ok"), ("beta", "timeout")]
    assert detail.seats[0].findings == (opinion,) and detail.seats[0].cost_usd == pytest.approx(0.0042)
    assert [f.finding_id for f in detail.findings] == [first.finding_id, second.finding_id]
    assert detail.findings[0].models == ("alpha", "beta") and detail.findings[0].fix is None  # keep_code off
    assert detail.conflicts == (conflict,)
    assert [(e.verdict, e.user) for e in detail.feedback] == [("accept", store.user), ("dismiss", "bob")]
    assert detail.code is None
    assert store.show("no-such-run") is None


def test_history_is_newest_first_limited_and_filtered(store: Store) -> None:
    runs = [_run(store, started_at=1000.0 + i, workspace=f"/ws{i % 2}") for i in range(5)]
    newest = store.history(limit=3)
    assert [summary.run_id for summary in newest] == [run.run_id for run in reversed(runs)][:3]
    assert {summary.workspace for summary in store.history(workspace="/ws1")} == {"/ws1"}
    assert store.history(user="somebody-else") == []


def test_unfinished_runs_of_gone_processes_are_marked_interrupted(store: Store) -> None:
    stale = _run(store, started_at=time.time() - 2 * DAY)
    live = _run(store)
    assert store.mark_interrupted() == 1
    outcomes = {summary.run_id: summary.outcome for summary in store.history()}
    assert outcomes == {stale.run_id: "interrupted", live.run_id: "running"}


def test_suppressions_are_personal_unless_shared(store: Store) -> None:
    mine, team = code_fingerprint(["a = b"], "k1"), code_fingerprint(["c = d"], "k2")
    store.add_suppression(Suppression(fingerprint=mine, cluster_key="k1"))
    store.add_suppression(Suppression(fingerprint=mine, cluster_key="k1"))  # again: one row
    store.add_suppression(Suppression(fingerprint=team, cluster_key="k2", user="carol", shared=True))
    assert store.is_suppressed(mine) and store.is_suppressed(team)
    assert not store.is_suppressed(mine, user="dave") and store.is_suppressed(team, user="dave")
    assert not store.is_suppressed(code_fingerprint(["a = b  # changed"], "k1"))
    assert sorted(s.cluster_key for s in store.suppressions()) == ["k1", "k2"]
    store.clear_suppressions()
    assert not store.is_suppressed(mine) and store.is_suppressed(team)


def test_fingerprints_ignore_whitespace_and_position_but_not_code() -> None:
    assert code_fingerprint(["  x =  1", "", "y=2"], "k") == code_fingerprint(["x = 1", "y=2  "], "k")
    assert code_fingerprint(["x = 1"], "k") != code_fingerprint(["x = 2"], "k")
    assert code_fingerprint(["x = 1"], "k") != code_fingerprint(["x = 1"], "other")


def test_cache_entries_expire_are_replaced_and_are_sealed(store: Store, config: StoreConfig) -> None:
    store.cache_put(
        CacheEntry(key="k" * 64, model="openai/gpt-x", answer="PLAINANSWER-1", ttl_s=60, created_at=1000)
    )
    assert store.cache_get("k" * 64, now=1030) == "PLAINANSWER-1"
    assert store.cache_get("k" * 64, now=1061) is None
    store.cache_put(
        CacheEntry(key="k" * 64, model="openai/gpt-x", answer="PLAINANSWER-2", ttl_s=60, created_at=1100)
    )
    assert store.cache_get("k" * 64, now=1130) == "PLAINANSWER-2"
    assert store.cache_get("missing", now=1130) is None
    with store.engine.connect() as connection:
        sealed = connection.execute(select(schema.cache_entries.c.answer)).scalar_one()
    assert b"PLAINANSWER" not in bytes(sealed)
    assert stat.S_IMODE(store.cipher.key_file.stat().st_mode) == 0o600


def test_code_is_kept_only_when_asked_and_then_only_encrypted(
    config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(config) as plain:
        run = _run(plain, code="SECRETCODE = compute()\n")
        plain.record_findings([_finding(run, 1)])
        with plain.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(schema.code_blobs)).scalar_one() == 0
    monkeypatch.setenv("CHORUS_STORE_KEY", "11" * 32)
    with Store.open(config.model_copy(update={"keep_code": True})) as keeping:
        run = _run(keeping, code="SECRETCODE = compute()\n")
        keeping.record_findings([_finding(run, 1)])
        detail = keeping.show(run.run_id)
        assert detail is not None and detail.code == "SECRETCODE = compute()\n"
        assert detail.findings[0].fix == "x = 1"
        with keeping.engine.connect() as connection:
            sealed = connection.execute(select(schema.code_blobs.c.sealed)).scalars().all()
        assert len(sealed) == 2 and all(b"SECRETCODE" not in bytes(blob) for blob in sealed)
    monkeypatch.setenv("CHORUS_STORE_KEY", "22" * 32)
    with Store.open(config) as other_key:
        detail = other_key.show(run.run_id)
        assert detail is not None and detail.code is None  # another key opens nothing
    monkeypatch.setenv("CHORUS_STORE_KEY", "too-short")
    with Store.open(config) as bad_key, pytest.raises(StoreError, match="CHORUS_STORE_KEY must be 32 bytes"):
        bad_key.cache_put(CacheEntry(key="x", model="m", answer="a"))


def test_audit_keeps_only_the_endpoint_host(store: Store) -> None:
    store.record_audit(
        AuditRecord(
            seat="alpha", model="openai/gpt-x", endpoint="https://user:hunter2pass@api.example.com:8443/v1?key=abc",
            outcome="ok", path="src/app.py", start_line=1, end_line=40, bytes_sent=5120, redactions=2,
        )
    )  # fmt: skip
    store.record_audit(AuditRecord(seat="beta", model="local/qwen", endpoint=None, outcome="error"))
    rows = store.export()["audit"]
    assert isinstance(rows, list)
    assert [row["endpoint_host"] for row in rows if isinstance(row, dict)] == ["api.example.com", None]
    assert "hunter2pass" not in json.dumps(rows) and "key=abc" not in json.dumps(rows)


def test_everything_written_is_scrubbed_of_secrets(store: Store) -> None:
    canary = "chorus-canary-7Hq2Lx9Pw4"  # no known key format: only registration can hide it
    register_secret(canary)
    run = _run(store, notice=f"used {canary}")
    store.record_seat(
        SeatCall(
            run_id=run.run_id, seat="alpha", model="openai/gpt-x", status="error",
            error_class=f"AuthenticationError: Incorrect API key provided: {canary}",
            findings=(SeatFinding(1, 1, "error", "security", f"hard-coded key {canary}"),),
        )
    )  # fmt: skip
    store.record_findings([dataclasses.replace(_finding(run, 2), message=f"key {canary} leaked")])
    store.finish_run(RunEnd(run_id=run.run_id, outcome="failed", notice=f"seat failed: {canary}"))
    dumped = json.dumps(store.export())
    assert canary not in dumped and "<redacted:" in dumped


def test_prune_removes_old_runs_with_their_rows_and_keeps_recent_ones(store: Store) -> None:
    now = 1_000_000_000.0
    old, recent = _run(store, started_at=now - 100 * DAY), _run(store, started_at=now - 10 * DAY)
    for run in (old, recent):
        store.record_seat(SeatCall(run_id=run.run_id, seat="alpha", model="m", status="ok"))
        store.record_findings([_finding(run, 1)])
    store.record_audit(AuditRecord(seat="alpha", model="m", endpoint="h", outcome="ok", at=now - 100 * DAY))
    store.record_feedback(FeedbackEvent(finding_id="f", verdict="useful", at=now - 100 * DAY))
    store.cache_put(CacheEntry(key="old", model="m", answer="a", ttl_s=10, created_at=now - 100))
    result = store.prune(now=now)
    assert (result.runs, result.audit, result.feedback, result.cache) == (1, 1, 1, 1)
    assert [summary.run_id for summary in store.history()] == [recent.run_id]
    exported = store.export()
    assert [len(exported[name]) for name in ("seat_calls", "findings", "audit", "feedback")] == [1, 1, 0, 0]  # type: ignore[arg-type]


def test_export_is_json_and_holds_no_code(store: Store) -> None:
    run = _run(store)
    store.record_findings([_finding(run, 1)])
    exported = store.export()
    assert exported["schema_revision"] == head_revision() and exported["run_count"] == 1
    text = json.dumps(exported)
    assert run.run_id in text and "x = 1" not in text


def test_migrations_create_exactly_the_schema_the_queries_use(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), schema.metadata)
    assert [
        d
        for d in differences
        if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == schema.VERSION_TABLE)
    ] == []


def test_an_older_store_is_upgraded_on_open(config: StoreConfig) -> None:
    engine = create_store_engine(config)
    assert migrate(engine, "test", target="0001") == "0001"
    with engine.begin() as connection:
        connection.execute(
            schema.runs.insert().values(
                id="oldrun0000000000", task="review", seats=[], user="u", host="h", pid=1, started_at=5.0,
                ended_at=6.0, outcome="ok",
            )
        )  # fmt: skip
    engine.dispose()
    with Store.open(config) as store:
        assert store.revision == head_revision() == "0004"
        assert [summary.run_id for summary in store.history()] == ["oldrun0000000000"]
        store.record_feedback(FeedbackEvent(finding_id="f", verdict="useful"))  # a table of 0002


def test_a_newer_store_is_refused_with_one_clear_line(config: StoreConfig) -> None:
    with Store.open(config) as store, store.engine.begin() as connection:
        connection.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = 'f00d9999'"))
    with pytest.raises(StoreTooNewError) as refused:
        Store.open(config)
    message = str(refused.value)
    assert "\n" not in message and "f00d9999" in message and "newer Chorus" in message
    warnings: list[str] = []
    writer = StoreWriter(config, on_warning=warnings.append)
    assert writer.submit(RunStart(task="review"))
    assert writer.flush(10) and not writer.available and writer.dropped == 1
    writer.close()
    assert len(warnings) == 1 and "newer Chorus" in warnings[0]


def test_the_writer_batches_off_the_caller_and_drops_only_refused_records(config: StoreConfig) -> None:
    warnings: list[str] = []
    writer = StoreWriter(config, on_warning=warnings.append)
    runs = [RunStart(task="review", seats=("a",)) for _ in range(300)]
    started = time.perf_counter()
    for run in runs:
        writer.submit(run)
        writer.submit(SeatCall(run_id=run.run_id, seat="a", model="m", status="ok", latency_ms=5))
        writer.submit(RunEnd(run_id=run.run_id, outcome="ok"))
    submitted = time.perf_counter() - started
    writer.submit(FindingRecord("orphan", "no-such-run", 1, 1, 1, 1, "info", "style", "m"))  # FK refuses it
    assert writer.flush(60)
    elapsed = time.perf_counter() - started
    writer.submit(Suppression(fingerprint=code_fingerprint(["x = 1"], "k"), cluster_key="k"))
    writer.flush(10)
    suppressed = writer.read(
        lambda store: store.is_suppressed(code_fingerprint(["x = 1"], "k")), default=False
    )
    writer.close()
    rate = 900 / elapsed
    print(f"\n{config.backend}: 900 records submitted in {submitted * 1000:.1f} ms, written at {rate:.0f}/s")
    assert writer.written == 901 and writer.dropped == 1 and len(warnings) == 1
    assert submitted < 0.5
    assert suppressed is True
    with Store.open(config) as store:
        assert len(store.history(limit=1000)) == 300
        assert {summary.outcome for summary in store.history(limit=1000)} == {"ok"}


def test_submit_returns_at_once_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    config = StoreConfig(path=tmp_path / "chorus.db")
    Store.open(config).close()
    blocker = sqlite3.connect(config.path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    writer = StoreWriter(config)
    started = time.perf_counter()
    for _ in range(200):
        writer.submit(RunStart(task="review"))
    submitted = time.perf_counter() - started
    threading.Timer(1.0, blocker.rollback).start()
    assert writer.flush(30)
    writer.close()
    blocker.close()
    assert submitted < 0.2 and writer.written == 200 and writer.dropped == 0


def test_the_sqlite_store_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    config = StoreConfig(path=tmp_path / "deep" / "dir" / "chorus.db")
    with Store.open(config) as store:
        _run(store)
        assert (config.path.parent / "chorus.db-wal").exists()
        for name in ("chorus.db", "chorus.db-wal", "chorus.db-shm"):
            assert stat.S_IMODE((config.path.parent / name).stat().st_mode) == 0o600, name
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert stat.S_IMODE(config.path.parent.stat().st_mode) == 0o700


def test_a_disabled_store_records_nothing(tmp_path: Path) -> None:
    config = StoreConfig(enabled=False, path=tmp_path / "chorus.db")
    writer = StoreWriter(config)
    assert not writer.submit(RunStart(task="review")) and writer.flush(1)
    assert writer.read(lambda store: store.is_suppressed("x"), default=False) is False
    writer.close()
    assert not config.path.exists()
    with pytest.raises(StoreError, match="turned off"):
        Store.open(config)


def test_a_bad_url_is_refused_by_the_config() -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        StoreConfig(url="mysql://somewhere/db")
