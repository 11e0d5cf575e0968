"""Trust in each model: per model × task × category, a Beta posterior over "a finding is right".

`trust_scores(store, settings, weights=..., min_agreement=...)` reads the store's rows (nothing is
written: the estimate is always today's, so every face and every user of a shared PostgreSQL store
sees the same one) and counts, for each merged finding a seat reported, its model's evidence:

- the user's verdict: "accept" or "useful" is a success, "dismiss" a failure, each counting 1 (per
  finding the latest verdict is the user's word: a finding accepted twice is one success);
- agreement with the consensus, a weaker signal counting `agreement_weight`: a finding of a panel
  of 2+ seats with at least 2 votes and `min_agreement` votes (or the whole panel) is a success
  for every seat that reported it, one that stayed below is a failure.

Evidence decays by age (a verdict's time, a run's start): it counts 2^(-age / half_life). Ages are
grouped by calendar day (UTC), each group decayed at its mean time, as before; the groups now come
from the rollup (`orchestration.memory.rollup`: counts and summed times per model, task,
category, outcome and day, the window's first day from its rows), so a report reads
O(models × days) rows whatever the store's size. (PostgreSQL used to round days noon to noon; both
backends now use UTC calendar days, as SQLite did.)

The prior is Beta(2·w, 2), w the configured `weight` of the seats that use the model (their mean;
1.0 for a model no seat names): weight 1 starts at 0.5 as strong as four observations, a heavier
seat starts higher. The posterior adds the decayed successes to α and failures to β; `mean` is
α / (α + β) and `low`..`high` its equal-tailed 90% credible interval (`orchestration.learning.beta`).
A model's roll-up (task and category None) pools all its evidence under one prior.

Seats are named in a merged finding; a seat that only ever called one model gives it its findings,
one that changed gives each run's findings to the model of its call in that run. The window
(`since_s`) keeps findings whose latest verdict was given in it (judged as of that verdict) and runs
started in it; `task` keeps runs of one task.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

from orchestration.learning.beta import credible_interval
from orchestration.learning.settings import LearningConfig
from orchestration.memory import schema
from orchestration.memory.records import JSONValue
from orchestration.memory.rollup import columns
from orchestration.memory.rollup_reads import WindowReader, by_model, seat_models
from orchestration.memory.stats import reading, to_json
from orchestration.memory.store import Store

DAY_S: Final = 86400.0
PRIOR_STRENGTH: Final = 2.0
"""α0 = PRIOR_STRENGTH · weight and β0 = PRIOR_STRENGTH: weight 1 is Beta(2, 2)."""
Key = tuple[str, str, str]
"""(model, task, category)."""


class Seat(Protocol):
    """What the prior needs of a configured seat (`orchestration.types.config.ModelConfig`)."""

    @property
    def model(self) -> str: ...

    @property
    def weight(self) -> float: ...


@dataclass(slots=True, frozen=True)
class TrustEstimate:
    """How far a model's findings can be trusted, for one task and category (None: all of them)."""

    model: str
    task: str | None
    category: str | None
    mean: float
    """The posterior mean of "a finding of this model is right"."""
    low: float
    """The 90% credible interval's lower end (the 5th percentile)."""
    high: float
    """Its upper end (the 95th percentile)."""
    events: int
    """Verdicts and agreement outcomes the estimate rests on, before decay."""
    verdicts: int
    """Of those, the user's verdicts."""
    successes: float
    """Decayed, weighted evidence for (added to the prior's α)."""
    failures: float
    """Decayed, weighted evidence against (added to the prior's β)."""

    def summary(self) -> dict[str, JSONValue]:
        """The estimate in brief: mean, interval and what it rests on (`chorus stats --json`)."""
        return {
            "mean": self.mean, "low": self.low, "high": self.high, "events": self.events,
            "verdicts": self.verdicts,
        }  # fmt: skip


@dataclass(slots=True, frozen=True)
class TrustReport:
    """`chorus trust-scores`: each model's roll-up (best first) and its task × category scores."""

    enabled: bool
    since: float | None
    task: str | None
    generated_at: float
    half_life_days: float
    agreement_weight: float
    models: tuple[TrustEstimate, ...]
    scores: tuple[TrustEstimate, ...]
    weights: tuple[tuple[str, float], ...] = ()
    """The prior weight of each configured model."""

    def for_model(self, model: str) -> TrustEstimate:
        """The model's roll-up, or its prior alone when nothing is known of it."""
        for estimate in self.models:
            if estimate.model == model:
                return estimate
        return estimate_of(model, None, None, _Evidence(), dict(self.weights).get(model, 1.0))

    def to_json(self) -> dict[str, JSONValue]:
        """The report as plain JSON-able data."""
        data = cast(dict[str, JSONValue], to_json(self))
        data["weights"] = dict(self.weights)
        return data


@dataclass(slots=True)
class _Evidence:
    successes: float = 0.0
    failures: float = 0.0
    events: int = 0
    verdicts: int = 0

    def add(self, other: _Evidence) -> None:
        self.successes += other.successes
        self.failures += other.failures
        self.events += other.events
        self.verdicts += other.verdicts


