"""Automatic panels: for each request, the candidates of best expected value.

`panels.<task> = "auto"` routes each request of the task among `candidates(config, task)`: every
seat of `panels.auto.from` (every configured model when it is empty), a seat with `efforts` once
per effort (named `seat@effort`, its config the seat's with `reasoning_effort` set, its label
`model@effort`: trust, latency and cost are learnt per label, so GPT-5 at low, medium and high
effort are three candidates). `pick`, a step of `orchestration.panel.selection`, scores every
candidate still in the running (past the breaker and the gate) from the memory
(`orchestration.learning.route_stats`, read through `orchestration.memory.reads.read_soon`):

    value = trust × availability × latency × cost

- trust: the label's posterior mean of "a finding is right" for the task (`learning.trust`),
  weighted by the category mix of the task's past findings on files of the document's language,
  Σ_c mix(c)·trust(c) (the label's roll-up stands in for a category it has no evidence in, and
  alone when there is no mix). With no evidence it is the prior, weight / (weight + 1): a fresh
  store orders the candidates by `weight`, ties in pool order;
- availability: (answered + 1) / (calls + 1) over the label's last calls of the task (errors,
  invalid answers and timeouts count against; 1 before any call);
- latency: 1 while those calls' p95 latency is within `LATENCY_SHARE` of `policy.deadline`, else
  that allowance / p95 (twice too slow halves the value);
- cost: the price of a call against the pool's cheapest, and against its share of
  `budget.per_request_usd` when one is set (`orchestration.learning.route_value` has the
  formulas; the budget step enforces limits, here cost only ranks).

The `panels.auto.size` best are asked; the rest go to `selection.spare`, best first. Exploration:
with probability `learning.explore` one spare, drawn at random, is asked too, so its estimates stay
fresh. The generator is seeded from the document's content hash, the task and the hour
(`exploration_rng`), so a request is routed alike in every process and after a restart. Every
candidate gets a one-line reason with its numbers (`selection.reasons`: `chorus route --explain`).

`learning.enabled = false` asks the first `size` candidates in pool order, reads nothing and never
explores; so does a request whose memory is absent, off, failing or slower than the read's budget,
and one whose pool is no larger than `size` (nothing to choose). `explain_route` runs the whole
selection for `chorus route` and `chorus/models` and returns it as a `RouteReport`.
"""

from __future__ import annotations

import random
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, cast

from orchestration.learning.route_value import Score, cheapest_cost, score
from orchestration.panel.selection import Candidate

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from orchestration.learning.route_stats import RouteEvidence
    from orchestration.memory.records import JSONValue
    from orchestration.memory.store import Store
    from orchestration.memory.writer import StoreWriter
    from orchestration.panel.selection import Selection, SelectionContext
    from orchestration.types.config import ChorusConfig, Task
    from orchestration.types.requests import SourceDocument

EXPLORE_BUCKET_S: Final = 3600.0
"""The exploration draw's seed changes every this many seconds."""
Mode = Literal["routed", "learning off", "no memory", "nothing to choose"]


def candidates(config: ChorusConfig, task: Task) -> list[Candidate]:
    """Every candidate of the automatic panel: each pool seat, at each of its efforts."""
    pool: list[Candidate] = []
    for name in config.panel_for(task):
        seat = config.models[name]
        if not seat.efforts:
            pool.append(Candidate(name, seat))
        for effort in dict.fromkeys(seat.efforts):
            pool.append(Candidate(f"{name}@{effort}", seat.model_copy(update={"reasoning_effort": effort})))
    return pool


def planned_seats(config: ChorusConfig, task: Task) -> int:
    """How many seats a request of `task` asks before exploration: its list, or min(size, candidates)."""
    if config.is_auto(task):
        return min(config.panels.auto.size, len(candidates(config, task)))
    return len(config.panel_for(task))


@dataclass(frozen=True, slots=True)
class Decision:
    """What routing decided for one request: who is asked, the spares best first, and why."""

    mode: Mode
    picked: tuple[Candidate, ...]
    spare: tuple[Candidate, ...]
    reasons: dict[str, str]
    scores: tuple[Score, ...] = ()
    """Every candidate's score, best first (empty unless `mode` is "routed")."""
    explored: str | None = None
    """The spare asked to explore, if any."""
    evidence: RouteEvidence | None = None


