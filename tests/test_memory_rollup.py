"""`orchestration.memory.rollup`: the per-day counters stay what a rebuild from the rows gives, on
SQLite and a real PostgreSQL, through every way the rows change; windows that start mid-day read
the same sums as the rows themselves; an upgraded store keeps its stats.

Writes go through `Store.write` in small batches and in awkward orders (a finding before its run's
seat calls, a verdict before its finding, a verdict that changes, a seat called twice in one run,
a finding naming a seat that made no call), then `Store.prune`. After each step the maintained
rollup is compared with `rollup.rebuild` run in a transaction that is rolled back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select

from orchestration.learning.settings import LearningConfig
from orchestration.learning.trust import trust_scores
from orchestration.memory import rollup, schema
from orchestration.memory.engine import create_store_engine, migrate, store_location
from orchestration.memory.records import (
    FeedbackEvent,
    FindingRecord,
    RunEnd,
    RunStart,
    SeatCall,
    SeatFinding,
    StoreWrite,
    Verdict,
)
from orchestration.memory.rollup import DAY_S, Deltas, day_of
from orchestration.memory.rollup_reads import Kind, WindowReader
from orchestration.memory.rows import RowWriter, scrubbed
from orchestration.memory.settings import StoreConfig
from orchestration.memory.stats import model_stats
from orchestration.memory.store import Store
from tests.postgres import SKIP_REASON, PostgresServer, find_bindir

MIDNIGHT = day_of(1_900_000_000.0) * DAY_S
NOW = MIDNIGHT + 15 * 3600.0
OPINION = SeatFinding(1, 1, "error", "bug", "off by one")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    server = PostgresServer.start(bindir)
    yield server
    server.destroy()


def _config(request: pytest.FixtureRequest, tmp_path: Path, name: str = "chorus.db") -> StoreConfig:
    if request.param == "sqlite":
        return StoreConfig(path=tmp_path / "store" / name)
    server: PostgresServer = request.getfixturevalue("postgres")
    return StoreConfig(url=server.create_database(), path=tmp_path / "pg-keys" / name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store on each backend."""
    with Store.open(_config(request, tmp_path)) as opened:
        yield opened


def snapshot(connection: Connection) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
    """Every rollup row, by table and key (time sums rounded: summation order may differ)."""
    tables: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {}
    for table in rollup.TABLES:
        keys, names = rollup.columns(table)
        rows = connection.execute(select(*(table.c[n] for n in keys), *(table.c[n] for n in names)))
        tables[table.name] = {
            tuple(row[: len(keys)]): tuple(round(float(v), 3) for v in row[len(keys) :]) for row in rows
        }
    return tables


def assert_in_step(store: Store) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
    """The maintained rollup equals a rebuild (which is rolled back); returns it."""
    with store.engine.connect() as connection:
        kept = snapshot(connection)
    with store.engine.connect() as connection:
        transaction = connection.begin()
        rollup.rebuild(connection)
        rebuilt = snapshot(connection)
        transaction.rollback()
    assert kept == rebuilt
    return kept


def run(
    task: str, at: float, seats: dict[str, str], *, opinions: int = 1
) -> tuple[RunStart, list[StoreWrite]]:
    start = RunStart(task=task, seats=tuple(seats), started_at=at)
    calls: list[StoreWrite] = [
        SeatCall(run_id=start.run_id, seat=seat, model=model, status="ok", latency_ms=100 + i,
                 tokens_in=10, tokens_out=2, cost_usd=0.01, findings=(OPINION,) * opinions, at=at + 1)
        for i, (seat, model) in enumerate(seats.items())
    ]  # fmt: skip
    return start, calls


def finding(
    start: RunStart, finding_id: str, *named: str, category: str = "bug", panel: int = 2
) -> FindingRecord:
    return FindingRecord(
        finding_id=finding_id, run_id=start.run_id, start_line=1, end_line=1, votes=len(named),
        panel_size=panel, severity="error", category=category, message="m", models=named,
        fingerprint=finding_id * 2,
    )  # fmt: skip


def verdict(finding_id: str, said: Verdict, at: float) -> FeedbackEvent:
    return FeedbackEvent(finding_id=finding_id, verdict=said, at=at)


