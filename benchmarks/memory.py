"""Scenario 9: what the memory costs and saves — the store per review, the answer cache, stats at scale.

- Store on/off: the same 3-model review (200/400/800 ms) through the real server with the store on
  and off (answer cache off in both), sessions alternating; the target is the ratio of the medians.
- Cache: a review of code the panel has not seen, then the same review again (unchanged code): the
  repeat is served from the answer cache; the target is repeat / first.
- Stats: what `chorus stats` reads (`model_stats` and the trust column, `trust_scores`) over all
  history of 100,000 recorded runs with realistic rows (three seat calls with their own findings,
  two merged findings, a tenth of them judged; one seat changed models), best of N; the default
  30-day window is in the detail. The SQLite store is filled by bulk inserts and the rollup rebuilt
  before the clock starts, once: it is cached in the temp dir (keyed by fixture version and schema
  revision) and only read, so later runs reuse it.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anyio
from sqlalchemy import Connection

from benchmarks import Measurement, ScenarioResult, Settings, median
from benchmarks.client import LspClient, chorus_server
from benchmarks.model_host import ModelHost
from benchmarks.workload import SOURCE, open_source, panel_options, review, script_panel
from orchestration.learning.settings import LearningConfig
from orchestration.learning.trust import TrustReport, trust_scores
from orchestration.memory import rollup, schema
from orchestration.memory.engine import head_revision
from orchestration.memory.settings import StoreConfig
from orchestration.memory.stats import StatsReport, model_stats
from orchestration.memory.store import Store

LATENCIES = {"mem_200ms": 0.2, "mem_400ms": 0.4, "mem_800ms": 0.8}
STORE_RATIO_TARGET = 1.05
CACHE_RATIO_TARGET = 0.05
STATS_RUNS = 100_000
STATS_TARGET_S = 1.0
SEAT_MODELS = (("openai", "openai/gpt-x"), ("anthropic", "anthropic/claude-y"), ("gemini", "gemini/gemini-z"))
UPGRADED = "gemini/gemini-z2"
"""The gemini seat's model in the last 10 days of the stats fixture."""
CATEGORIES = ("bug", "bug", "security", "performance", "style", "maintainability")
SEVERITIES = ("error", "warning", "info")
TASKS = ("review", "review", "implement", "explain")
VERDICTS = ("accept", "dismiss", "useful")
FIXTURE_VERSION: Final = 1
"""Bump when `fill_store` changes: the cached fixture is rebuilt."""
DAY_S = 86400.0
DEFAULT_SINCE_S = 30 * DAY_S
"""`chorus stats`' default window."""


def memory_options(host: ModelHost, *, store: bool, cache: bool) -> dict[str, Any]:
    """The panel's `initializationOptions` with the store and the answer cache on or off."""
    options = panel_options(host, list(LATENCIES))
    options["store"] = {"enabled": store}
    options["cache"] = {"enabled": cache}
    return options


async def review_walls(host: ModelHost, *, store: bool, reps: int) -> list[float]:
    """`reps` timed reviews (after a warm-up) in one server session, cache off."""
    async with chorus_server(memory_options(host, store=store, cache=False)) as session:
        uri = open_source(session.client, session.workspace)
        await review(session.client, uri, len(LATENCIES))
        walls = []
        for _ in range(reps):
            walls.append((await review(session.client, uri, len(LATENCIES))).seconds)
        return walls


async def first_and_repeat(host: ModelHost, reps: int) -> tuple[float, list[float], int]:
    """Wall of a first review, walls of its repeats, and how many model calls the repeats made."""
    async with chorus_server(memory_options(host, store=True, cache=True)) as session:
        client: LspClient = session.client
        warm = open_source(client, session.workspace, "warm_up.py", "# warm-up\n" + SOURCE)
        await review(client, warm, len(LATENCIES))  # Imports litellm; a different prompt, so no hit later.
        uri = open_source(client, session.workspace)
        first = (await review(client, uri, len(LATENCIES))).seconds
        host.reset()
        repeats = [(await review(client, uri, len(LATENCIES))).seconds for _ in range(reps)]
        return first, repeats, len(host.requests())


