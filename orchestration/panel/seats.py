"""Running one panel for one task: seat planning, privacy gates and event streaming.

The three pipelines (`review`, `implement`, `explain`) share this: they decide what
each seat is asked and how answers are parsed and merged; this module decides who
is asked, keeps secrets and excluded files away from the models, runs the fan-out
and reports every step through an optional event handler.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import anyio

from orchestration.panel.fanout import Seat, SeatAnswer, fan_out
from orchestration.privacy.gate import Message, PrivacyGate, redact_secrets, scrub_secrets
from orchestration.providers.chat import complete_chat
from orchestration.types.config import ChorusConfig, ModelConfig, Task
from orchestration.types.errors import ChorusError, NoPanelError, ProviderError, UnusableAnswer
from orchestration.types.requests import SourceDocument
from orchestration.types.results import (
    ModelStatus,
    PanelEvent,
    PanelResult,
    ResultUpdate,
    SeatFinished,
    SeatStarted,
)

T = TypeVar("T")

MIN_ARBITER_SECONDS = 0.05
"""With less than this left before the deadline, the arbiter is not asked at all."""
EventHandler = Callable[[PanelEvent], Awaitable[None]]


def open_gate(document: SourceDocument, config: ChorusConfig, workspace: Path | None) -> PrivacyGate:
    """The privacy gate for a request about `document`; raises `ExcludedFileError` for excluded files."""
    return PrivacyGate.for_document(document.path, config.policy, workspace)


def prepare_document(document: SourceDocument) -> SourceDocument:
    """A copy of `document` whose secrets are replaced by placeholders (line for line)."""
    redacted, _count = redact_secrets(document.text)
    return document.model_copy(update={"text": redacted})


def plan_seats(
    config: ChorusConfig,
    task: Task,
    gate: PrivacyGate,
) -> tuple[list[tuple[str, ModelConfig]], list[ModelStatus]]:
    """The seats to ask for `task`, and the statuses of seats that policy keeps out."""
    names = config.panel_for(task)
    if not names:
        raise NoPanelError(
            "no models are configured: add [models.<name>] tables to chorus.toml "
            "or install the local panel with pip install 'chorus-lsp[local]'"
        )
    asked: list[tuple[str, ModelConfig]] = []
    skipped: list[ModelStatus] = []
    for name in names:
        seat = config.models[name]
        reason = gate.refusal(seat)
        if reason is not None:
            skipped.append(ModelStatus(name=name, model=seat.model, status="skipped", error=reason))
        else:
            asked.append((name, seat))
    if not asked:
        raise NoPanelError(
            f"{gate.path} matches policy.local_only, and no local model sits on the {task} panel"
        )
    return asked, skipped


@dataclass
class PanelRun(Generic[T]):
    """What the seats answered so far, in the panel's seat order."""

    order: list[str]
    statuses: dict[str, ModelStatus] = field(default_factory=dict)
    answers: dict[str, T] = field(default_factory=dict)

    @property
    def models(self) -> list[ModelStatus]:
        """Statuses of the seats that have finished, in seat order."""
        return [self.statuses[name] for name in self.order if name in self.statuses]

    @property
    def answered(self) -> list[str]:
        """Seats with a usable answer, in seat order."""
        return [name for name in self.order if name in self.answers]


async def run_panel(
    seats: list[Seat],
    skipped: list[ModelStatus],
    parse: Callable[[str, Seat], T],
    config: ChorusConfig,
    *,
    json_schema: dict[str, Any] | None,
    on_event: EventHandler | None,
    partial_result: Callable[[PanelRun[T]], Awaitable[PanelResult]] | None = None,
) -> PanelRun[T]:
    """Ask every seat at once; report each step; return all answers and statuses.

    After each usable answer while other seats are still working, `partial_result`
    builds a provisional result that `on_event` receives as a `ResultUpdate`.
    """
    run: PanelRun[T] = PanelRun(order=[s.name for s in seats] + [s.name for s in skipped])
    for status in skipped:
        run.statuses[status.name] = status
    total = len(seats) + len(skipped)
    async with fan_out(seats, parse, config.policy, json_schema=json_schema) as events:
        async for event in events:
            if isinstance(event, SeatStarted):
                if on_event is not None:
                    await on_event(event)
                continue
            answer: SeatAnswer[T] = event
            run.statuses[answer.status.name] = answer.status
            if answer.status.status == "ok" and answer.value is not None:
                run.answers[answer.status.name] = answer.value
            if on_event is not None:
                await on_event(SeatFinished(status=answer.status, answered=len(run.statuses), total=total))
            still_working = len(run.statuses) < len(run.order)
            if on_event and partial_result and answer.status.status == "ok" and still_working:
                await on_event(ResultUpdate(result=await partial_result(run)))
    return run


def seat_weights(config: ChorusConfig) -> dict[str, float]:
    """Each seat's vote weight."""
    return {name: seat.weight for name, seat in config.models.items()}


async def ask_arbiter(
    config: ChorusConfig,
    gate: PrivacyGate,
    messages_for: Callable[[Callable[[list[Message]], Awaitable[str]]], Awaitable[T]],
    *,
    started_at: float | None = None,
) -> tuple[T | None, ModelStatus | None]:
    """Run one arbiter step if an arbiter is configured; a failure returns (None, its status).

    The arbiter passes the same privacy gate as the seats: a local-only file never reaches a
    remote arbiter (its status says it was skipped). It never runs past the request's deadline:
    `started_at` (`anyio.current_time()` when the request began) leaves it only what remains of
    `policy.deadline`; with nothing left it is not asked at all.
    """
    name = config.panels.arbiter
    if name is None:
        return None, None
    seat = config.models[name]
    refusal = gate.refusal(seat)
    if refusal is not None:
        return None, ModelStatus(name=name, model=seat.model, status="skipped", error=refusal)
    deadline = config.policy.deadline
    now = anyio.current_time()
    remaining = deadline - (now - started_at) if started_at is not None else deadline
    if remaining <= MIN_ARBITER_SECONDS:
        reason = f"not asked: the request's deadline of {deadline:g} s had been reached"
        return None, ModelStatus(name=name, model=seat.model, status="skipped", error=reason)
    limit = min(seat.timeout, remaining)

    async def complete(messages: list[Message]) -> str:
        return await complete_chat(name, seat, messages, gate=gate)

    try:
        with anyio.fail_after(limit):
            value = await messages_for(complete)
    except TimeoutError:
        if limit < seat.timeout:
            reason = f"arbiter cut off at the request's deadline of {deadline:g} s"
        else:
            reason = f"arbiter timed out after {seat.timeout:g} s"
        return None, _status(name, seat, "timeout", now, reason)
    except ProviderError as error:
        return None, _status(name, seat, error.kind, now, str(error))
    except UnusableAnswer as error:
        return None, _status(name, seat, "invalid", now, str(error))
    return value, _status(name, seat, "ok", now, None)


def _status(name: str, seat: ModelConfig, state: Any, started: float, error: str | None) -> ModelStatus:
    latency = (anyio.current_time() - started) * 1000
    shown = None if error is None else scrub_secrets(error)
    return ModelStatus(name=name, model=seat.model, status=state, latency_ms=round(latency, 1), error=shown)


def all_failed(models: list[ModelStatus]) -> bool:
    """True when no seat gave a usable answer."""
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


def weights_for(answered: list[str], weights: Mapping[str, float]) -> dict[str, float]:
    """Weights restricted to the seats that answered."""
    return {name: weights.get(name, 1.0) for name in answered}