def fill(store: Store) -> None:
    """Runs over four days, written in awkward orders, the rollup checked after each write."""
    pair = {"a": "openai/a", "b": "openai/b"}
    first, calls = run("review", MIDNIGHT - 2 * DAY_S + 100, pair)
    store.write(
        [
            first,
            *calls,
            finding(first, "a1" * 8, "a", "b"),
            RunEnd(first.run_id, "ok", ended_at=first.started_at + 3),
        ]
    )
    assert_in_step(store)
    late, late_calls = run("implement", MIDNIGHT - 60, {"a": "openai/a2", "c": "openai/c"})  # a changes model
    store.write([late, finding(late, "b1" * 8, "a", "c", category="style")])  # findings before the calls
    assert_in_step(store)
    store.write(late_calls)
    assert_in_step(store)
    store.write([verdict("c1" * 8, "accept", NOW - 3600)])  # a verdict before its finding exists
    today, today_calls = run("review", MIDNIGHT + 3600, pair, opinions=2)
    twice = SeatCall(run_id=today.run_id, seat="a", model="openai/a3", status="error", at=MIDNIGHT + 3700)
    store.write([today, *today_calls, twice])  # seat a called twice in one run
    store.write([finding(today, "c1" * 8, "a", "b"), finding(today, "c2" * 8, "b", "ghost", panel=3)])
    assert_in_step(store)
    store.write([verdict("a1" * 8, "accept", MIDNIGHT - 3600), verdict("c2" * 8, "useful", NOW - 1800)])
    store.write([verdict("a1" * 8, "dismiss", NOW - 600), verdict("c2" * 8, "accept", NOW - 300)])  # changes
    assert_in_step(store)


def test_the_rollup_kept_by_every_write_equals_a_rebuild(store: Store) -> None:
    fill(store)
    kept = assert_in_step(store)
    first_day = day_of(MIDNIGHT - 2 * DAY_S + 100)
    judged = [(key[3:], values[:2]) for key, values in kept["rollup_verdicts"].items() if key[1] == first_day]
    assert sorted(judged) == [  # a1, by seats a and b: accepted, then dismissed: bad
        (("a", "openai/a", "bug", 0, 1, 1, 0), (1.0, 1.0)),
        (("b", "openai/b", "bug", 0, 1, 1, 0), (1.0, 1.0)),
    ]
    today = [values for key, values in kept["rollup_findings"].items() if key[2] == "ghost"]
    assert today == [(1.0, 0.0, round(MIDNIGHT + 3600, 3), 0.0)]  # a seat with no call: an item, no pair
    calls = kept["rollup_calls"]
    assert sum(v[0] for k, v in calls.items() if k[3] == "a") == 4 and len(calls) == 7


def test_pruning_keeps_the_rollup_in_step(store: Store) -> None:
    fill(store)
    store.write([verdict("c2" * 8, "dismiss", MIDNIGHT - 100)])  # older than the cutoff, on a kept run
    assert_in_step(store)
    store.prune(retention_days=1, now=MIDNIGHT - 30 + DAY_S)  # the cutoff: 30 s before midnight
    kept = assert_in_step(store)
    assert {key[1] for key in kept["rollup_calls"]} == {day_of(MIDNIGHT)}
    assert not any(key[8] for key in kept["rollup_verdicts"])  # c2's dismissal went with the cutoff
    store.prune(retention_days=0, now=NOW)
    assert assert_in_step(store) == {table.name: {} for table in rollup.TABLES}


def _direct(connection: Connection, table: Any, kind: Kind, since: float, task: str | None) -> Deltas:
    """The window's sums straight from the rows (what the rollup and the first day must add up to)."""
    runs, calls, feedback = schema.runs, schema.seat_calls, schema.feedback
    tasks = [] if task is None else [runs.c.task == task]
    deltas = Deltas()
    if kind == "calls":
        where = [calls.c.at >= since, *([] if task is None else [*tasks, runs.c.started_at >= since])]
        deltas.add(table, connection.execute(rollup.call_rows(connection, where)))
    elif kind == "runs":
        where = [runs.c.started_at >= since, *tasks]
        query = {
            "rollup_calls": rollup.call_rows(connection, where),
            "rollup_findings": rollup.finding_rows(connection, where),
            "rollup_verdicts": rollup.verdict_rows(connection, where, rollup.judgements([])),
        }[table.name]
        deltas.add(table, connection.execute(query))
    else:
        judged = rollup.judgements([feedback.c.at >= since])
        deltas.add(table, connection.execute(rollup.verdict_rows(connection, tasks, judged)))
    return deltas


def _by(
    rows: dict[tuple[Any, ...], list[Any]], positions: list[int]
) -> dict[tuple[Any, ...], tuple[float, ...]]:
    summed: dict[tuple[Any, ...], list[float]] = {}
    for key, values in rows.items():
        total = summed.setdefault(tuple(key[p] for p in positions), [0.0] * len(values))
        for index, value in enumerate(values):
            total[index] += float(value)
    return {key: tuple(round(v, 3) for v in values) for key, values in summed.items() if any(values)}