UNROUTED: Final[dict[Mode, str]] = {
    "learning off": "learning is off",
    "no memory": "no memory could be read",
    "nothing to choose": "the pool is no larger than panels.auto.size",
}


def in_pool_order(pool: Sequence[Candidate], size: int, mode: Mode) -> Decision:
    """The first `size` candidates of the pool, for a request routed without evidence."""
    why = UNROUTED[mode]
    reasons = {
        c.name: f"picked (#{i} in pool order): {why}"
        if i <= size
        else f"left out (#{i} in pool order, {size} asked): {why}"
        for i, c in enumerate(pool, 1)
    }
    return Decision(mode, tuple(pool[:size]), tuple(pool[size:]), reasons)


def decide(
    pool: Sequence[Candidate], evidence: RouteEvidence, config: ChorusConfig, rng: random.Random
) -> Decision:
    """Rank `pool` by expected value, ask the top `panels.auto.size`, maybe explore one spare."""
    size = config.panels.auto.size
    cheapest = cheapest_cost(pool, evidence)
    scored = sorted(
        ((score(c, evidence, config, cheapest), index, c) for index, c in enumerate(pool)),
        key=lambda item: (-item[0].value, item[1]),
    )
    ranked = [c for _score, _index, c in scored]
    picked, spare = ranked[:size], ranked[size:]
    explored = None
    if spare and rng.random() < config.learning.explore:
        chosen = spare.pop(rng.randrange(len(spare)))
        picked.append(chosen)
        explored = chosen.name
    count, reasons = len(ranked), {}
    for rank, (value, _index, c) in enumerate(scored, 1):
        if c.name == explored:
            reasons[c.name] = (
                f"picked to explore (#{rank} of {count}, not in the top {size}): {value.describe()}"
            )
        elif rank <= size:
            reasons[c.name] = f"picked (#{rank} of {count}): {value.describe()}"
        else:
            reasons[c.name] = f"left out (#{rank} of {count}, the top {size} are asked): {value.describe()}"
    scores = tuple(value for value, _index, _c in scored)
    return Decision("routed", tuple(picked), tuple(spare), reasons, scores, explored, evidence)


