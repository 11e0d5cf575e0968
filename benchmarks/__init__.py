"""End-to-end benchmarks: what Chorus costs beyond the models it waits for.

`python -m benchmarks` drives the real language server (`python -m server serve`) over stdio with a
minimal JSON-RPC client, against the fake OpenAI-compatible server (`tests.fake_models`) running in a
separate process with scripted per-model latencies. It prints a table (measured, target, pass/fail),
writes `benchmarks/results.json` and `benchmarks/chart.png`. `--quick` is the CI smoke mode: few
repetitions and small sizes, to check that the benchmarks run, not their timings.

Each scenario module exposes `async def run(settings: Settings) -> ScenarioResult`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Settings:
    """How hard to measure: repetitions and sizes (quick mode for CI)."""

    quick: bool = False

    def reps(self, full: int, quick: int = 2) -> int:
        """Repetitions of a timed run."""
        return quick if self.quick else full


@dataclass
class Measurement:
    """One row of the results table."""

    key: str
    scenario: str
    what: str
    measured: float
    target: float | None
    unit: str
    passed: bool | None
    detail: str = ""
    samples: list[float] = field(default_factory=list)

    @classmethod
    def at_most(
        cls,
        key: str,
        scenario: str,
        what: str,
        measured: float,
        target: float,
        unit: str,
        detail: str = "",
        samples: list[float] | None = None,
    ) -> Measurement:
        """A measurement whose target is an upper bound."""
        return cls(key, scenario, what, measured, target, unit, measured <= target, detail, samples or [])

    @classmethod
    def report(
        cls, key: str, scenario: str, what: str, measured: float, unit: str, detail: str = ""
    ) -> Measurement:
        """A figure reported without a target."""
        return cls(key, scenario, what, measured, None, unit, None, detail)

    def as_json(self) -> dict[str, Any]:
        """The row as JSON, samples rounded."""
        row = asdict(self)
        row["measured"] = round(self.measured, 3)
        row["samples"] = [round(sample, 3) for sample in self.samples]
        return row


@dataclass
class ScenarioResult:
    """What one scenario measured, plus the figures its chart panel draws."""

    name: str
    measurements: list[Measurement]
    chart: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def median(values: list[float]) -> float:
    """The median (NaN when there are no values)."""
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile, e.g. `percentile(samples, 0.99)` (NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]
