"""Scenario "learning": does Chorus learn which models to trust, from a simulated user's verdicts?

Planted models (`benchmarks.learning_cases.PLANTED`: precision/recall 0.9/0.6, 0.6/0.8, 0.3/0.3
and a fast one that is right 75 % of the time but fails 30 % of its calls) review generated cases
with known true issues, through the real review pipeline, over real HTTP to a fake model host on
127.0.0.1, into real SQLite stores; a simulated user accepts the true findings and dismisses the
false ones (`benchmarks.learning_sim`). 500 rounds (one new case each), 60 with `--quick`.

Measured (after the warm-up, the first min(50, rounds / 2) rounds, unless said otherwise):

- the round from which the learnt trust ranks the models as their planted precision does, and
  keeps ranking them so to the end (target ≤ 50);
- the weighted merge's precision against the counted merge's and the best single model's (best by
  F1), and its
  recall against the counted merge's (as shortfalls in percentage points: target ≤ 0);
- the automatic panel of two (`panels.review = "auto"`, `[panels.auto] size = 2`) against the full
  panel (weighted): its F1 shortfall 1 − F1_auto / F1_full (target ≤ 0.05, i.e. ≥ 95 % of the
  full panel's F1) and its cost over the full panel's (target ≤ 0.60).

The chart data holds each round's trust per model and the rolling (last `ROLLING` rounds)
precision, recall and cost; `benchmarks.learning_chart` draws it (docs/learning.png).
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, Final

from benchmarks import Measurement, ScenarioResult, Settings
from benchmarks.learning_cases import planted_order
from benchmarks.learning_sim import Round, Simulation, Tally, simulate

FULL_ROUNDS: Final = 500
QUICK_ROUNDS: Final = 60
WARM_UP: Final = 50
ROLLING: Final = 25
PROGRESS_EVERY: Final = 100
RANK_TARGET: Final = 50
F1_SHORTFALL_TARGET: Final = 0.05
COST_RATIO_TARGET: Final = 0.60
SCENARIO: Final = "10. learning"


def ranked_correctly(measured: Round, order: Sequence[str]) -> bool:
    """Whether the round's trust means fall strictly in the planted order."""
    means = [measured.trust[name][0] if name in measured.trust else float("nan") for name in order]
    return all(high > low for high, low in itertools.pairwise(means))


def settled_round(rounds: Sequence[Round], order: Sequence[str]) -> int | None:
    """The first round from which the trust ranks the models correctly in every later round (None: never)."""
    settled: int | None = None
    for measured in rounds:
        if ranked_correctly(measured, order):
            settled = measured.index if settled is None else settled
        else:
            settled = None
    return settled


def total(tallies: Iterable[Tally]) -> Tally:
    """The sum of `tallies`."""
    summed = Tally()
    for tally in tallies:
        summed.add(tally)
    return summed


