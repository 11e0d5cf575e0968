"""Running one panel for one task: the panel run and event streaming.

The pipelines (`orchestration.pipelines`) decide what each seat is asked and how answers are
parsed and merged, `orchestration.panel.selection` who is asked; this module runs the fan-out
(`run_panel`) and reports every step through an optional event handler, or as an async
iterator (`stream_events`).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio

from orchestration.memory.records import content_hash
from orchestration.panel.fanout import Seat, SeatAnswer, fan_out
from orchestration.types.config import ChorusConfig
from orchestration.types.errors import ChorusError
from orchestration.types.results import (
    ModelStatus,
    PanelEvent,
    PanelResult,
    ResultUpdate,
    SeatFinished,
    SeatStarted,
)

if TYPE_CHECKING:
    from orchestration.memory.cache import AnswerCache

T = TypeVar("T")
N = TypeVar("N", int, float)

EventHandler = Callable[[PanelEvent], Awaitable[None]]


@dataclass(slots=True)
class PanelRun(Generic[T]):
    """What the seats answered so far, in the panel's seat order."""

    order: list[str]
    statuses: dict[str, ModelStatus] = field(default_factory=dict)
    answers: dict[str, T] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    """SHA-256 of each answering seat's raw answer (usable or not), for the memory."""

    @property
    def models(self) -> list[ModelStatus]:
        """Statuses of the seats that have finished, in seat order."""
        return [self.statuses[name] for name in self.order if name in self.statuses]

    @property
    def answered(self) -> list[str]:
        """Seats with a usable answer, in seat order."""
        return [name for name in self.order if name in self.answers]


@dataclass(frozen=True, slots=True)
class PanelRound(Generic[T]):
    """One round of questions to a panel: who is asked what, how answers are read, who hears of it.

    `seats` carry their messages; `skipped` are reported as they are, never asked. After each
    usable answer while other seats are still working, `partial_result` builds a provisional
    result that `on_event` receives as a `ResultUpdate`. With `cache`, answers to prompts asked
    before are reused (`orchestration.memory.cache`).
    """

    seats: list[Seat]
    skipped: list[ModelStatus]
    parse: Callable[[str, Seat], T]
    json_schema: dict[str, Any] | None
    on_event: EventHandler | None = None
    partial_result: Callable[[PanelRun[T]], Awaitable[PanelResult]] | None = None
    cache: AnswerCache | None = None


async def run_panel(panel_round: PanelRound[T], config: ChorusConfig) -> PanelRun[T]:
    """Ask every seat of the round at once; report each step; return all answers and statuses."""
    seats, skipped = panel_round.seats, panel_round.skipped
    on_event, partial_result = panel_round.on_event, panel_round.partial_result
    run: PanelRun[T] = PanelRun(order=[s.name for s in seats] + [s.name for s in skipped])
    for status in skipped:
        run.statuses[status.name] = status
    total = len(seats) + len(skipped)
    async with fan_out(
        seats, panel_round.parse, config.policy, json_schema=panel_round.json_schema, cache=panel_round.cache
    ) as events:
        async for event in events:
            if isinstance(event, SeatStarted):
                if on_event is not None:
                    await on_event(event)
                continue
            answer: SeatAnswer[T] = event
            run.statuses[answer.status.name] = answer.status
            if answer.raw is not None:
                run.hashes[answer.status.name] = content_hash(answer.raw)
            if answer.status.status == "ok" and answer.value is not None:
                run.answers[answer.status.name] = answer.value
            if on_event is not None:
                await on_event(SeatFinished(status=answer.status, answered=len(run.statuses), total=total))
            still_working = len(run.statuses) < len(run.order)
            if on_event and partial_result and answer.status.status == "ok" and still_working:
                await on_event(ResultUpdate(result=await partial_result(run)))
    return run


def _total(values: list[N | None]) -> N | None:
    known = [value for value in values if value is not None]
    return sum(known[1:], known[0]) if known else None


def with_usage_of(status: ModelStatus, parts: Sequence[ModelStatus]) -> ModelStatus:
    """`status` with the summed tokens and cost of `parts` (a seat's chunks); cached when all were."""
    return status.model_copy(
        update={
            "tokens_in": _total([part.tokens_in for part in parts]),
            "tokens_out": _total([part.tokens_out for part in parts]),
            "cost_usd": _total([part.cost_usd for part in parts]),
            "cached": bool(parts) and all(part.cached for part in parts),
        }
    )


def combined_hash(hashes: Sequence[str | None]) -> str | None:
    """One hash for a seat's answers in parts (None unless every part has one)."""
    if not hashes or any(item is None for item in hashes):
        return None
    return content_hash("\n".join(item or "" for item in hashes))


def all_failed(models: list[ModelStatus]) -> bool:
    """True when no seat gave a usable answer (a cached answer is a usable one: its status is "ok")."""
    return not any(status.status == "ok" for status in models)


def failure_summary(models: list[ModelStatus]) -> str:
    """One line per failed seat, for a message to the user."""
    return "; ".join(f"{s.name}: {s.error or s.status}" for s in models if s.status != "ok")


PipelineCall = Callable[[EventHandler], Awaitable[PanelResult]]


@asynccontextmanager
async def stream_events(pipeline: PipelineCall) -> AsyncIterator[AsyncIterator[PanelEvent]]:
    """Run a pipeline in the background and iterate over its events as they happen.

    The iterator ends after the final `ResultUpdate`. A `ChorusError` raised by the
    pipeline (excluded file, no panel) is re-raised when the block exits. Leaving the
    `async with` block early cancels the pipeline and every model call.
    """
    send, receive = anyio.create_memory_object_stream[PanelEvent](math.inf)
    failure: list[ChorusError] = []

    async def run() -> None:
        async with send:
            try:
                await pipeline(send.send)
            except ChorusError as error:
                failure.append(error)

    async with anyio.create_task_group() as group, receive:
        group.start_soon(run)
        try:
            yield receive
        finally:
            group.cancel_scope.cancel()
    if failure:
        raise failure[0]
