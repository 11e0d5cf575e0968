"""`orchestration.learning.trust`: each model's Beta posterior, on SQLite and a real PostgreSQL.

Stores are written through `Store.write` (which keeps the records' own times, so old evidence is
written as old) and every estimate is worked out by hand: the prior Beta(2·weight, 2), a verdict
counting 1, agreement counting `agreement_weight`, both halving every `half_life_days`. The Beta
quantiles are checked against closed forms and the binomial identity of the incomplete beta.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest

from orchestration.learning.beta import beta_cdf, beta_quantile, credible_interval
from orchestration.learning.settings import LearningConfig
from orchestration.learning.trust import TrustEstimate, TrustReport, model_weights, trust_scores
from orchestration.memory.records import FeedbackEvent, FindingRecord, RunStart, SeatCall, StoreWrite, Verdict
from orchestration.memory.settings import StoreConfig
from orchestration.memory.store import Store
from orchestration.types.config import ChorusConfig, ModelConfig
from tests.postgres import SKIP_REASON, PostgresServer, find_bindir

NOW = 1_900_000_000.0
DAY = 86400.0
SEATS = {"a": "openai/a", "b": "openai/b"}
ON = LearningConfig()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    server = PostgresServer.start(bindir)
    yield server
    server.destroy()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store on each backend."""
    if request.param == "sqlite":
        config = StoreConfig(path=tmp_path / "store" / "chorus.db")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        config = StoreConfig(url=server.create_database(), path=tmp_path / "pg-keys" / "chorus.db")
    with Store.open(config) as opened:
        yield opened


