"""The learning simulation: rounds of real reviews, a simulated user's verdicts, the trust they teach.

Two worlds see the same cases, each with its own SQLite store and its own simulated user:

- **full**: the whole planted panel reviews every case (`review_selection`, `policy.voting =
  "weighted"`). From the seats' answers of the round (their opinions in the result) the merge is
  computed both ways with the product's `merge_findings`: counted, and weighted by the trust
  `read_seat_trust` reads from the store just before the round (what the pipeline's own weighted
  vote reads; `agrees` says whether the pipeline's severities matched that recomputation). Each
  single seat, and each pair of seats merged alone (what a panel of two would have said), are scored
  on the same answers.
- **auto**: `panels.review = "auto"` with `[panels.auto] size = 2`: the seats are chosen by the
  product's seat selection (`select_seats` → `orchestration.learning.routing.pick`) from what this
  world's store has learnt.

Each world has its own host (its own endpoint), so the process-wide circuit breaker keeps one
world's failures, benches and probes apart from the other's, as two users' machines would.

In both worlds the simulated user gives every finding the review returned its verdict through the
store's feedback API (`record_verdict`: "accept" when it is a true issue, "dismiss" when it is not).
After each round the full world's trust is read (`trust_scores`, the roll-up per model). A merge's
precision and recall count the findings it kept at their severity (those below agreement are
downgraded to info: not asserted). A round's cost is each answering seat's recorded `cost_usd`, or,
where none was recorded, its reported tokens times the seat's configured prices (`cost_source`).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from benchmarks.learning_cases import PLANTED, Case, Located, PlantedModel, judge, make_case
from benchmarks.learning_host import LearningHost
from orchestration.learning.trust import model_weights, trust_scores
from orchestration.learning.voting import VOTING_TASK, read_seat_trust
from orchestration.memory.feedback import record_verdict
from orchestration.memory.settings import CacheConfig, StoreConfig
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.merge.consensus import merge_findings
from orchestration.pipelines.review import review_selection
from orchestration.providers.loading import close_clients
from orchestration.types.config import ChorusConfig, ModelConfig
from orchestration.types.findings import Finding, MergedFinding, Severity
from orchestration.types.requests import ReviewRequest, SourceDocument
from orchestration.types.results import ModelStatus, ReviewResult

NOT_ASSERTED = (Severity.INFO, Severity.HINT)
BREAKER_COOLDOWN_S = 1.0
"""The circuit breaker's cooldown, scaled to the simulation's clock: a round takes a fraction of a
second here, a user's review minutes, so the default 30 s would bench a seat for ~100 reviews."""


@dataclass(slots=True)
class Tally:
    """True and false findings against the true issues there were."""

    tp: int = 0
    fp: int = 0
    issues: int = 0

    def add(self, other: Tally) -> None:
        """Add another tally to this one."""
        self.tp, self.fp, self.issues = self.tp + other.tp, self.fp + other.fp, self.issues + other.issues

    @property
    def precision(self) -> float:
        """True findings over findings (1.0 when nothing was reported)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """True findings over true issues."""
        return self.tp / self.issues if self.issues else 0.0

    @property
    def f1(self) -> float:
        """The harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def score(findings: Sequence[Located], case: Case) -> Tally:
    """The tally of `findings` (all of them asserted) on `case`."""
    verdicts = judge(findings, case)
    return Tally(sum(verdicts), len(verdicts) - sum(verdicts), len(case.issues))


def asserted(findings: Sequence[MergedFinding]) -> list[MergedFinding]:
    """The merged findings kept at their severity (not downgraded to info)."""
    return [finding for finding in findings if finding.severity not in NOT_ASSERTED]


@dataclass(slots=True)
class Round:
    """What one round measured."""

    index: int
    trust: dict[str, tuple[float, float, float]]
    """Each model's trust after the round: (mean, low, high)."""
    count: Tally
    weighted: Tally
    singles: dict[str, Tally]
    pairs: dict[str, Tally]
    full_cost: float
    seat_costs: dict[str, float]
    agrees: bool
    """Whether the pipeline's own weighted severities equal the recomputed weighted merge."""
    skipped: tuple[str, ...] = ()
    """Full-panel seats not asked this round (benched by the circuit breaker)."""
    auto: Tally | None = None
    auto_cost: float = 0.0
    auto_seats: tuple[str, ...] = ()


