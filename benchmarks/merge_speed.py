"""Scenario 7: merging 1k, 10k and 100k findings from 10 models, and how the time grows.

The findings are synthetic but shaped like real panels' output on a long file: problems that
several seats report (each in its own words, sometimes a line off, sometimes under a related
category, some with fixes), plus each seat's own remarks (noise), on lines dense enough that
clusters sit next to each other. The inputs are built before the clock starts; the timed part is
`merge_findings` alone, in this process.
"""

from __future__ import annotations

import itertools
import math
import random
import time

from benchmarks import Measurement, ScenarioResult, Settings, median
from orchestration.merge.consensus import merge_findings
from orchestration.types.findings import Category, Finding, Fix, Severity

SEATS = [f"seat{index}" for index in range(10)]
TARGET_MS = 100.0
GROWTH_TOLERANCE = 1.25
"""Time per n·log n may grow at most this much from one size to the next (n log n or better)."""

_PROBLEMS = [
    (
        "bug",
        [
            "Off-by-one: {name} reads past the end",
            "IndexError when i == len({name})",
            "Loop bound on {name} is one too high",
            "range over {name} should stop at len({name})",
        ],
    ),
    (
        "security",
        [
            "SQL injection: {name} is formatted into the query",
            "User input {name} reaches db.execute unescaped",
            "Use a parameterized query for {name}",
        ],
    ),
    (
        "performance",
        [
            "Quadratic string building in {name}",
            "{name} concatenated in a loop; use join",
            "Repeated += on {name} copies the string each time",
        ],
    ),
    (
        "bug",
        [
            "{name} may be None here",
            "Possible AttributeError: {name} is Optional",
            "Missing None check before using {name}",
        ],
    ),
    (
        "maintainability",
        [
            "File handle {name} is never closed",
            "Use a with block for {name}",
            "Resource leak: {name} stays open",
        ],
    ),
]
_RELATED = {"bug": "security", "security": "bug", "performance": "bug", "maintainability": "style"}
_NOISE = [
    ("style", "Name {name} does not follow snake_case"),
    ("style", "Line too long near {name}"),
    ("maintainability", "Magic number used with {name}"),
    ("bug", "Broad except hides errors around {name}"),
    ("performance", "{name} recomputed on every call"),
]
_SEVERITIES = [Severity.ERROR, Severity.WARNING, Severity.WARNING, Severity.INFO]


def synthetic_findings(total: int, seed: int = 7) -> dict[str, list[Finding]]:
    """About `total` findings from 10 seats: ~70 % shared problems (≈6 seats each), ~30 % noise."""
    rng = random.Random(seed)
    answers: dict[str, list[Finding]] = {seat: [] for seat in SEATS}
    lines = max(50, total // 2)
    produced = 0
    while produced < total * 0.7:
        category, wordings = rng.choice(_PROBLEMS)
        name = f"var{rng.randrange(10_000)}"
        line = rng.randrange(1, lines)
        span = rng.choice([0, 0, 0, 1, 2])
        fix = rng.random() < 0.3
        for seat in SEATS:
            if rng.random() < 0.6:
                shift = rng.choice([0, 0, 0, 0, 1, -1])
                start = max(1, line + shift)
                seat_category = _RELATED[category] if rng.random() < 0.1 else category
                message = rng.choice(wordings).format(name=name)
                answers[seat].append(_finding(seat, start, start + span, seat_category, message, fix, rng))
                produced += 1
    while produced < total:
        seat = rng.choice(SEATS)
        category, message = rng.choice(_NOISE)
        start = rng.randrange(1, lines)
        answers[seat].append(
            _finding(
                seat, start, start, category, message.format(name=f"n{rng.randrange(10**6)}"), False, rng
            )
        )
        produced += 1
    return answers


def _finding(
    seat: str, start: int, end: int, category: str, message: str, fix: bool, rng: random.Random
) -> Finding:
    return Finding(
        start_line=start,
        end_line=end,
        severity=rng.choice(_SEVERITIES),
        category=Category(category),
        message=message,
        fix=Fix(start_line=start, end_line=end, replacement=f"    fixed_{rng.randrange(3)}()\n")
        if fix
        else None,
        model=seat,
    )


def time_merge(answers: dict[str, list[Finding]], reps: int) -> tuple[float, int]:
    """Median seconds of `merge_findings` over `reps` runs, and the number of merged findings."""
    times: list[float] = []
    merged = 0
    for _ in range(reps):
        begin = time.perf_counter()
        result = merge_findings(answers, answered=SEATS, min_agreement=2)
        times.append(time.perf_counter() - begin)
        merged = len(result)
    return median(times), merged


async def run(settings: Settings) -> ScenarioResult:
    """Time the merge at 1k, 10k and 100k findings (1k and 10k in quick mode)."""
    started = time.perf_counter()
    sizes = [1_000, 10_000] if settings.quick else [1_000, 10_000, 100_000]
    reps = {1_000: settings.reps(7, 1), 10_000: settings.reps(5, 1), 100_000: settings.reps(3, 1)}
    points: list[dict[str, float]] = []
    for size in sizes:
        answers = synthetic_findings(size)
        count = sum(len(findings) for findings in answers.values())
        if not settings.quick:
            time_merge(answers, 1)
        seconds, merged = time_merge(answers, reps[size])
        points.append({"n": count, "ms": seconds * 1000, "merged": merged})
    ten_k = next(point for point in points if point["n"] >= 10_000)
    growth = [
        (high["ms"] / (high["n"] * math.log(high["n"]))) / (low["ms"] / (low["n"] * math.log(low["n"])))
        for low, high in itertools.pairwise(points)
    ]
    slope = math.log(points[-1]["ms"] / points[0]["ms"]) / math.log(points[-1]["n"] / points[0]["n"])
    described = ", ".join(f"{p['n']:,.0f}: {p['ms']:.1f} ms → {p['merged']:,.0f} merged" for p in points)
    measurements = [
        Measurement.at_most(
            "merge_10k",
            "7. merge",
            "10,000 findings from 10 models",
            ten_k["ms"],
            TARGET_MS,
            "ms",
            detail=described,
        ),
        Measurement.at_most(
            "merge_growth",
            "7. merge",
            "growth: worst step of time/(n log n), ×",
            max(growth),
            GROWTH_TOLERANCE,
            "×",
            detail=f"log-log slope {slope:.2f} (n log n ≈ 1.1); steps "
            + ", ".join(f"{value:.2f}" for value in growth),
        ),
    ]
    return ScenarioResult("merge", measurements, {"points": points}, time.perf_counter() - started)