def _opinion_pool(rng: random.Random) -> list[list[str]]:
    """JSON lists of 0-3 own findings with random severities and categories, 20 of each length."""
    return [
        [
            json.dumps(
                [
                    {
                        "start_line": line,
                        "end_line": line,
                        "severity": rng.choice(SEVERITIES),
                        "category": rng.choice(CATEGORIES),
                        "message": "off by one",
                    }
                    for line in range(count)
                ]
            )
            for _ in range(20)
        ]
        for count in range(4)
    ]


def _insert(connection: Connection, table: str, columns: str, rows: Sequence[tuple[object, ...]]) -> None:
    marks = ", ".join("?" * len(rows[0]))
    connection.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def fill_store(path: Path, runs: int, now: float, seed: int = 9) -> None:
    """`runs` finished runs over 60 days with realistic rows, bulk-inserted (a benchmark fixture;
    the indexes are made after the rows), then the rollup rebuilt as the migration that made it does.

    Each run: three seat calls (85% ok with 0-3 findings of their own, errors, timeouts, cached
    answers; the gemini seat calls a newer model for the last 10 days, so one seat changed models)
    and two merged findings naming 1-3 of the seats; about one finding in eleven is judged (accept,
    dismiss or useful), one in nine of those twice."""
    rng = random.Random(seed)
    seats = [seat for seat, _model in SEAT_MODELS]
    pool = _opinion_pool(rng)
    named = [[json.dumps(list(order)) for order in itertools.permutations(seats, size)] for size in (1, 2, 3)]
    statuses = ("ok", "error", "timeout", "cached")
    with Store.open(StoreConfig(path=path)) as store, store.engine.begin() as connection:
        tables = (schema.runs, schema.seat_calls, schema.findings)
        indexes = [index for table in tables for index in table.indexes]
        for index in indexes:
            index.drop(connection)
        run_rows, call_rows, finding_rows, verdicts = [], [], [], []
        salt = rng.getrandbits(64)
        for number in range(runs):
            run_id = f"{salt:016x}{number:016x}"
            started = now - rng.random() * 60 * DAY_S
            task = rng.choice(TASKS)
            run_rows.append((run_id, task, json.dumps(seats), started, started + 0.5 + rng.random() * 8.5))
            recent = now - started < 10 * DAY_S
            for (seat, model), status in zip(
                SEAT_MODELS, rng.choices(statuses, (85, 5, 3, 7), k=3), strict=True
            ):
                opinions = pool[rng.randrange(4) if status == "ok" else 0][rng.randrange(20)]
                call_rows.append(
                    (run_id, seat, UPGRADED if recent and seat == "gemini" else model, status,
                     150 + int(rng.random() * 8851), 300 + int(rng.random() * 3701),
                     50 + int(rng.random() * 851), rng.random() * 0.02, opinions, started)
                )  # fmt: skip
            for line in range(2):
                size = rng.randrange(3)
                finding_id = f"{(salt + 2 * number + line) % 2**64:016x}"
                finding_rows.append(
                    (finding_id, run_id, line, line, size + 1, len(seats), rng.choice(SEVERITIES),
                     rng.choice(CATEGORIES), "off by one", rng.choice(named[size]), finding_id * 2)
                )  # fmt: skip
                if rng.random() < 0.09:
                    at = min(now, started + 10 + rng.random() * 3 * DAY_S)
                    verdicts.append((finding_id, rng.choices(VERDICTS, (5, 3, 2))[0], at))
                    if rng.random() < 1 / 9:
                        verdicts.append((finding_id, rng.choice(VERDICTS), min(now, at + 60)))
        _insert(connection, "runs", "id, task, seats, started_at, ended_at, user, host, pid, outcome",
                [(*row, "bench", "bench", 1, "ok") for row in run_rows])  # fmt: skip
        _insert(connection, "seat_calls", "run_id, seat, model, status, latency_ms, tokens_in, tokens_out, "
                "cost_usd, findings, at", call_rows)  # fmt: skip
        _insert(connection, "findings", "id, run_id, start_line, end_line, votes, panel_size, severity, "
                "category, message, models, fingerprint", finding_rows)  # fmt: skip
        _insert(
            connection, "feedback", "finding_id, verdict, at, user", [(*row, "bench") for row in verdicts]
        )
        for index in indexes:
            index.create(connection)
        rollup.rebuild(connection)


