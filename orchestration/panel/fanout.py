"""Ask every seat of a panel at once and stream their answers back as they finish.

    async with fan_out(seats, parse, policy) as events:
        async for event in events:  # SeatStarted …, then one SeatAnswer per seat, in finishing order
            ...

Each call runs under its seat's own timeout (in `complete_chat`), the whole under `policy.deadline`.
Once `policy.quorum` seats have answered usably, stragglers get `policy.grace` more seconds and are
then cut off. Leaving the `async with` block early cancels every call still in flight, which closes
its HTTP connection. A process-wide capacity limiter bounds the calls in flight.

With an answer cache (`orchestration.memory.cache.AnswerCache`, when the run is recorded), a seat
asked exactly what was asked before gets the earlier answer back without a call, and identical
calls in flight share one; such a seat's status is "ok" with `cached` set (and costs 0). Each seat's
status carries the tokens and cost its call reported (`orchestration.providers.base.CallUsage`).

Starting a call costs the model client a few milliseconds of CPU on the event loop. When many
requests fan out at once, seats therefore take turns (`take_turn`): one seat starts its call per
loop iteration, so the set-up of hundreds of calls is spread out and the loop keeps answering
the editor's other requests in between.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
from anyio.abc import TaskGroup
from anyio.lowlevel import RunVar, checkpoint
from anyio.streams.memory import MemoryObjectSendStream

from orchestration.offload import off_loop
from orchestration.privacy.gate import PrivacyGate, scrub_secrets
from orchestration.providers.base import CallUsage
from orchestration.providers.chat import complete_chat
from orchestration.providers.failures import log_unexpected
from orchestration.providers.loading import ensure_litellm
from orchestration.types.config import ModelConfig, PolicyConfig
from orchestration.types.errors import ProviderError, UnusableAnswer
from orchestration.types.requests import Message
from orchestration.types.results import ModelStatus, SeatStarted, SeatState

if TYPE_CHECKING:
    from orchestration.memory.cache import AnswerCache

T = TypeVar("T")

_call_limiter = anyio.CapacityLimiter(64)
"""Model calls in flight across the whole process; resized to `policy.max_parallel_calls`."""

_turns: RunVar[anyio.Lock] = RunVar("chorus_turns")
"""The per-event-loop gate behind `take_turn`."""


async def take_turn() -> None:
    """Return when it is this task's turn to burn CPU on the event loop: one task per loop iteration.

    Tasks pass in arrival order (the lock is fair); each holds the gate across one checkpoint, so
    a burst of waiting tasks is spread over as many loop iterations, with the loop's other work
    (reading the editor's messages, answering them) in between. Uncontended, it costs one checkpoint.
    """
    try:
        gate = _turns.get()
    except LookupError:
        gate = anyio.Lock()
        _turns.set(gate)
    async with gate:
        await checkpoint()


@dataclass(frozen=True, slots=True)
class Seat:
    """One panel member for one request."""

    name: str
    config: ModelConfig
    messages: list[Message]
    gate: PrivacyGate


@dataclass(frozen=True, slots=True)
class SeatAnswer(Generic[T]):
    """How one seat fared: its status, the parsed value when status is "ok", and the raw text."""

    status: ModelStatus
    value: T | None
    raw: str | None


FanOutEvent = SeatStarted | SeatAnswer[T]
"""What a fan-out streams: a seat started its call, or a seat's answer (or failure)."""


@dataclass(slots=True)
class _SeatRun:
    """Book-keeping for one seat during a fan-out."""

    seat: Seat
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    started_at: float | None = None
    finished: bool = False
    cut_off_reason: str | None = None
    usage: CallUsage = field(default_factory=CallUsage)
    cached: bool = False
    cache_key: str | None = None

    def answer(
        self, state: SeatState, *, error: str | None = None, raw: str | None = None
    ) -> SeatAnswer[Any]:
        latency = None if self.started_at is None else (time.perf_counter() - self.started_at) * 1000
        shown = None if error is None else scrub_secrets(error)
        usage = self.usage
        status = ModelStatus(
            name=self.seat.name,
            model=self.seat.config.label,
            status=state,
            latency_ms=latency,
            error=shown,
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            cost_usd=0.0 if self.cached else usage.cost_usd,
            cached=self.cached,
        )
        return SeatAnswer(status=status, value=None, raw=raw)


class _FanOut(Generic[T]):
    """One fan-out run: starts the calls, enforces deadline and quorum, emits events."""

    def __init__(
        self,
        seats: Sequence[Seat],
        parse: Callable[[str, Seat], T],
        policy: PolicyConfig,
        json_schema: dict[str, Any] | None,
        send: MemoryObjectSendStream[FanOutEvent[T]],
        cache: AnswerCache | None = None,
    ) -> None:
        self.runs = [_SeatRun(seat) for seat in seats]
        self.parse = parse
        self.policy = policy
        self.json_schema = json_schema
        self.cache = cache
        self.send = send
        self.usable = 0
        self.quorum_reached = False
        self.all_finished = anyio.Event()

    def emit(self, event: FanOutEvent[T]) -> None:
        """Queue an event without a checkpoint, so no answer is lost to a cancellation."""
        try:
            self.send.send_nowait(event)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # The consumer has left; the run is being cancelled.

    async def run(self) -> None:
        """Call every seat; report seats still unfinished at the deadline as timed out."""
        with self.send:
            await ensure_litellm()  # A one-time import, not the models' time: outside the deadline.
            with anyio.move_on_after(self.policy.deadline):
                async with anyio.create_task_group() as calls:
                    for run in self.runs:
                        calls.start_soon(self.call_seat, run, calls)
            reason = f"deadline of {self.policy.deadline:g} s reached"
            for run in self.runs:
                if not run.finished:
                    run.finished = True
                    self.emit(run.answer("timeout", error=reason))

    async def call_seat(self, run: _SeatRun, calls: TaskGroup) -> None:
        """One seat: acquire a call slot, ask, parse, report."""
        raw: str | None = None
        outcome: SeatAnswer[Any] | None = None
        with run.scope:
            async with _call_limiter:
                await take_turn()
                run.started_at = time.perf_counter()
                self.emit(SeatStarted(name=run.seat.name))
                try:
                    raw = await self.ask(run)
                except ProviderError as error:
                    outcome = run.answer(error.kind, error=str(error))
                except Exception as error:
                    log_unexpected(f"seat {run.seat.name}: unexpected error", error)
                    outcome = run.answer("error", error=f"{type(error).__name__}: {error}")
            if outcome is None and raw is not None:
                outcome = await off_loop(self.parsed, run, raw, size=len(raw))
                if (
                    outcome.status.status == "ok"
                    and self.cache is not None
                    and run.cache_key
                    and not run.cached
                ):
                    self.cache.remember(run.cache_key, run.seat.config.model, raw)
        if outcome is None:  # Cut off by the quorum (our own scope was cancelled).
            outcome = run.answer("cancelled", error=run.cut_off_reason or "cancelled")
        run.finished = True
        self.emit(outcome)
        if all(other.finished for other in self.runs):
            self.all_finished.set()
        if outcome.status.status == "ok":
            self.usable += 1
            if (
                self.policy.quorum is not None
                and self.usable >= self.policy.quorum
                and not self.quorum_reached
            ):
                self.quorum_reached = True
                calls.start_soon(self.cut_stragglers)

    async def ask(self, run: _SeatRun) -> str:
        """The seat's answer: reused from the cache (or a twin call in flight), else asked."""
        seat = run.seat

        async def call() -> str:
            return await complete_chat(
                seat.name,
                seat.config,
                seat.messages,
                gate=seat.gate,
                json_schema=self.json_schema,
                usage=run.usage,
            )

        if self.cache is None or seat.config.agent is not None:  # An agent's answer is its workspace's.
            return await call()
        reused = await self.cache.answer(seat.config, seat.messages, seat.gate, self.json_schema, call)
        run.cached, run.cache_key = reused.cached, reused.key
        return reused.text

    def parsed(self, run: _SeatRun, raw: str) -> SeatAnswer[Any]:
        """The seat's answer parsed (blocking; a large answer is parsed in a worker thread)."""
        try:
            value = self.parse(raw, run.seat)
        except UnusableAnswer as error:
            return run.answer("invalid", error=str(error), raw=raw)
        except Exception as error:  # A parser bug, or an answer no parser foresaw: keep the trace.
            log_unexpected(f"seat {run.seat.name}: parsing its answer failed", error)
            return run.answer(
                "invalid", error=f"unparseable answer ({type(error).__name__}: {error})", raw=raw
            )
        answer = run.answer("ok", raw=raw)
        return SeatAnswer(status=answer.status, value=value, raw=raw)

    async def cut_stragglers(self) -> None:
        """After the quorum answered: wait `grace` seconds, then cancel every seat still working."""
        with anyio.move_on_after(self.policy.grace):
            await self.all_finished.wait()
        for run in self.runs:
            if not run.finished:
                run.cut_off_reason = f"cut off: quorum of {self.policy.quorum} reached"
                run.scope.cancel()


@asynccontextmanager
async def fan_out(
    seats: Sequence[Seat],
    parse: Callable[[str, Seat], T],
    policy: PolicyConfig,
    *,
    json_schema: dict[str, Any] | None = None,
    cache: AnswerCache | None = None,
) -> AsyncIterator[AsyncIterator[FanOutEvent[T]]]:
    """Call all `seats` in parallel; yields an iterator of SeatStarted and SeatAnswer events.

    The iterator ends after one SeatAnswer per seat. Leaving the block cancels unfinished calls.
    With `cache`, answers asked before are reused and usable new ones remembered.
    """
    if _call_limiter.total_tokens != policy.max_parallel_calls:
        _call_limiter.total_tokens = policy.max_parallel_calls
    send, receive = anyio.create_memory_object_stream[FanOutEvent[T]](math.inf)
    runner: _FanOut[T] = _FanOut(seats, parse, policy, json_schema, send, cache)
    with receive:
        async with anyio.create_task_group() as group:
            group.start_soon(runner.run)
            try:
                yield receive
            finally:
                group.cancel_scope.cancel()
