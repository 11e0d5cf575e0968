"""`orchestration.memory.stats`: model and task stats and the audit log, on SQLite and a real PostgreSQL.

Every number is checked against a small store written through `Store.write` whose answers are
worked out by hand (nearest-rank percentiles, shares over asked calls, each finding judged once).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest

from orchestration.memory.records import (
    AuditRecord,
    FeedbackEvent,
    FindingRecord,
    RunEnd,
    RunStart,
    SeatCall,
    SeatFinding,
    SeatStatus,
    StoreWrite,
)
from orchestration.memory.settings import StoreConfig
from orchestration.memory.stats import ModelStats, StatsReport, audit_entries, model_stats, to_json
from orchestration.memory.store import Store
from tests.postgres import SKIP_REASON, PostgresServer, find_bindir

NOW = 1_900_000_000.0
DAY = 86400.0
OPINION = SeatFinding(3, 3, "error", "bug", "off by one")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    server = PostgresServer.start(bindir)
    yield server
    server.destroy()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store on each backend."""
    if request.param == "sqlite":
        config = StoreConfig(path=tmp_path / "store" / "chorus.db")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        config = StoreConfig(url=server.create_database(), path=tmp_path / "pg-keys" / "chorus.db")
    with Store.open(config) as opened:
        yield opened


def run(
    task: str, started: float, wall: float | None, seats: list[tuple[str, str, SeatStatus, int | None, int]]
) -> tuple[str, list[StoreWrite]]:
    """A run's records: (seat, model, status, latency ms, opinions) per seat; `wall` None: still running."""
    start = RunStart(task=task, path="src/app.py", start_line=1, end_line=9, seats=(), started_at=started)
    records: list[StoreWrite] = [start]
    for seat, model, status, latency, opinions in seats:
        records.append(
            SeatCall(
                run_id=start.run_id, seat=seat, model=model, status=status, latency_ms=latency,
                tokens_in=100, tokens_out=10, cost_usd=0.01, findings=(OPINION,) * opinions, at=started,
            )
        )  # fmt: skip
    if wall is not None:
        records.append(RunEnd(run_id=start.run_id, outcome="ok", ended_at=started + wall))
    return start.run_id, records


def finding(run_id: str, finding_id: str, *models: str) -> FindingRecord:
    return FindingRecord(
        finding_id=finding_id, run_id=run_id, start_line=3, end_line=3, votes=len(models), panel_size=3,
        severity="error", category="bug", message="off by one", models=models, fingerprint=finding_id * 2,
    )  # fmt: skip


def fill(store: Store) -> None:
    """Four runs: two reviews, an implement 10 days ago, an explain still running."""
    a, first = run(
        "review", NOW - 100, 2.0,
        [("claude", "openai/claude", "ok", 100, 2), ("codex", "openai/codex", "ok", 300, 1),
         ("gemini", "openai/gemini", "timeout", None, 0)],
    )  # fmt: skip
    b, second = run(
        "review", NOW - 50, 4.0,
        [("claude", "openai/claude", "ok", 200, 0), ("codex", "openai/codex", "error", 20, 0),
         ("gemini", "openai/gemini", "cached", 1, 0)],
    )  # fmt: skip
    _c, third = run(
        "implement", NOW - 10 * DAY, 1.0,
        [("claude", "openai/claude", "ok", 400, 0), ("codex", "openai/codex", "skipped", None, 0)],
    )  # fmt: skip
    _d, fourth = run("explain", NOW - 20, None, [("claude", "openai/claude", "ok", 50, 0)])
    verdicts = [
        FeedbackEvent(finding_id="f1" * 8, verdict="accept", at=NOW - 90),
        FeedbackEvent(finding_id="f1" * 8, verdict="accept", at=NOW - 80),
        FeedbackEvent(finding_id="f2" * 8, verdict="dismiss", at=NOW - 70),
        FeedbackEvent(finding_id="f2" * 8, verdict="useful", at=NOW - 60),
    ]
    findings = [finding(a, "f1" * 8, "claude", "codex"), finding(a, "f2" * 8, "claude")]
    store.write([*first, *second, *third, *fourth, *findings, *verdicts])
    store.write([finding(b, "f9" * 8)])  # a finding no seat is named in


def by_model(report: StatsReport) -> dict[str, ModelStats]:
    return {stats.model: stats for stats in report.models}