@dataclass(slots=True)
class Simulation:
    """Every round, and where the seats' costs came from."""

    models: tuple[PlantedModel, ...]
    rounds: list[Round] = field(default_factory=list)
    cost_source: dict[str, int] = field(default_factory=lambda: {"recorded": 0, "computed": 0})
    store_trouble: dict[str, str] = field(default_factory=dict)
    """Per world whose writer dropped records: how many, and the store's last error."""


def seat_config(model: PlantedModel, base_url: str) -> ModelConfig:
    """The seat reaching a planted model on the host, with its planted prices and timeout."""
    return ModelConfig(
        model=f"openai/{model.name}",
        api_base=base_url,
        timeout=model.timeout_s,
        input_cost_per_mtok=model.input_cost_per_mtok,
        output_cost_per_mtok=model.output_cost_per_mtok,
    )


def world_config(models: Sequence[PlantedModel], base_url: str, store: Path, *, auto: bool) -> ChorusConfig:
    """The full panel (weighted votes) or the automatic panel of two, on its own store, cache off."""
    panels: dict[str, object] = {"review": "auto", "auto": {"size": 2}} if auto else {}
    policy = {} if auto else {"voting": "weighted"}
    return ChorusConfig.model_validate(
        {
            "models": {model.name: seat_config(model, base_url) for model in models},
            "panels": panels,
            "policy": policy,
            "store": StoreConfig(path=store),
            "cache": CacheConfig(enabled=False),
            "failover": {"cooldown": BREAKER_COOLDOWN_S},
        }
    )


def seat_cost(status: ModelStatus, seat: ModelConfig, sources: dict[str, int]) -> float:
    """What the seat's call cost: its recorded cost, else its tokens times the configured prices."""
    if status.status != "ok":
        return 0.0
    if status.cost_usd:
        sources["recorded"] += 1
        return status.cost_usd
    sources["computed"] += 1
    tokens_in, tokens_out = status.tokens_in or 0, status.tokens_out or 0
    return (tokens_in * (seat.input_cost_per_mtok or 0) + tokens_out * (seat.output_cost_per_mtok or 0)) / 1e6


def seat_answers(result: ReviewResult) -> tuple[dict[str, list[Finding]], list[str]]:
    """Each answering seat's own findings (from the merged findings' opinions), and who answered."""
    answered = [status.name for status in result.models if status.status == "ok"]
    answers: dict[str, list[Finding]] = {seat: [] for seat in answered}
    for merged in result.findings:
        for opinion in merged.opinions:
            answers.setdefault(opinion.model, []).append(
                Finding(
                    start_line=opinion.start_line, end_line=opinion.end_line, severity=opinion.severity,
                    category=opinion.category, message=opinion.message, model=opinion.model,
                )
            )  # fmt: skip
    return answers, answered


def placement(findings: Sequence[MergedFinding]) -> list[tuple[int, int, str, str]]:
    """What the user sees of each merged finding's place and severity (for the agreement check)."""
    return sorted((f.start_line, f.end_line, f.category.value, f.severity.value) for f in findings)


def give_verdicts(memory: StoreWriter, result: ReviewResult, case: Case) -> None:
    """The simulated user: accept every true finding the review returned, dismiss every false one."""
    for finding, true in zip(result.findings, judge(result.findings, case), strict=True):
        if finding.finding_id:
            record_verdict(memory, finding.finding_id, "accept" if true else "dismiss")
    memory.flush(10)


def trust_now(store: Store, config: ChorusConfig) -> dict[str, tuple[float, float, float]]:
    """Each model's trust roll-up over review runs: (mean, low, high), by seat name."""
    report = trust_scores(
        store,
        config.learning,
        weights=model_weights(config.models),
        min_agreement=config.policy.min_agreement,
        task=VOTING_TASK,
    )
    estimates = {name: report.for_model(seat.label) for name, seat in config.models.items()}
    return {name: (e.mean, e.low, e.high) for name, e in estimates.items()}


def request_for(case: Case) -> ReviewRequest:
    """The whole case file, for review."""
    return ReviewRequest(document=SourceDocument(path=case.path, text=case.text))


