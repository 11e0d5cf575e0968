"""Scenario 8: the sequential baseline — the same 3-model review, one model after another.

This is how a consensus tool that consults models in turn (PAL's `consensus`) spends the user's
time: seat after seat, each with the same prompt, then a merge. It runs in this process through
the same orchestration pieces (prompt, `complete_chat`, parsing, merge) against the same fake
models (200/400/800 ms), and is compared with Chorus's parallel wall time over LSP (scenario 1).
"""

from __future__ import annotations

import time

from benchmarks import Measurement, ScenarioResult, Settings, median
from benchmarks.model_host import ModelHost
from benchmarks.workload import REVIEW_LAST, SOURCE, script_panel
from orchestration.answers.parsing import parse_review
from orchestration.answers.prompts import review_messages
from orchestration.merge.consensus import merge_findings
from orchestration.privacy.gate import OPEN_GATE
from orchestration.providers.chat import close_clients, complete_chat, ensure_litellm
from orchestration.types.config import ModelConfig
from orchestration.types.requests import ReviewRequest, SourceDocument

LATENCIES = {"seq_200ms": 0.2, "seq_400ms": 0.4, "seq_800ms": 0.8}


async def sequential_review(seats: dict[str, ModelConfig], request: ReviewRequest) -> int:
    """Ask each seat in turn, parse, merge; returns the number of merged findings."""
    answers = {}
    for name, seat in seats.items():
        raw = await complete_chat(name, seat, review_messages(request, seat.instructions), gate=OPEN_GATE)
        answers[name] = parse_review(
            raw, start_line=request.start_line, end_line=request.last_line, seat=name
        )
    return len(merge_findings(answers, answered=list(answers)))


async def run(settings: Settings, parallel_wall_ms: float | None) -> ScenarioResult:
    """Time the sequential review and compare it with Chorus's parallel wall time."""
    started = time.perf_counter()
    request = ReviewRequest(
        document=SourceDocument(path="orders.py", text=SOURCE), start_line=1, end_line=REVIEW_LAST
    )
    walls: list[float] = []
    await ensure_litellm()
    try:
        with ModelHost() as host:
            script_panel(host, LATENCIES)
            seats = {
                name: ModelConfig(model=f"openai/{name}", api_base=host.base_url, timeout=30)
                for name in LATENCIES
            }
            await sequential_review(seats, request)
            cpu_before = time.process_time()
            for _ in range(settings.reps(7, 1)):
                begin = time.perf_counter()
                merged = await sequential_review(seats, request)
                walls.append(time.perf_counter() - begin)
                if not merged:
                    raise RuntimeError("the sequential review found nothing")
            cpu_per_call = (time.process_time() - cpu_before) / (len(walls) * len(seats))
    finally:
        await close_clients()
    sequential_ms = median(walls) * 1000
    parallel = parallel_wall_ms if parallel_wall_ms is not None else float("nan")
    measurements = [
        Measurement.report(
            "sequential_wall",
            "8. sequential baseline",
            "3 models one after another (200+400+800 ms)",
            sequential_ms,
            "ms",
        ),
        Measurement.report(
            "sequential_ratio",
            "8. sequential baseline",
            "sequential / Chorus parallel wall time",
            sequential_ms / parallel,
            "×",
            detail=f"Chorus parallel (scenario 1, over LSP) {parallel:.0f} ms",
        ),
    ]
    measurements.append(
        Measurement.report(
            "model_call_cpu",
            "8. sequential baseline",
            "CPU per model call in this process (litellm + prompt, parsing, merge)",
            cpu_per_call * 1000,
            "ms",
            detail="the floor under scenarios 1, 3, 4 and 6: every call costs this on the server's one core",
        )
    )
    chart = {
        "bars": [
            {
                "label": "sequential, 3 models (PAL-style)",
                "model_ms": 1400.0,
                "chorus_ms": sequential_ms - 1400.0,
            }
        ]
    }
    return ScenarioResult("sequential", measurements, chart, time.perf_counter() - started)