def test_model_stats_over_every_run(store: Store) -> None:
    fill(store)
    report = model_stats(store, since_s=None, task=None, now=NOW)
    assert [stats.model for stats in report.models] == ["openai/claude", "openai/codex", "openai/gemini"]
    claude, codex, gemini = (
        by_model(report)[name] for name in ("openai/claude", "openai/codex", "openai/gemini")
    )
    assert (claude.calls, claude.answered_rate, claude.error_rate, claude.timeout_rate) == (4, 1.0, 0.0, 0.0)
    assert (claude.p50_latency_ms, claude.p95_latency_ms) == (100, 400)  # nearest rank of 50, 100, 200, 400
    assert (claude.tokens_in, claude.tokens_out) == (400, 40) and claude.cost_usd == pytest.approx(0.04)
    assert (claude.opinions, claude.agreed, claude.agreement, claude.merged) == (2, 2, 1.0, 2)
    assert (claude.accepted, claude.dismissed, claude.useful) == (1, 1, 1)  # f1 accepted twice counts once
    assert (claude.acceptance_rate, claude.dismissal_rate, claude.useful_rate) == (0.5, 0.5, 0.5)
    assert (codex.calls, codex.answered_rate, codex.error_rate) == (3, 0.5, 0.5)  # skipped is not asked
    assert (codex.p50_latency_ms, codex.p95_latency_ms) == (300, 300)  # the error's latency is not counted
    assert (codex.merged, codex.accepted, codex.acceptance_rate, codex.dismissal_rate) == (1, 1, 1.0, 0.0)
    assert (gemini.answered_rate, gemini.timeout_rate, gemini.cached_share) == (0.5, 0.5, 0.5)
    assert gemini.p50_latency_ms is None and gemini.agreement is None and gemini.acceptance_rate is None
    tasks = {task.task: task for task in report.tasks}
    assert [task.task for task in report.tasks] == ["review", "explain", "implement"]
    assert (tasks["review"].runs, tasks["review"].median_wall_ms) == (2, 2000)
    assert tasks["review"].cost_usd == pytest.approx(0.06)
    assert (tasks["implement"].runs, tasks["implement"].median_wall_ms) == (1, 1000)
    assert tasks["implement"].cost_usd == pytest.approx(0.02)
    assert (tasks["explain"].runs, tasks["explain"].median_wall_ms) == (1, None)  # still running
    assert report.since is None and report.generated_at == NOW


def test_since_and_task_narrow_the_window(store: Store) -> None:
    fill(store)
    recent = model_stats(store, since_s=DAY, task=None, now=NOW)
    assert recent.since == NOW - DAY
    assert by_model(recent)["openai/claude"].calls == 3
    assert "implement" not in {task.task for task in recent.tasks}
    assert by_model(recent)["openai/codex"].calls == 2
    reviews = model_stats(store, since_s=None, task="review", now=NOW)
    assert [task.task for task in reviews.tasks] == ["review"]
    assert by_model(reviews)["openai/claude"].calls == 2
    assert by_model(reviews)["openai/claude"].merged == 2
    assert by_model(reviews)["openai/claude"].p95_latency_ms == 200
    empty = model_stats(store, since_s=10.0, task=None, now=NOW)
    assert empty.models == () and empty.tasks == ()


def test_a_seat_that_changed_models_gives_each_model_its_own_findings(store: Store) -> None:
    fill(store)
    e, records = run("review", NOW - 30, 1.0, [("claude", "anthropic/claude-2", "ok", 700, 1)])
    dismissal = FeedbackEvent(finding_id="f3" * 8, verdict="dismiss", at=NOW - 20)
    store.write([*records, finding(e, "f3" * 8, "claude"), dismissal])
    models = by_model(model_stats(store, since_s=None, task=None, now=NOW))
    old, new = models["openai/claude"], models["anthropic/claude-2"]
    assert (old.merged, old.accepted, old.dismissed) == (2, 1, 1)
    assert (new.calls, new.merged, new.dismissed, new.dismissal_rate) == (1, 1, 1, 1.0)
    assert new.p50_latency_ms == 700


def test_report_is_json(store: Store) -> None:
    fill(store)
    report = model_stats(store, since_s=None, task=None, now=NOW)
    data = json.loads(json.dumps(report.to_json()))
    assert set(data) == {"since", "task", "generated_at", "models", "tasks"}
    assert set(data["models"][0]) == {field.name for field in fields(ModelStats)}
    assert data["models"][0]["model"] == "openai/claude"


def test_audit_entries_newest_first_filtered_host_only(store: Store) -> None:
    store.write(
        [
            AuditRecord(seat="claude", model="openai/claude", endpoint="https://u:pw@api.example.com:8443/v1?k=1",
                        outcome="ok", path="src/app.py", start_line=1, end_line=9, bytes_sent=1200,
                        redactions=2, at=NOW - 100),
            AuditRecord(seat="codex", model="openai/codex", endpoint=None, outcome="error",
                        at=NOW - 10 * DAY),
            AuditRecord(seat="gemini", model="openai/gemini", endpoint="127.0.0.1:9", outcome="timeout",
                        at=NOW - 5),
        ]
    )  # fmt: skip
    recent = audit_entries(store, since_s=DAY, model=None, now=NOW)
    assert [entry.seat for entry in recent] == ["gemini", "claude"]
    claude = recent[1]
    assert (claude.endpoint, claude.bytes_sent, claude.redactions, claude.path) == (
        "api.example.com", 1200, 2, "src/app.py",
    )  # fmt: skip
    assert "pw" not in json.dumps(to_json(recent))
    assert [e.seat for e in audit_entries(store, since_s=None, model="openai/codex", now=NOW)] == ["codex"]
    assert [e.seat for e in audit_entries(store, since_s=None, model="gemini", now=NOW)] == ["gemini"]
    assert len(audit_entries(store, since_s=None, model=None, limit=2, now=NOW)) == 2
    assert audit_entries(store, since_s=None, model="nobody", now=NOW) == []


def test_stats_of_an_empty_store(store: Store) -> None:
    report = model_stats(store, since_s=30 * DAY, task=None)
    assert report.models == () and report.tasks == ()
    assert report.generated_at == pytest.approx(time.time(), abs=60)