async def full_round(
    index: int, case: Case, config: ChorusConfig, memory: StoreWriter, simulation: Simulation
) -> Round:
    """One review of the whole panel, scored every way, then the user's verdicts and the new trust."""
    seats = list(config.models.items())
    before = await anyio.to_thread.run_sync(
        lambda: memory.read(lambda store: read_seat_trust(store, config, seats), None, 10.0)
    )
    result = await review_selection(request_for(case), config, memory=memory)
    answers, answered = seat_answers(result)
    minimum = config.policy.min_agreement
    counted = merge_findings(answers, answered=answered, min_agreement=minimum)
    trust = dict(before.trust) if before is not None else None
    weighted = merge_findings(answers, answered=answered, min_agreement=minimum, trust=trust)
    pairs = {}
    for first, second in itertools.combinations(config.models, 2):
        pair = {seat: answers.get(seat, []) for seat in (first, second)}
        merged = merge_findings(pair, answered=[s for s in answered if s in pair], min_agreement=minimum)
        pairs[f"{first}+{second}"] = score(asserted(merged), case)
    costs = {
        status.name: seat_cost(status, config.models[status.name], simulation.cost_source)
        for status in result.models
        if status.name in config.models
    }
    await anyio.to_thread.run_sync(give_verdicts, memory, result, case)
    unknown: dict[str, tuple[float, float, float]] = {}
    after = await anyio.to_thread.run_sync(
        lambda: memory.read(lambda store: trust_now(store, config), unknown, 10.0)
    )
    return Round(
        index=index,
        trust=after,
        count=score(asserted(counted), case),
        weighted=score(asserted(weighted), case),
        singles={seat: score(answers.get(seat, []), case) for seat in config.models},
        pairs=pairs,
        full_cost=sum(costs.values()),
        seat_costs=costs,
        agrees=placement(result.findings) == placement(weighted),
        skipped=tuple(status.name for status in result.models if status.status == "skipped"),
    )


async def auto_round(
    case: Case, config: ChorusConfig, memory: StoreWriter, simulation: Simulation, measured: Round
) -> None:
    """One review of the automatic panel of two: its score, cost and seats, then the user's verdicts."""
    result = await review_selection(request_for(case), config, memory=memory)
    measured.auto = score(asserted(result.findings), case)
    measured.auto_seats = tuple(status.name for status in result.models if status.status != "skipped")
    measured.auto_cost = sum(
        seat_cost(status, config.models[status.name], simulation.cost_source)
        for status in result.models
        if status.name in config.models
    )
    await anyio.to_thread.run_sync(give_verdicts, memory, result, case)


def opened(config: StoreConfig) -> StoreWriter:
    """A writer on `config` whose store is open (migrated) before the next one opens: migrations of
    two stores must not run at once in one process."""
    writer = StoreWriter(config)
    if not writer.read(lambda store: True, False, 30.0):
        writer.close()
        raise RuntimeError(f"the store at {config.path} did not open: {writer.last_error}")
    return writer


async def simulate(
    rounds: int,
    *,
    seed: int = 0,
    auto: bool = True,
    models: Sequence[PlantedModel] = PLANTED,
    on_round: Callable[[Round], None] | None = None,
) -> Simulation:
    """Run `rounds` rounds (one new case each) in the full world, and in the auto world unless told not to."""
    cases = {index: make_case(index, seed) for index in range(1, rounds + 1)}
    simulation = Simulation(tuple(models))
    planted = {model.name: model for model in models}
    with (
        tempfile.TemporaryDirectory(prefix="chorus-learning-") as folder,
        LearningHost(planted, cases, seed) as host,
        LearningHost(planted, cases, seed) as auto_host,
    ):
        full = world_config(models, host.base_url, Path(folder) / "full" / "chorus.db", auto=False)
        automatic = world_config(models, auto_host.base_url, Path(folder) / "auto" / "chorus.db", auto=True)
        full_memory = opened(full.store)
        auto_memory = opened(automatic.store) if auto else None
        try:
            for index, case in cases.items():
                measured = await full_round(index, case, full, full_memory, simulation)
                if auto_memory is not None:
                    await auto_round(case, automatic, auto_memory, simulation, measured)
                simulation.rounds.append(measured)
                if on_round is not None:
                    on_round(measured)
        finally:
            for world, memory in (("full", full_memory), ("auto", auto_memory)):
                if memory is not None:
                    memory.flush(10)
                    if memory.dropped:
                        simulation.store_trouble[world] = f"{memory.dropped} dropped ({memory.last_error})"
                    memory.close()
            await close_clients()
    return simulation
