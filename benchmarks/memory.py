"""Scenario 9: what the memory costs and saves — the store per review, the answer cache, stats at scale.

- Store on/off: the same 3-model review (200/400/800 ms) through the real server with the store on
  and off (answer cache off in both), sessions alternating; the target is the ratio of the medians.
- Cache: a review of code the panel has not seen, then the same review again (unchanged code): the
  repeat is served from the answer cache; the target is repeat / first.
- Stats: `model_stats` (what `chorus stats` and `chorus/stats` run) over 100,000 recorded runs with
  three seat calls each, in a SQLite store filled by bulk inserts before the clock starts.
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import insert

from benchmarks import Measurement, ScenarioResult, Settings, median
from benchmarks.client import LspClient, chorus_server
from benchmarks.model_host import ModelHost
from benchmarks.workload import SOURCE, open_source, panel_options, review, script_panel
from orchestration.memory import schema
from orchestration.memory.settings import StoreConfig
from orchestration.memory.stats import model_stats
from orchestration.memory.store import Store

LATENCIES = {"mem_200ms": 0.2, "mem_400ms": 0.4, "mem_800ms": 0.8}
STORE_RATIO_TARGET = 1.05
CACHE_RATIO_TARGET = 0.05
STATS_RUNS = 100_000
STATS_TARGET_S = 1.0
SEAT_MODELS = ("openai/gpt-x", "anthropic/claude-y", "gemini/gemini-z")


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


def fill_store(path: Path, runs: int, seed: int = 9) -> None:
    """`runs` finished reviews with three seat calls each, bulk-inserted (a benchmark fixture)."""
    rng = random.Random(seed)
    now = time.time()
    with Store.open(StoreConfig(path=path)) as store, store.engine.begin() as connection:
        for offset in range(0, runs, 10_000):
            run_rows, seat_rows = [], []
            for _ in range(min(10_000, runs - offset)):
                run_id = uuid.uuid4().hex
                started = now - rng.uniform(0, 60 * 86400)
                run_rows.append(
                    {
                        "id": run_id,
                        "task": rng.choice(("review", "review", "implement", "explain")),
                        "seats": list(SEAT_MODELS),
                        "user": "bench",
                        "host": "bench",
                        "pid": 1,
                        "started_at": started,
                        "ended_at": started + rng.uniform(0.5, 9),
                        "outcome": "ok",
                    }
                )
                for model in SEAT_MODELS:
                    status = rng.choices(("ok", "error", "timeout", "cached"), (85, 5, 3, 7))[0]
                    seat_rows.append(
                        {
                            "run_id": run_id,
                            "seat": model.split("/")[0],
                            "model": model,
                            "status": status,
                            "latency_ms": rng.randint(150, 9000),
                            "tokens_in": rng.randint(300, 4000),
                            "tokens_out": rng.randint(50, 900),
                            "cost_usd": rng.uniform(0, 0.02),
                            "findings": [],
                            "at": started,
                        }
                    )
            connection.execute(insert(schema.runs), run_rows)
            connection.execute(insert(schema.seat_calls), seat_rows)


def time_stats(runs: int) -> tuple[float, int]:
    """Seconds `model_stats` takes over a store of `runs` runs (median of 3), and the runs it counted."""
    with tempfile.TemporaryDirectory(prefix="chorus-bench-store-") as folder:
        path = Path(folder) / "chorus.db"
        fill_store(path, runs)
        with Store.open(StoreConfig(path=path)) as store:
            times, counted = [], 0
            for _ in range(3):
                begin = time.perf_counter()
                report = model_stats(store, since_s=None, task=None)
                times.append(time.perf_counter() - begin)
                counted = sum(task.runs for task in report.tasks)
        return median(times), counted


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
    stats_s, counted = await anyio.to_thread.run_sync(time_stats, STATS_RUNS)
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
            f"model_stats over {STATS_RUNS:,} runs",
            stats_s,
            STATS_TARGET_S,
            "s",
            detail=f"{counted:,} runs counted, 3 seat calls each",
        ),
    ]
    return ScenarioResult("memory", measurements, {}, time.perf_counter() - started)