@pytest.mark.parametrize("task", [None, "review", "implement"])
def test_windows_that_start_mid_day_read_what_the_rows_hold(store: Store, task: str | None) -> None:
    fill(store)
    cases: list[tuple[Any, Kind, list[str]]] = [
        (schema.rollup_calls, "calls", rollup.columns(schema.rollup_calls)[0]),
        (schema.rollup_calls, "runs", ["run_day", "task", "seat", "model"]),
        (schema.rollup_findings, "runs", rollup.columns(schema.rollup_findings)[0]),
        (schema.rollup_verdicts, "runs", rollup.columns(schema.rollup_verdicts)[0]),
        (
            schema.rollup_verdicts,
            "verdicts",
            ["verdict_day", "task", "seat", "call_model", "category", "good"],
        ),
    ]
    starts = [MIDNIGHT - 2 * DAY_S, MIDNIGHT - 2 * DAY_S + 100, MIDNIGHT - 120, MIDNIGHT - 30, MIDNIGHT,
              MIDNIGHT + 3650, NOW - 1000, NOW - 400]  # fmt: skip
    with store.engine.connect() as connection:
        for since in starts:
            reader = WindowReader(connection, since, task)
            for table, kind, group in cases:
                keys = rollup.columns(table)[0]
                read = reader.sums(table, kind, group)
                expected = _direct(connection, table, kind, since, task).of(table)
                positions = [keys.index(name) for name in group]
                assert _by(read, list(range(len(group)))) == _by(expected, positions), (
                    since,
                    kind,
                    table.name,
                )


def _records() -> list[StoreWrite]:
    pair = {"a": "openai/a", "b": "openai/b"}
    first, calls = run("review", NOW - 3 * DAY_S, pair)
    second, more = run("implement", NOW - 100, {"a": "openai/a2", "b": "openai/b"})
    return [
        first, *calls, finding(first, "d1" * 8, "a", "b"), finding(first, "d2" * 8, "a"),
        RunEnd(first.run_id, "ok", ended_at=first.started_at + 2), second, *more,
        finding(second, "d3" * 8, "b", "a"), verdict("d1" * 8, "accept", NOW - 50),
        verdict("d2" * 8, "dismiss", NOW - 40), verdict("d3" * 8, "useful", NOW - 30),
    ]  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """A store written at revision 0003 (no rollup) then opened, and the same records written now."""
    old = _config(request, tmp_path, "old.db")
    engine = create_store_engine(old)
    migrate(engine, store_location(old), target="0003")
    writer = RowWriter(user="me", keep_code=False, cipher=Store(engine, old, "0003").cipher)
    with engine.begin() as connection:
        writer.write_all(connection, [scrubbed(record, keep_code=False) for record in _records()])
    engine.dispose()
    with Store.open(old) as before, Store.open(_config(request, tmp_path, "new.db")) as now:
        now.write(_records())
        yield before, now


def test_an_upgraded_store_keeps_its_stats(upgraded: tuple[Store, Store]) -> None:
    before, written = upgraded
    assert before.revision == "0004"
    assert assert_in_step(before) == assert_in_step(written)
    for since in (None, DAY_S):
        old, new = (model_stats(s, since_s=since, task=None, now=NOW) for s in upgraded)
        assert old.to_json() == new.to_json()
    every = model_stats(before, since_s=None, task=None, now=NOW).models
    merged = {m.model: (m.merged, m.accepted, m.dismissed, m.useful) for m in every}
    assert merged == {"openai/a": (2, 1, 1, 0), "openai/a2": (1, 0, 0, 1), "openai/b": (2, 1, 0, 1)}
    for since in (None, DAY_S):
        trusted = [trust_scores(s, LearningConfig(), since_s=since, now=NOW).to_json() for s in upgraded]
        assert trusted[0] == trusted[1]


def test_two_writers_of_one_run_keep_the_rollup_in_step(store: Store) -> None:
    """Verdicts on one finding from two stores (two processes' engines) at once: each write's
    before-and-after is taken with the run locked (PostgreSQL) or the database (SQLite)."""
    start, calls = run("review", NOW - 100, {"a": "openai/a", "b": "openai/b"})
    store.write([start, *calls, finding(start, "e1" * 8, "a", "b"), finding(start, "e2" * 8, "b")])
    said: tuple[Verdict, ...] = ("accept", "dismiss", "useful")
    with Store.open(store.config) as other:

        def judge(writer: Store, offset: int) -> None:
            for index in range(12):
                target = "e1" * 8 if index % 2 else "e2" * 8
                writer.write([verdict(target, said[(index + offset) % 3], NOW - 50 + index + offset / 10)])

        threads = [
            threading.Thread(target=judge, args=(writer, n)) for n, writer in enumerate((store, other))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    kept = assert_in_step(store)
    assert sum(values[0] for values in kept["rollup_verdicts"].values()) == 3  # e1 by a and b, e2 by b