@dataclass(slots=True, frozen=True)
class StatsFixture:
    """The stats store: where it is, the time it was filled at, and how long filling took."""

    path: Path
    now: float
    build_s: float | None
    """None when a cached copy was used."""


def stats_fixture(runs: int) -> StatsFixture:
    """The realistic stats store, built once per fixture version, schema and size in the temp dir
    (later runs reuse it: it is only read)."""
    folder = Path(tempfile.gettempdir()) / f"chorus-bench-stats-v{FIXTURE_VERSION}-{head_revision()}-{runs}"
    path, done = folder / "chorus.db", folder / "filled_at"
    if done.exists():
        return StatsFixture(path, float(done.read_text()), None)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    begin, now = time.perf_counter(), time.time()
    fill_store(path, runs, now)
    done.write_text(repr(now))
    return StatsFixture(path, now, time.perf_counter() - begin)


def stats_once(store: Store, now: float, since_s: float | None) -> tuple[StatsReport, TrustReport]:
    """What `chorus stats` reads: the model and task stats, and the trust column (learning on)."""
    report = model_stats(store, since_s=since_s, task=None, now=now)
    trust = trust_scores(store, LearningConfig(), min_agreement=2, since_s=since_s, now=now)
    return report, trust


def time_stats(runs: int, reps: int) -> tuple[float, float, int, StatsFixture]:
    """Best-of-`reps` seconds of `chorus stats`' reads over all history and over its default 30
    days, the runs counted, and the fixture."""
    fixture = stats_fixture(runs)
    with Store.open(StoreConfig(path=fixture.path)) as store:
        best = {None: float("inf"), DEFAULT_SINCE_S: float("inf")}
        counted = 0
        for _ in range(reps):
            for since_s in best:
                begin = time.perf_counter()
                report, _trust = stats_once(store, fixture.now, since_s)
                best[since_s] = min(best[since_s], time.perf_counter() - begin)
                if since_s is None:
                    counted = sum(task.runs for task in report.tasks)
    return best[None], best[DEFAULT_SINCE_S], counted, fixture


async def run(settings: Settings) -> ScenarioResult:
    """Store on/off per review, the cached repeat, stats over 100,000 runs."""
    started = time.perf_counter()
    reps = settings.reps(7, 2)
    on: list[float] = []
    off: list[float] = []
    with ModelHost() as host:
        script_panel(host, LATENCIES)
        for _ in range(1 if settings.quick else 2):
            on += await review_walls(host, store=True, reps=reps)
            off += await review_walls(host, store=False, reps=reps)
        first, repeats, repeat_calls = await first_and_repeat(host, reps)
    stats_s, recent_s, counted, fixture = await anyio.to_thread.run_sync(time_stats, STATS_RUNS, reps)
    built = "cached" if fixture.build_s is None else f"built in {fixture.build_s:.1f} s"
    store_ratio = median(on) / median(off)
    cache_ratio = median(repeats) / first
    measurements = [
        Measurement.at_most(
            "memory_store_ratio",
            "9. memory",
            "review wall, store on / off (3 models, cache off)",
            store_ratio,
            STORE_RATIO_TARGET,
            "×",
            detail=f"on {median(on) * 1000:.0f} ms, off {median(off) * 1000:.0f} ms, {len(on)} reviews each",
        ),
        Measurement.at_most(
            "memory_cache_ratio",
            "9. memory",
            "repeat review of unchanged code / first review",
            cache_ratio,
            CACHE_RATIO_TARGET,
            "×",
            detail=f"first {first * 1000:.0f} ms, repeat {median(repeats) * 1000:.1f} ms; "
            f"model calls during {len(repeats)} repeats: {repeat_calls}",
        ),
        Measurement.at_most(
            "memory_stats_100k",
            "9. memory",
            f"chorus stats (model stats + trust) over {STATS_RUNS:,} runs",
            stats_s,
            STATS_TARGET_S,
            "s",
            detail=f"all history, best of {reps}; --since 30d {recent_s:.2f} s; {counted:,} runs, "
            f"3 seat calls and 2 merged findings each, ~10% judged; fixture {built}",
        ),
    ]
    return ScenarioResult("memory", measurements, {}, time.perf_counter() - started)