def estimate_of(
    model: str, task: str | None, category: str | None, evidence: _Evidence, weight: float
) -> TrustEstimate:
    """The posterior of `evidence` under the prior Beta(2·weight, 2)."""
    alpha = PRIOR_STRENGTH * weight + evidence.successes
    beta = PRIOR_STRENGTH + evidence.failures
    low, high = credible_interval(alpha, beta)
    return TrustEstimate(
        model=model, task=task, category=category, mean=alpha / (alpha + beta), low=low, high=high,
        events=evidence.events, verdicts=evidence.verdicts, successes=evidence.successes,
        failures=evidence.failures,
    )  # fmt: skip


def model_weights(seats: Mapping[str, Seat]) -> dict[str, float]:
    """Each configured model's prior weight: the mean `weight` of the seats that use it."""
    grouped: dict[str, list[float]] = {}
    for seat in seats.values():
        grouped.setdefault(seat.model, []).append(seat.weight)
    return {model: sum(weights) / len(weights) for model, weights in grouped.items()}


Row = tuple[str, str, str, int, int, float]
"""(model, task, category, good, events, their mean time) of one day."""


def _rows(totals: Mapping[tuple[Any, ...], Sequence[float]]) -> list[Row]:
    return [
        (str(model), str(task), str(category), int(good), int(count), float(at) / int(count))
        for (model, task, category, good, _day), (count, at) in sorted(totals.items())
        if count
    ]


def _verdict_rows(reader: WindowReader, models_of: dict[str, set[str]]) -> list[Row]:
    """Per judged finding its latest verdict (a success unless a dismissal came last), per seat, by
    the day of that verdict."""
    group = ["seat", "call_model", "task", "category", "good", "verdict_day"]
    judged = reader.sums(schema.rollup_verdicts, "verdicts", group)
    return _rows(by_model(judged, models_of, items=[0, 2], pairs=[1, 3]))


def _agreement_rows(reader: WindowReader, models_of: dict[str, set[str]], min_agreement: int) -> list[Row]:
    """Per merged finding of a panel of 2+, whether it reached agreement, per seat that reported it,
    by the day its run started."""
    table = schema.rollup_findings
    group = ["seat", "call_model", "task", "category", "votes", "panel_size", "run_day"]
    panel = columns(table)[0].index("panel_size")
    found = reader.sums(
        table, "runs", group, where=[table.c.panel_size >= 2], keep=lambda key: key[panel] >= 2
    )
    totals: dict[tuple[Any, ...], list[float]] = {}
    for (model, task, category, votes, size, day), (count, at) in by_model(
        found, models_of, items=[0, 2], pairs=[1, 3]
    ).items():
        agreed = votes >= 2 and (votes >= min_agreement or votes >= size)
        total = totals.setdefault((model, task, category, int(agreed), day), [0, 0.0])
        total[0] += count
        total[1] += at
    return _rows(totals)


def _evidence(rows: list[Row], weight: float, now: float, half_life_s: float, *, verdicts: bool
              ) -> Iterator[tuple[Key, _Evidence]]:  # fmt: skip
    for model, task, category, good, count, mean_at in rows:
        decayed = int(count) * weight * 0.5 ** (max(0.0, now - float(mean_at)) / half_life_s)
        success = bool(good)
        yield (str(model), str(task), str(category)), _Evidence(
            successes=decayed if success else 0.0, failures=0.0 if success else decayed,
            events=int(count), verdicts=int(count) if verdicts else 0,
        )  # fmt: skip


def trust_scores(
    store: Store,
    settings: LearningConfig,
    *,
    weights: Mapping[str, float] | None = None,
    min_agreement: int = 2,
    since_s: float | None = None,
    task: str | None = None,
    now: float | None = None,
) -> TrustReport:
    """Every model's trust over the last `since_s` seconds before `now` (None: everything).

    `weights` are the models' prior weights (`model_weights(config.models)`). With learning off
    the report is empty and the store is not read. Raises `StoreError` when the database fails.
    """
    now = time.time() if now is None else now
    since = None if since_s is None else now - since_s
    weights = dict(weights or {})
    report = TrustReport(
        enabled=settings.enabled, since=since, task=task, generated_at=now,
        half_life_days=settings.half_life_days, agreement_weight=settings.agreement_weight,
        models=(), scores=(), weights=tuple(sorted(weights.items())),
    )  # fmt: skip
    if not settings.enabled:
        return report
    half_life_s = settings.half_life_days * DAY_S
    with reading(store) as connection:
        reader = WindowReader(connection, since, task)
        models_of = seat_models(connection)
        judged = _verdict_rows(reader, models_of)
        weighted = settings.agreement_weight > 0
        agreed = _agreement_rows(reader, models_of, min_agreement) if weighted else []
    by_key: dict[Key, _Evidence] = {}
    by_model: dict[str, _Evidence] = {}
    for key, evidence in [
        *_evidence(judged, 1.0, now, half_life_s, verdicts=True),
        *_evidence(agreed, settings.agreement_weight, now, half_life_s, verdicts=False),
    ]:
        by_key.setdefault(key, _Evidence()).add(evidence)
        by_model.setdefault(key[0], _Evidence()).add(evidence)
    scores = tuple(
        estimate_of(*key, evidence, weights.get(key[0], 1.0)) for key, evidence in sorted(by_key.items())
    )
    rollups = [estimate_of(m, None, None, e, weights.get(m, 1.0)) for m, e in by_model.items()]
    models = sorted(rollups, key=lambda estimate: (-estimate.mean, estimate.model))
    return dataclasses.replace(report, models=tuple(models), scores=scores)
