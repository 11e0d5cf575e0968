"""Scenario 6: scale — 200 concurrent reviews × 3 models, and no memory left behind.

One review (3 models at 2 s) is timed alone; then 200 are sent at once (600 HTTP calls) and timed
until the last result arrives. `policy.max_parallel_calls` is raised to 600 for this scenario (the
default of 64 deliberately queues calls beyond 64, which would serialize the load into waves).
The server's RSS is read (from /proc) after a warm-up review, then after each of the 10 rounds of
200 reviews (2,000 requests in all), and once more after a short idle.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks import Measurement, ScenarioResult, Settings, median
from benchmarks.client import chorus_server
from benchmarks.model_host import ModelHost
from benchmarks.workload import check_review, open_source, panel_options, review, review_params, script_panel

CONCURRENT = 200
ROUNDS = 10
MODEL_LATENCY = 2.0
WALL_FACTOR = 1.5
RSS_TOLERANCE = 0.10


async def run(settings: Settings) -> ScenarioResult:
    """Time 200 concurrent reviews against one; track the server's RSS over 2,000 requests."""
    started = time.perf_counter()
    concurrent = 20 if settings.quick else CONCURRENT
    rounds = 2 if settings.quick else ROUNDS
    latency = 0.5 if settings.quick else MODEL_LATENCY
    seats = {"load_a": latency, "load_b": latency, "load_c": latency}
    policy = {"max_parallel_calls": 3 * CONCURRENT}
    single: list[float] = []
    loaded: list[float] = []
    rss: list[float] = []
    with ModelHost() as host:
        script_panel(host, seats)
        async with chorus_server(panel_options(host, list(seats), policy)) as session:
            client = session.client
            uri = open_source(client, session.workspace)
            await review(client, uri, len(seats))
            for _ in range(settings.reps(3, 1)):
                single.append((await review(client, uri, len(seats))).seconds)
            await asyncio.sleep(0.5)
            rss.append(client.rss_mb())
            for _ in range(rounds):
                sent = time.perf_counter()
                replies = await asyncio.gather(
                    *(
                        client.send_request("chorus/reviewSelection", review_params(uri))
                        for _ in range(concurrent)
                    )
                )
                loaded.append(max(reply.received for reply in replies) - sent)
                for reply in replies:
                    check_review(reply, len(seats))
                rss.append(client.rss_mb())
            await asyncio.sleep(2.0)
            rss.append(client.rss_mb())
            calls = len(host.requests())
    one = median(single)
    first_round = loaded[0]
    growth = (rss[-1] - rss[0]) / rss[0]
    measurements = [
        Measurement.at_most(
            "scale_wall",
            "6. scale",
            f"{concurrent} concurrent reviews × 3 models: wall / one review",
            median(loaded) / one,
            WALL_FACTOR,
            "×",
            detail=f"one review {one * 1000:.0f} ms, {concurrent} concurrent {median(loaded) * 1000:.0f} ms "
            f"(median of {rounds} rounds; first round {first_round * 1000:.0f} ms); {calls} HTTP calls",
            samples=[wall * 1000 for wall in loaded],
        ),
        Measurement.at_most(
            "scale_rss",
            "6. scale",
            f"RSS after {rounds * concurrent} requests vs before",
            growth * 100,
            RSS_TOLERANCE * 100,
            "%",
            detail=f"{rss[0]:.0f} MiB before, peak {max(rss):.0f} MiB, {rss[-1]:.0f} MiB after",
            samples=rss,
        ),
    ]
    model_ms = latency * 1000
    chart = {
        "bars": [
            {
                "label": f"1 review (3 models at {latency:g} s)",
                "model_ms": model_ms,
                "chorus_ms": one * 1000 - model_ms,
            },
            {
                "label": f"{concurrent} concurrent reviews",
                "model_ms": model_ms,
                "chorus_ms": median(loaded) * 1000 - model_ms,
            },
        ],
        "rss_mb": rss,
        "rounds_of": concurrent,
    }
    return ScenarioResult("scale", measurements, chart, time.perf_counter() - started)
