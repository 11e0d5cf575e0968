"""The learning simulation (`benchmarks.learning_sim`): planted models, and learning on the real code.

The planted models are checked against their planted quality over many generated cases (pure
Python). Then a small simulation runs the real review pipeline over real HTTP to the planted models
on 127.0.0.1, into a real SQLite store, with the simulated user's verdicts recorded through the
store's feedback API: the trust the product learns from them must rank the models as planted, the
pipeline's weighted votes must be the ones `merge_findings(trust=...)` gives for that trust, and
weighted votes must be at least as precise as counted ones.
"""

from __future__ import annotations

import itertools

import pytest

from benchmarks.learning import measurements, ranked_correctly, settled_round, total, warm_up
from benchmarks.learning_cases import (
    LINES,
    PLANTED,
    SITE_GAP,
    TRUE_ISSUES,
    answer_findings,
    failure,
    judge,
    make_case,
    planted_order,
)
from benchmarks.learning_sim import Simulation, Tally, score, simulate
from orchestration.types.findings import Finding

CASES = 1500
ROUNDS = 60


def test_cases_keep_their_sites_apart_and_name_themselves() -> None:
    case = make_case(7)
    assert case.text.splitlines()[0] == "# review case c000007 (generated)"
    assert len(case.text.splitlines()) == LINES and len(case.issues) == TRUE_ISSUES
    lines = sorted(site.line for site in (*case.issues, *case.decoys))
    assert all(later - earlier >= SITE_GAP for earlier, later in itertools.pairwise(lines))
    assert not {line for line in case.free} & {line + d for line in lines for d in (-1, 0, 1)}
    assert make_case(7) == case and make_case(8) != case


def test_planted_models_answer_with_their_planted_precision_recall_and_failures() -> None:
    cases = [make_case(index, seed=3) for index in range(CASES)]
    for model in PLANTED:
        tally = Tally()
        for case in cases:
            found = [Finding.model_validate(item) for item in answer_findings(model, case, seed=3)]
            tally.add(score(found, case))
        assert tally.precision == pytest.approx(model.precision, abs=0.04), model.name
        assert tally.recall == pytest.approx(model.recall, abs=0.03), model.name
        failures = [failure(model, case, seed=3) for case in cases]
        assert failures.count("error") / CASES == pytest.approx(model.error_rate, abs=0.03)
        assert failures.count("timeout") / CASES == pytest.approx(model.timeout_rate, abs=0.03)
    case = cases[0]
    sites = [
        Finding(start_line=site.line, end_line=site.line, category=site.category, message=site.message)
        for site in (*case.issues, *case.issues, *case.decoys)
    ]
    assert judge(sites, case) == [True] * 5 + [False] * (5 + 6)  # An issue is claimed once.


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    """One small simulation of the full panel (no automatic panel), shared by the tests below."""
    import anyio

    return anyio.run(lambda: simulate(ROUNDS, seed=1, auto=False))


def test_trust_learnt_from_the_users_verdicts_ranks_the_planted_models(simulation: Simulation) -> None:
    rounds, order = simulation.rounds, planted_order(simulation.models)
    assert len(rounds) == ROUNDS and order == ["sharp", "flaky", "eager", "sloppy"]
    settled = settled_round(rounds, order)
    assert settled is not None and settled <= ROUNDS // 2  # From then on, to the end.
    assert all(ranked_correctly(measured, order) for measured in rounds[settled - 1 :])
    final = {name: estimate[0] for name, estimate in rounds[-1].trust.items()}
    assert final["sharp"] > 0.75 and final["sloppy"] < 0.4
    assert all(low < mean < high for mean, low, high in rounds[-1].trust.values())
    singles = {name: total(r.singles[name] for r in rounds) for name in order}  # Parsed by the pipeline.
    assert singles["sharp"].precision > 0.8 and singles["sloppy"].precision < 0.45
    assert singles["eager"].recall > singles["sharp"].recall > singles["sloppy"].recall


def test_weighted_votes_are_the_pipelines_and_more_precise_than_counted_ones(simulation: Simulation) -> None:
    rounds = simulation.rounds
    assert sum(measured.agrees for measured in rounds) >= 0.8 * len(rounds)
    window = rounds[warm_up(len(rounds)) :]
    count, weighted = total(r.count for r in window), total(r.weighted for r in window)
    assert weighted.precision > count.precision
    assert weighted.tp + weighted.fp < count.tp + count.fp  # Weighted votes kept fewer findings ...
    assert weighted.tp > 0.6 * count.tp  # ... most of them true ones.
    assert simulation.cost_source["recorded"] + simulation.cost_source["computed"] > 0
    assert simulation.store_trouble == {}  # Every run, verdict and suppression was written.
    assert all(measured.full_cost > 0 for measured in rounds)


def test_the_scenarios_rows_are_computed_from_the_rounds(simulation: Simulation) -> None:
    rows, best = measurements(simulation)
    by_key = {row.key: row for row in rows}
    assert best == "sharp"
    rank = by_key["learning_trust_rank_round"]
    assert rank.measured == settled_round(simulation.rounds, planted_order(simulation.models))
    assert rank.passed is True
    assert by_key["learning_precision_vs_count"].measured < 0
    assert "learning_auto_cost_ratio" not in by_key  # No automatic panel in this run.