class Runs:
    """Writes panel runs whose merged findings name the seats that reported them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.count = 0

    def finding(
        self,
        *reporters: str,
        category: str = "bug",
        verdicts: tuple[Verdict, ...] = (),
        at: float = NOW,
        task: str = "review",
        seats: dict[str, str] = SEATS,
    ) -> str:
        """One run at `at` of `seats` with one merged finding by `reporters`, judged `verdicts` at `at`."""
        self.count += 1
        run = RunStart(task=task, seats=tuple(seats), started_at=at)
        finding_id = f"{self.count:016x}"
        records: list[StoreWrite] = [run]
        records += [
            SeatCall(run_id=run.run_id, seat=seat, model=model, status="ok", at=at)
            for seat, model in seats.items()
        ]
        records.append(
            FindingRecord(
                finding_id=finding_id, run_id=run.run_id, start_line=1, end_line=1, votes=len(reporters),
                panel_size=len(seats), severity="error", category=category, message="m", models=reporters,
                fingerprint=finding_id * 2,
            )
        )  # fmt: skip
        records += [
            FeedbackEvent(finding_id=finding_id, verdict=v, at=at + i) for i, v in enumerate(verdicts)
        ]
        self.store.write(records)
        return finding_id


def by_model(report: TrustReport) -> dict[str, TrustEstimate]:
    return {estimate.model: estimate for estimate in report.models}


def test_beta_quantiles_match_closed_forms_and_the_binomial_identity() -> None:
    assert beta_quantile(0.3, 1, 1) == pytest.approx(0.3, abs=1e-12)
    assert beta_quantile(0.25, 2, 1) == pytest.approx(0.5, abs=1e-12)  # CDF x²
    assert beta_quantile(0.9, 1, 3) == pytest.approx(1 - 0.1 ** (1 / 3), abs=1e-12)  # CDF 1-(1-x)³
    low, high = credible_interval(2, 2)  # CDF 3x² - 2x³
    assert 3 * low**2 - 2 * low**3 == pytest.approx(0.05, abs=1e-12) and high == pytest.approx(1 - low)
    assert beta_cdf(0.5, 7.5, 7.5) == pytest.approx(0.5, abs=1e-12)
    for a, b, x in [(7, 4, 0.63), (30, 12, 0.7), (3, 40, 0.02), (120, 80, 0.61)]:
        n = a + b - 1  # I_x(a, b) = P(Binomial(a + b - 1, x) >= a)
        tail = sum(math.comb(n, k) * x**k * (1 - x) ** (n - k) for k in range(a, n + 1))
        assert beta_cdf(x, a, b) == pytest.approx(tail, abs=1e-12)
        assert beta_quantile(tail, a, b) == pytest.approx(x, abs=1e-9)
    with pytest.raises(ValueError, match="positive"):
        beta_cdf(0.5, 0, 1)


def test_verdicts_and_agreement_give_each_model_its_posterior(store: Store) -> None:
    runs = Runs(store)
    runs.finding("a", "b", category="bug", verdicts=("accept",))  # both agreed; accepted
    runs.finding("a", category="style", verdicts=("dismiss",))  # a alone; dismissed
    report = trust_scores(store, ON, now=NOW)
    a, b = by_model(report)["openai/a"], by_model(report)["openai/b"]
    assert (a.successes, a.failures, a.events, a.verdicts) == (1.25, 1.25, 4, 2)
    assert a.mean == pytest.approx(0.5)  # Beta(2 + 1.25, 2 + 1.25)
    assert (b.successes, b.failures, b.events, b.verdicts) == (1.25, 0.0, 2, 1)
    assert b.mean == pytest.approx(3.25 / 5.25)
    assert (b.low, b.high) == pytest.approx(credible_interval(3.25, 2.0))
    assert [e.model for e in report.models] == ["openai/b", "openai/a"]  # best first
    scores = {(e.model, e.task, e.category): (e.successes, e.failures) for e in report.scores}
    assert scores == {
        ("openai/a", "review", "bug"): (1.25, 0.0),
        ("openai/a", "review", "style"): (0.0, 1.25),
        ("openai/b", "review", "bug"): (1.25, 0.0),
    }
    assert (a.task, a.category) == (None, None)


def test_old_evidence_counts_less(store: Store) -> None:
    runs = Runs(store)
    runs.finding("a", "b", verdicts=("accept",), at=NOW - 30 * DAY, seats={"a": "openai/a", "b": "openai/c"})
    runs.finding("a", "b", verdicts=("accept",), at=NOW)
    models = by_model(trust_scores(store, ON, now=NOW))
    old, new = models["openai/c"], models["openai/b"]
    assert old.successes == pytest.approx(0.625, rel=1e-6)  # (1 + 0.25) halved after one half-life
    assert new.successes == pytest.approx(1.25) and old.events == new.events == 2
    assert old.mean < new.mean
    slow = by_model(trust_scores(store, LearningConfig(half_life_days=300), now=NOW))["openai/c"]
    assert slow.successes == pytest.approx(1.25 * 0.5**0.1, rel=1e-6)
    recent = by_model(trust_scores(store, ON, since_s=DAY, now=NOW))
    assert "openai/c" not in recent and recent["openai/a"].events == 2


def test_the_configured_weight_sets_the_prior(store: Store) -> None:
    config = ChorusConfig(
        models={
            "a": ModelConfig(model="openai/a", weight=3.0),
            "a2": ModelConfig(model="openai/a", weight=1.0),
            "z": ModelConfig(model="openai/z", weight=0.5),
        }
    )
    weights = model_weights(config.models)
    assert weights == {"openai/a": 2.0, "openai/z": 0.5}
    Runs(store).finding("a", "b", verdicts=("useful",))
    report = trust_scores(store, ON, weights=weights, now=NOW)
    assert by_model(report)["openai/a"].mean == pytest.approx((4 + 1.25) / (4 + 1.25 + 2))
    assert by_model(report)["openai/b"].mean == pytest.approx(3.25 / 5.25)  # unconfigured: weight 1
    unknown = report.for_model("openai/z")  # nothing recorded: the prior Beta(1, 2) alone
    assert unknown.mean == pytest.approx(1 / 3) and unknown.events == 0
    assert (unknown.low, unknown.high) == pytest.approx(credible_interval(1.0, 2.0))


def test_the_interval_narrows_with_more_events(store: Store) -> None:
    runs = Runs(store)
    widths = []
    for _ in range(3):
        for _ in range(8):
            runs.finding("a", verdicts=("accept",))
            runs.finding("a", verdicts=("dismiss",))
        estimate = by_model(trust_scores(store, LearningConfig(agreement_weight=0), now=NOW))["openai/a"]
        assert estimate.mean == pytest.approx(0.5) and estimate.low < 0.5 < estimate.high
        widths.append(estimate.high - estimate.low)
    assert widths[0] > widths[1] > widths[2]
    assert estimate.events == 48 and estimate.verdicts == 48


def test_the_latest_verdict_is_the_users_word(store: Store) -> None:
    runs = Runs(store)
    runs.finding("a", verdicts=("accept", "dismiss"))  # dismissed last: a failure
    runs.finding("a", verdicts=("dismiss", "useful", "accept"))  # one success, however often judged
    estimate = by_model(trust_scores(store, LearningConfig(agreement_weight=0), now=NOW))["openai/a"]
    assert (estimate.successes, estimate.failures, estimate.verdicts) == (1.0, 1.0, 2)


def test_agreement_needs_a_panel_and_min_agreement(store: Store) -> None:
    runs = Runs(store)
    three = {"a": "openai/a", "b": "openai/b", "c": "openai/c"}
    runs.finding("a", "b", seats=three)  # 2 of 3 votes
    runs.finding("a", seats={"a": "openai/a"})  # a panel of one: nobody to agree with
    two = by_model(trust_scores(store, ON, min_agreement=2, now=NOW))
    assert (two["openai/a"].successes, two["openai/a"].failures, two["openai/a"].events) == (0.25, 0.0, 1)
    assert "openai/c" not in two  # it reported nothing
    strict = by_model(trust_scores(store, ON, min_agreement=3, now=NOW))
    assert (strict["openai/a"].successes, strict["openai/a"].failures) == (0.0, 0.25)
    assert trust_scores(store, LearningConfig(agreement_weight=0), now=NOW).models == ()


def test_task_narrows_and_learning_off_reads_nothing(store: Store) -> None:
    runs = Runs(store)
    runs.finding("a", verdicts=("accept",), task="implement")
    runs.finding("b", verdicts=("dismiss",), task="review")
    assert [e.model for e in trust_scores(store, ON, task="implement", now=NOW).models] == ["openai/a"]
    off = trust_scores(store, LearningConfig(enabled=False), now=NOW)
    assert (off.enabled, off.models, off.scores) == (False, (), ())


def test_report_is_json(store: Store) -> None:
    Runs(store).finding("a", "b", verdicts=("accept",))
    report = trust_scores(store, ON, weights={"openai/a": 2.0}, now=NOW)
    data = json.loads(json.dumps(report.to_json()))
    assert set(data) == {
        "enabled", "since", "task", "generated_at", "half_life_days", "agreement_weight", "models",
        "scores", "weights",
    }  # fmt: skip
    assert set(data["models"][0]) == {field.name for field in fields(TrustEstimate)}
    assert data["weights"] == {"openai/a": 2.0} and data["half_life_days"] == 30.0
    assert set(report.models[0].summary()) == {"mean", "low", "high", "events", "verdicts"}