def warm_up(rounds: int) -> int:
    """Rounds left out of the comparisons: min(WARM_UP, rounds / 2)."""
    return min(WARM_UP, rounds // 2)


def rolling(rounds: Sequence[Round], pick: Any) -> dict[str, list[float]]:
    """Precision and recall over the last ROLLING rounds, at every round, of `pick(round)`."""
    precision, recall = [], []
    for end in range(1, len(rounds) + 1):
        tally = total(t for t in (pick(r) for r in rounds[max(0, end - ROLLING) : end]) if t is not None)
        precision.append(round(tally.precision, 4))
        recall.append(round(tally.recall, 4))
    return {"precision": precision, "recall": recall}


def chart_data(simulation: Simulation, best_single: str) -> dict[str, Any]:
    """What `learning_chart` draws."""
    rounds = simulation.rounds
    models = [model.name for model in simulation.models]
    has_auto = any(r.auto is not None for r in rounds)
    series = {
        "count": rolling(rounds, lambda r: r.count),
        "weighted": rolling(rounds, lambda r: r.weighted),
        f"{best_single} alone": rolling(rounds, lambda r: r.singles[best_single]),
    }
    if has_auto:
        series["auto (2 seats)"] = rolling(rounds, lambda r: r.auto)
    return {
        "rounds": [r.index for r in rounds],
        "rolling": ROLLING,
        "warm_up": warm_up(len(rounds)),
        "planted": {m.name: {"precision": m.precision, "recall": m.recall} for m in simulation.models},
        "trust": {name: [round(r.trust.get(name, (0.5, 0.5, 0.5))[0], 4) for r in rounds] for name in models},
        "trust_low": {name: [round(r.trust.get(name, (0.5,) * 3)[1], 4) for r in rounds] for name in models},
        "trust_high": {name: [round(r.trust.get(name, (0.5,) * 3)[2], 4) for r in rounds] for name in models},
        "series": series,
        "cost_full": [round(r.full_cost * 1000, 5) for r in rounds],
        "cost_auto": [round(r.auto_cost * 1000, 5) for r in rounds] if has_auto else [],
    }


def points(value: float) -> float:
    """A difference of two fractions in percentage points, to 0.1."""
    return round(value * 100, 1)


def measurements(simulation: Simulation) -> tuple[list[Measurement], str]:
    """The scenario's rows, and the best single model's name."""
    rounds, order = simulation.rounds, planted_order(simulation.models)
    window = rounds[warm_up(len(rounds)) :]
    settled = settled_round(rounds, order)
    count, weighted = total(r.count for r in window), total(r.weighted for r in window)
    singles = {name: total(r.singles[name] for r in window) for name in order}
    best = max(singles, key=lambda name: singles[name].f1)
    span = f"rounds {window[0].index}-{window[-1].index}" if window else "no rounds"
    last = rounds[-1].trust if rounds else {}
    trust_text = ", ".join(f"{name} {last.get(name, (0.0,))[0]:.2f}" for name in order)
    rows = [
        Measurement.at_most(
            "learning_trust_rank_round",
            SCENARIO,
            "round from which learnt trust ranks the planted models correctly",
            float(settled if settled is not None else len(rounds) + 1),
            RANK_TARGET,
            "rounds",
            detail=f"order {' > '.join(order)}; trust at round {len(rounds)}: {trust_text}"
            + ("" if settled is not None else "; never settled"),
        ),
        Measurement.at_most(
            "learning_precision_vs_count",
            SCENARIO,
            "count merge precision − weighted merge precision",
            points(count.precision - weighted.precision),
            0.0,
            "pp",
            detail=f"weighted {weighted.precision:.3f}, count {count.precision:.3f} ({span})",
        ),
        Measurement.at_most(
            "learning_precision_vs_best_single",
            SCENARIO,
            "best single model's precision − weighted merge precision",
            points(singles[best].precision - weighted.precision),
            0.0,
            "pp",
            detail=f"{best} alone {singles[best].precision:.3f} at recall {singles[best].recall:.3f}; "
            + ", ".join(f"{n} {t.precision:.2f}/{t.recall:.2f}" for n, t in singles.items()),
        ),
        Measurement.at_most(
            "learning_recall_vs_count",
            SCENARIO,
            "count merge recall − weighted merge recall",
            points(count.recall - weighted.recall),
            0.0,
            "pp",
            detail=f"weighted {weighted.recall:.3f}, count {count.recall:.3f}; F1 weighted "
            f"{weighted.f1:.3f}, count {count.f1:.3f}",
        ),
    ]
    if any(r.auto is not None for r in window):
        rows += auto_rows(simulation, window, weighted, count)
    agreed = sum(r.agrees for r in rounds)
    skipped: dict[str, int] = {}
    for measured in rounds:
        for seat in measured.skipped:
            skipped[seat] = skipped.get(seat, 0) + 1
    benched = ", ".join(f"{seat} in {times}" for seat, times in sorted(skipped.items())) or "none"
    rows.append(
        Measurement.report(
            "learning_pipeline_agrees",
            SCENARIO,
            "rounds where the pipeline's weighted votes equal merge_findings(trust=…) recomputed",
            float(agreed),
            "rounds",
            detail=f"of {len(rounds)}; full-panel seats skipped (breaker): {benched}; seat costs recorded "
            f"{simulation.cost_source['recorded']}, computed from tokens × configured prices "
            f"{simulation.cost_source['computed']}; store writes dropped: "
            + (", ".join(f"{w} {t}" for w, t in simulation.store_trouble.items()) or "none"),
        )
    )
    return rows, best


def auto_rows(
    simulation: Simulation, window: Sequence[Round], weighted: Tally, count: Tally
) -> list[Measurement]:
    """The automatic panel's F1 shortfall and cost ratio, with the best pair of seats for reference."""
    auto = total(r.auto for r in window if r.auto is not None)
    full_cost = sum(r.full_cost for r in window)
    auto_cost = sum(r.auto_cost for r in window)
    ratio = auto_cost / full_cost if full_cost else float("inf")
    seats: dict[str, int] = {}
    for measured in window:
        for seat in measured.auto_seats:
            seats[seat] = seats.get(seat, 0) + 1
    asked = ", ".join(f"{seat} {times}" for seat, times in sorted(seats.items(), key=lambda item: -item[1]))
    pair_rows = []
    for pair in window[0].pairs:
        tally = total(r.pairs[pair] for r in window)
        cost = sum(sum(r.seat_costs.get(seat, 0.0) for seat in pair.split("+")) for r in window)
        pair_rows.append(
            (tally.f1 / weighted.f1 if weighted.f1 else 0.0, cost / full_cost if full_cost else 0.0, pair)
        )
    fitting = [row for row in pair_rows if row[1] <= COST_RATIO_TARGET] or pair_rows
    best_f1, best_cost, best_pair = max(fitting)
    return [
        Measurement.at_most(
            "learning_auto_f1_shortfall",
            SCENARIO,
            "auto panel of 2: F1 shortfall vs the full panel (1 − auto/full)",
            round(1 - auto.f1 / weighted.f1, 3) if weighted.f1 else 1.0,
            F1_SHORTFALL_TARGET,
            "×",
            detail=f"F1 auto {auto.f1:.3f} (P {auto.precision:.2f}, R {auto.recall:.2f}), full weighted "
            f"{weighted.f1:.3f}, full count {count.f1:.3f}; seats asked: {asked}",
        ),
        Measurement.at_most(
            "learning_auto_cost_ratio",
            SCENARIO,
            "auto panel of 2: cost / full panel's cost",
            round(ratio, 3),
            COST_RATIO_TARGET,
            "×",
            detail=f"${auto_cost:.4f} vs ${full_cost:.4f}; best pair within the cost target on the same "
            f"answers: {best_pair} (F1 {best_f1:.2f} of full, cost {best_cost:.2f})",
        ),
    ]


async def run(settings: Settings) -> ScenarioResult:
    """Simulate, measure, and hand the chart its data."""
    started = time.perf_counter()
    rounds = QUICK_ROUNDS if settings.quick else FULL_ROUNDS

    def progress(measured: Round) -> None:
        if measured.index % PROGRESS_EVERY == 0 and measured.index < rounds:
            elapsed = time.perf_counter() - started
            print(f"benchmarks: learning round {measured.index}/{rounds}, {elapsed:.0f} s", file=sys.stderr)

    simulation = await simulate(rounds, on_round=progress)
    rows, best = measurements(simulation)
    return ScenarioResult(
        "learning", rows, {"learning": chart_data(simulation, best)}, time.perf_counter() - started
    )
