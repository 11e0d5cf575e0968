"""Scenarios 1–3: fan-out overhead, time to first diagnostics, and the straggler cut-off.

Each run is one `chorus/reviewSelection` through the real server, timed by the client from the
moment the request is written to the moment its result (and the first publishDiagnostics) is read.
A warm-up review first imports litellm (scenario 5 measures that import on its own).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from benchmarks import Measurement, ScenarioResult, Settings, median
from benchmarks.client import chorus_server
from benchmarks.model_host import ModelHost
from benchmarks.workload import open_source, panel_options, review, script_panel

MARGIN = 0.030
"""Allowed overhead over the slowest awaited model (seconds), for 3 models and first diagnostics."""
MARGIN_TEN = 0.060
"""Allowed overhead with 10 models."""


@dataclass
class ReviewTimings:
    """Per-run wall times (seconds) of one panel configuration."""

    walls: list[float] = field(default_factory=list)
    first_publishes: list[float] = field(default_factory=list)
    statuses: list[list[str]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    before_models: list[float] = field(default_factory=list)
    """Request sent → the last model call reached the fake server."""
    after_models: list[float] = field(default_factory=list)
    """The last awaited model answered → the final result reached the client."""
    cpu_per_review: float = 0.0
    """Server CPU seconds (user + system) per review."""


async def time_reviews(
    host: ModelHost,
    latencies: Mapping[str, float],
    reps: int,
    policy: Mapping[str, Any] | None = None,
    settle: float = 0.0,
) -> ReviewTimings:
    """Start a server with this panel, warm it up, then time `reps` reviews one after another."""
    script_panel(host, latencies)
    timings = ReviewTimings()
    async with chorus_server(panel_options(host, list(latencies), policy)) as session:
        client = session.client
        uri = open_source(client, session.workspace)
        await review(client, uri, len(latencies))
        await asyncio.sleep(settle)
        cpu_before = client.cpu_seconds()
        for _ in range(reps):
            host.reset()
            reply = await review(client, uri, len(latencies))
            first = client.first_publish(uri, reply.sent)
            timings.walls.append(reply.seconds)
            timings.first_publishes.append((first.at if first else reply.received) - reply.sent)
            timings.statuses.append([model["status"] for model in reply.result["models"]])
            if settle:
                await asyncio.sleep(settle)
            requests = host.requests()
            answered = [request["finished_at"] for request in requests if not request["disconnected"]]
            timings.before_models.append(max(request["received_at"] for request in requests) - reply.sent)
            timings.after_models.append(reply.received - max(answered))
            timings.requests += requests
        timings.cpu_per_review = (client.cpu_seconds() - cpu_before) / reps
    return timings


def split(timings: ReviewTimings) -> str:
    """Where the overhead goes: before the last call reaches the models, after the last answer."""
    return (
        f"{median(timings.before_models) * 1000:.1f} ms until the last call reached the models, "
        f"{median(timings.after_models) * 1000:.1f} ms from the last answer to the result; "
        f"server CPU {timings.cpu_per_review * 1000:.0f} ms per review"
    )


async def run(settings: Settings) -> ScenarioResult:
    """Measure fan-out overhead (3 and 10 models), first diagnostics and the quorum cut-off."""
    started = time.perf_counter()
    reps = settings.reps(9, 1)
    three = {"fan3_200ms": 0.2, "fan3_400ms": 0.4, "fan3_800ms": 0.8}
    ten = {f"fan10_{index}": 0.08 * (index + 1) for index in range(10)}
    straggler = {"cut_200ms": 0.2, "cut_400ms": 0.4, "cut_5000ms": 5.0}
    with ModelHost() as host:
        three_runs = await time_reviews(host, three, reps)
        ten_runs = await time_reviews(host, ten, reps)
        cut_runs = await time_reviews(
            host, straggler, settings.reps(5, 1), policy={"quorum": 2, "grace": 0.3}, settle=0.2
        )
    slowest_three, slowest_ten = max(three.values()), max(ten.values())
    overhead3 = [wall - slowest_three for wall in three_runs.walls]
    overhead10 = [wall - slowest_ten for wall in ten_runs.walls]
    first = [value * 1000 for value in three_runs.first_publishes]
    fastest = min(three.values()) * 1000
    slow = [request for request in cut_runs.requests if request["model"] == "cut_5000ms"]
    closed = sum(1 for request in slow if request["disconnected"])
    cancelled = sum(1 for statuses in cut_runs.statuses if statuses[-1] == "cancelled")
    cut_target = 0.4 + 0.3 + MARGIN
    fastest_s = min(three.values())
    measurements = [
        median_ms(
            "fanout_overhead_3",
            "1. fan-out overhead",
            "3 models 200/400/800 ms: final − 800 ms",
            overhead3,
            MARGIN,
            split(three_runs),
        ),
        median_ms(
            "fanout_overhead_10",
            "1. fan-out overhead",
            "10 models 80…800 ms: final − 800 ms",
            overhead10,
            MARGIN_TEN,
            split(ten_runs),
        ),
        median_ms(
            "first_diagnostics",
            "2. first diagnostics",
            "first publishDiagnostics (fastest model 200 ms)",
            three_runs.first_publishes,
            fastest_s + MARGIN,
            f"overhead {median(first) - fastest:.1f} ms over the fastest model",
        ),
        median_ms(
            "straggler_cutoff",
            "3. straggler cut-off",
            "200/400/5000 ms, quorum 2, grace 0.3 s: final",
            cut_runs.walls,
            cut_target,
            f"slow model cancelled in {cancelled}/{len(cut_runs.walls)} runs, "
            f"its connection closed in {closed}/{len(slow)}",
        ),
        Measurement(
            "straggler_connection_closed",
            "3. straggler cut-off",
            "slow model's HTTP connection closed",
            closed,
            len(slow),
            "runs",
            closed == len(slow) == len(cut_runs.walls) and cancelled == len(cut_runs.walls),
        ),
    ]
    chart = {
        "bars": [
            {
                "label": "3 models",
                "model_ms": slowest_three * 1000,
                "chorus_ms": median(overhead3) * 1000,
                "first_ms": median(first),
            },
            {
                "label": "10 models",
                "model_ms": slowest_ten * 1000,
                "chorus_ms": median(overhead10) * 1000,
                "first_ms": median(ten_runs.first_publishes) * 1000,
            },
            {
                "label": "quorum 2/3",
                "model_ms": 700.0,
                "chorus_ms": median(cut_runs.walls) * 1000 - 700.0,
                "first_ms": median(cut_runs.first_publishes) * 1000,
            },
        ],
        "parallel_wall_ms": median(three_runs.walls) * 1000,
    }
    return ScenarioResult("latency", measurements, chart, time.perf_counter() - started)


def median_ms(
    key: str, scenario: str, what: str, seconds: list[float], target_s: float, detail: str
) -> Measurement:
    """A row whose measure is the median of `seconds`, shown in ms, against an upper bound in seconds."""
    samples = [value * 1000 for value in seconds]
    return Measurement.at_most(key, scenario, what, median(samples), target_s * 1000, "ms", detail, samples)