def exploration_rng(document: SourceDocument | None, task: str, now: float | None = None) -> random.Random:
    """The exploration draw's generator: seeded from the document's content hash, the task and the hour."""
    from orchestration.memory.records import content_hash

    bucket = int((time.time() if now is None else now) // EXPLORE_BUCKET_S)
    digest = content_hash(document.text) if document is not None else ""
    return random.Random(f"{digest}:{task}:{bucket}")


def label_weights(pool: Sequence[Candidate]) -> dict[str, float]:
    """Each label's prior weight: the mean `weight` of the candidates with that label."""
    grouped: dict[str, list[float]] = {}
    for c in pool:
        grouped.setdefault(c.seat.label, []).append(c.seat.weight)
    return {label: sum(weights) / len(weights) for label, weights in grouped.items()}


async def route(context: SelectionContext, pool: Sequence[Candidate]) -> Decision:
    """The routing decision for `pool` in `context` (reads the memory unless learning is off)."""
    from orchestration.memory.reads import read_soon

    config, size = context.config, context.config.panels.auto.size
    if not config.learning.enabled:
        return in_pool_order(pool, size, "learning off")
    if len(pool) <= size:
        return in_pool_order(pool, size, "nothing to choose")
    document, task = context.document, context.task
    weights = label_weights(pool)

    def query(store: Store) -> tuple[RouteEvidence, random.Random]:
        from orchestration.learning.route_stats import read_evidence

        path = document.path if document is not None else None
        evidence = read_evidence(
            store, learning=config.learning, weights=weights, task=task, path=path,
            min_agreement=config.policy.min_agreement,
        )  # fmt: skip
        return evidence, exploration_rng(document, task)

    read = await read_soon(context.memory, query, None)
    if read is None:
        return in_pool_order(pool, size, "no memory")
    return decide(pool, read[0], config, read[1])


_observed: ContextVar[Decision | None] = ContextVar("chorus_route_decision", default=None)
"""The last decision `pick` made in this task (how `explain_route` sees the numbers)."""


async def pick(context: SelectionContext, selection: Selection) -> None:
    """Keep the `panels.auto.size` candidates of best expected value; the rest become spare."""
    decision = await route(context, selection.asked)
    selection.asked, selection.spare = list(decision.picked), list(decision.spare)
    for name, reason in decision.reasons.items():  # An earlier step's word (a stand-in, a probe) stays.
        earlier = selection.reasons.get(name)
        selection.reasons[name] = f"{earlier}; {reason}" if earlier else reason
    _observed.set(decision)


State = Literal["picked", "explore", "spare", "skipped"]


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One candidate in `chorus route`: its state after every step, why, and its score when routed."""

    name: str
    label: str
    state: State
    reason: str
    score: Score | None = None


@dataclass(frozen=True, slots=True)
class RouteReport:
    """`chorus route FILE --explain`: who a request of `task` would ask, and why each was picked or not."""

    task: str
    auto: bool
    """False for a panel given as a list (routing is off: the listed seats are asked)."""
    size: int
    mode: Mode | Literal["listed"]
    path: str | None
    language: str | None
    mix: Mapping[str, float]
    findings: int
    """Findings the language's category mix rests on."""
    entries: tuple[RouteEntry, ...]
    notice: str | None = None

    @property
    def asked(self) -> list[str]:
        """The names a request would ask."""
        return [e.name for e in self.entries if e.state in ("picked", "explore")]

    def to_json(self) -> dict[str, JSONValue]:
        """The report as plain JSON-able data (`chorus route --json`, `chorus/models`)."""
        from orchestration.memory.stats import to_json

        return cast("dict[str, JSONValue]", to_json(self))


async def explain_route(
    config: ChorusConfig,
    task: Task,
    document: SourceDocument | None,
    *,
    workspace: Path | None = None,
    memory: StoreWriter | None = None,
) -> RouteReport:
    """Select the seats of a request of `task` on `document` (None: no particular file) as a request
        would, through every step, and say why (nothing is sent; a probe the breaker granted is handed
    back). Raises what a request would (`ChorusError`)."""
    from orchestration.panel import breaker
    from orchestration.panel.budgets import open_request
    from orchestration.panel.selection import Selection, SelectionContext, select_seats
    from orchestration.privacy.gate import PrivacyGate

    if document is None:
        gate, prepared = PrivacyGate.without_file(config.policy), None
    else:
        gate, prepared = await open_request(document, config, workspace)
    token = _observed.set(None)
    context = SelectionContext(config, task, gate, prepared, memory)
    try:
        selection = await select_seats(context)
        decision = _observed.get()
    finally:
        _observed.reset(token)
        await breaker.settle(context, Selection(asked=[]))  # Nobody is asked: hand back any probe.
    auto, asked, spare = (
        config.is_auto(task),
        {c.name: c for c in selection.asked},
        {c.name: c for c in selection.spare},
    )
    by_name = {s.name: s for s in decision.scores} if decision is not None else {}
    order = [name for name in by_name if name in asked or name in spare]  # Ranked, then any stand-ins.
    order += [name for name in [*asked, *spare] if name not in order]
    entries: list[RouteEntry] = []
    for name in order:
        c = asked.get(name) or spare[name]
        state: State = "spare" if name not in asked else "picked"
        if decision is not None and name == decision.explored and name in asked:
            state = "explore"
        reason = selection.reasons.get(name) or (state if auto else f"picked: listed in panels.{task}")
        entries.append(RouteEntry(name, c.seat.label, state, reason, by_name.get(name)))
    for status in selection.skipped:
        reason = selection.reasons.get(status.name) or f"left out: {status.error}"
        entries.append(RouteEntry(status.name, status.model, "skipped", reason))
    evidence = decision.evidence if decision is not None else None
    return RouteReport(
        task=task, auto=auto, size=config.panels.auto.size,
        mode=decision.mode if decision is not None else "listed",
        path=document.path if document is not None else None,
        language=evidence.language if evidence is not None else None,
        mix=dict(evidence.mix) if evidence is not None else {},
        findings=evidence.findings if evidence is not None else 0,
        entries=tuple(entries), notice=selection.notice,
    )  # fmt: skip
