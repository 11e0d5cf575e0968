"""The one skeleton every task runs on; a task supplies only what differs.

`Pipeline.run` is the path of one request:

1. `check` refuses what cannot be served before anything is opened (lines that do not exist, no stub);
2. `open` passes the request through `panel.budgets.open_request` (file size, the privacy gate, the
   redacted document), selects the task's seats (`panel.selection.select_seats`: the panel or
   automatic routing, the circuit breaker, the gate, the budget) and loads litellm (its one-time
   import is not the request's time, so the deadline starts after it);
3. `seat` says what every admitted seat is asked (`seats_asked_alike`: one prompt for all, a seat
   whose budget cannot hold it skipped);
4. `ask` fans out (`panel.seats.run_panel`), reading each answer with `parse`; after every usable
   answer while others are still working, `on_event` gets a partial result (`result(final=False)`);
5. the final `result`, then the optional arbiter step (`arbiter_step`, asked through
   `panel.arbiter.ask_arbiter` within what is left of the deadline), then `restored` (fixes that
   would write a redaction placeholder get the secret back or are withheld), which partial
   results pass too;
6. the final `ResultUpdate` to `on_event`.

With a memory (`memory: StoreWriter`, handed in by the face), the run is recorded
(`orchestration.memory.recorder.RunRecorder`): its start once the request is past the gate, an audit
row per model call (the request's gate carries the recorder's hook), each seat, the task's findings
(`record`) and the end, "cancelled" when the run is cancelled. Results carry the run's id
(`identified`, partial results too). Seats' answers are reused through an answer cache
(`orchestration.memory.cache`) unless `cache.enabled` is false. A store that fails never fails or
slows a request: writes are queued, reads are bounded (`orchestration.memory.reads`).

Subclasses: `review.ReviewPipeline`, `implement.ImplementPipeline`, `explain.ExplainPipeline`. Each
task's public function is its class's `answer`. A multi-step workflow (plan → review → improve →
synthesize) fits the same shape: it opens the request once and runs several rounds (`seat` → `ask`
→ `result`) over the same `OpenedRequest`, one gate, one redacted document and one deadline.
"""

from __future__ import annotations

import functools
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, Protocol, TypeVar, cast

import anyio

from orchestration.answers import prompts
from orchestration.memory.cache import answer_cache
from orchestration.memory.reads import usable
from orchestration.memory.recorder import RunRecorder, run_outcome
from orchestration.memory.records import SeatFinding
from orchestration.offload import OFF_LOOP_ITEMS, off_loop
from orchestration.panel.arbiter import CompleteChat, ask_arbiter
from orchestration.panel.budgets import admit_seats, litellm_ready, open_request
from orchestration.panel.fanout import Seat
from orchestration.panel.seats import EventHandler, PanelRound, PanelRun, run_panel
from orchestration.panel.selection import SelectionContext, select_seats
from orchestration.privacy.gate import PrivacyGate
from orchestration.providers.agents.scope import agent_scope
from orchestration.providers.gateway import current_gateway, gateway_scope
from orchestration.types.config import ChorusConfig, ModelConfig, Task
from orchestration.types.errors import ChorusError
from orchestration.types.requests import Message, SourceDocument
from orchestration.types.results import ModelStatus, PanelEvent, PanelResult, ResultUpdate, SeatFinished

if TYPE_CHECKING:
    from orchestration.memory.writer import StoreWriter


class DocumentRequest(Protocol):
    """A request about one document (every task's request is)."""

    document: SourceDocument


RequestT = TypeVar("RequestT", bound=DocumentRequest)
AnswerT = TypeVar("AnswerT")
ResultT = TypeVar("ResultT", bound=PanelResult)
ValueT = TypeVar("ValueT")

PROMPT_VERSION: Final = hashlib.sha256(Path(prompts.__file__).read_bytes()).hexdigest()[:12]
"""The prompts' version: a digest of `orchestration/answers/prompts.py`, so any change to them is a new
version (recorded with each run, part of every cache key)."""


@dataclass(frozen=True, slots=True)
class OpenedRequest:
    """A request past the privacy gate: what every later step works from."""

    gate: PrivacyGate
    document: SourceDocument
    """The redacted document (line for line the original): what the models see."""
    started_at: float
    """`anyio.current_time()` when the request began, less litellm's one-time import."""
    asked: list[tuple[str, ModelConfig]]
    """The task's seats the gate admits, in panel order."""
    skipped: list[ModelStatus]
    """The task's seats the gate keeps out."""
    weights: dict[str, float]
    """Each asked seat's vote weight."""
    notice: str | None = None
    """What seat selection tells the user (a budget nearly spent, a benched seat), if anything."""


@dataclass(frozen=True, slots=True)
class ArbiterStep(Generic[ValueT, ResultT]):
    """One arbiter step: what it is asked (`ask`), and how its answer (or None) changes the result."""

    ask: Callable[[CompleteChat], Awaitable[ValueT]]
    apply: Callable[[ValueT | None, ModelStatus | None], ResultT]


async def seats_asked_alike(
    opened: OpenedRequest, messages: list[Message]
) -> tuple[list[Seat], list[ModelStatus]]:
    """Every admitted seat asked `messages`, less those whose prompt budget cannot hold them (skipped).

    Raises `InputError` when no seat can take the prompt (nothing is sent then).
    """
    admitted, refused = await admit_seats(opened.asked, messages)
    return [Seat(name, seat, messages, opened.gate) for name, seat in admitted], refused


def noticed(result: ResultT, opened: OpenedRequest) -> ResultT:
    """`result` with seat selection's notice (a budget nearly spent, a benched seat) before its own,
    and the gateway's after it (cloud seats called directly because it was unreachable)."""
    gateway = current_gateway()
    gateway_notice = gateway.notice() if gateway is not None else None
    if opened.notice is None and gateway_notice is None:
        return result
    notice = " ".join(note for note in (opened.notice, result.notice, gateway_notice) if note)
    return cast(ResultT, result.model_copy(update={"notice": notice}))


@dataclass(slots=True)
class Pipeline(ABC, Generic[RequestT, AnswerT, ResultT]):
    """One task on one request: `AnswerT` is a seat's parsed answer, `ResultT` the task's result."""

    task: ClassVar[Task]
    json_schema: ClassVar[dict[str, Any]]
    """The JSON the seats answer in (sent to providers that support structured output)."""

    request: RequestT
    config: ChorusConfig
    workspace: Path | None
    memory: StoreWriter | None = None
    recorder: RunRecorder | None = field(default=None, init=False)
    """This run's recorder, once the request is past the gate (None without a usable memory)."""
    finished: dict[str, ModelStatus] = field(default_factory=dict, init=False)
    """Each seat that has finished (or was skipped), as reported: what a cancelled run records."""
    asked: list[Seat] = field(default_factory=list, init=False)
    """The seats asked this round (a cancelled run records those still working as cancelled)."""

    @classmethod
    async def answer(
        cls,
        request: RequestT,
        config: ChorusConfig,
        *,
        workspace: Path | None = None,
        on_event: EventHandler | None = None,
        memory: StoreWriter | None = None,
    ) -> ResultT:
        """Run the task on `request` (see the subclass for what it raises and returns).

        With `memory`, the run is recorded and its seats' answers may come from the cache.
        """
        user = config.store.resolved_user()
        with (
            agent_scope(workspace, config.policy, memory=memory),  # What agent seats may read.
            gateway_scope(config.gateway, user=user, task=cls.task),  # Cloud seats' proxy, if any.
        ):
            return await cls(request, config, workspace, memory).run(on_event)

    def check(self) -> None:
        """Raise `InputError` (or another `ChorusError`) for a request that cannot be served as asked."""

    def span(self) -> tuple[int, int] | None:
        """The lines the request is about, once `check` passed (recorded with the run and its audit)."""
        return None

    @abstractmethod
    async def seat(self, opened: OpenedRequest) -> tuple[list[Seat], list[ModelStatus]]:
        """The seats to ask, with their messages, and the ones not asked (e.g. over their budget)."""

    @abstractmethod
    def parse(self, raw: str, seat: Seat, opened: OpenedRequest) -> AnswerT:
        """One seat's answer, parsed; raises `UnusableAnswer` (runs in a worker thread when large)."""

    async def ask(self, panel_round: PanelRound[AnswerT]) -> PanelRun[AnswerT]:
        """Ask every seat of the round at once (`panel.seats.run_panel`)."""
        return await run_panel(panel_round, self.config)

    @abstractmethod
    async def result(self, run: PanelRun[AnswerT], opened: OpenedRequest, *, final: bool) -> ResultT:
        """The task's result from the answers so far (`final` once every seat has finished)."""

    def arbiter_step(
        self, result: ResultT, run: PanelRun[AnswerT], opened: OpenedRequest
    ) -> ArbiterStep[Any, ResultT] | None:
        """What the arbiter (when one is configured) is asked about `result`; None: nothing to arbitrate."""
        return None

    async def restored(self, result: ResultT, opened: OpenedRequest) -> ResultT:
        """`result` as the user may see it (by default as it is)."""
        return result

    async def identified(self, result: ResultT, opened: OpenedRequest) -> ResultT:
        """`result` with the run's id (a review also names its findings and drops dismissed ones)."""
        if self.recorder is None:
            return result
        return cast(ResultT, result.model_copy(update={"run_id": self.recorder.run_id}))

    def opinions(self, run: PanelRun[AnswerT]) -> dict[str, list[SeatFinding]]:
        """Each seat's own findings, for the memory (none for tasks that find nothing)."""
        return {}

    def record(self, result: ResultT, run: PanelRun[AnswerT], recorder: RunRecorder) -> None:
        """Write the run's seats and the task's findings (blocking; large runs go to a worker thread)."""
        arbiter: ModelStatus | None = getattr(result, "arbiter", None)
        recorder.seats(result.models, opinions=self.opinions(run), hashes=run.hashes, arbiter=arbiter)

    async def begin_recording(self) -> RunRecorder | None:
        """The run's recorder (its `RunStart` written), or None without a usable memory."""
        if self.memory is None or not usable(self.memory):
            return None
        begin = functools.partial(
            RunRecorder.begin,
            self.memory,
            task=self.task,
            document=self.request.document,
            workspace=self.workspace,
            span=self.span(),
            config=self.config,
            prompt_version=PROMPT_VERSION,
            seats=self.config.panel_for(self.task),
        )
        return await off_loop(begin, size=len(self.request.document.text))

    async def open(self) -> OpenedRequest:
        """Check the request, open it through the gate and plan the task's seats."""
        started_at = anyio.current_time()
        self.check()
        gate, document = await open_request(self.request.document, self.config, self.workspace)
        self.recorder = await self.begin_recording()  # Past the gate: an excluded file is never recorded.
        gateway = current_gateway()
        if gateway is not None and self.recorder is not None:
            gateway.run_id = self.recorder.run_id  # The proxy's spend logs name the run.
        if self.recorder is not None:
            gate = replace(gate, audit=self.recorder.audit)
        started_at += await litellm_ready()  # Before selection: a budget's cost estimate may need it.
        selection = await select_seats(SelectionContext(self.config, self.task, gate, document, self.memory))
        asked = [(candidate.name, candidate.seat) for candidate in selection.asked]
        weights = {name: seat.weight for name, seat in asked}
        return OpenedRequest(gate, document, started_at, asked, selection.skipped, weights, selection.notice)

    async def arbitrated(self, result: ResultT, run: PanelRun[AnswerT], opened: OpenedRequest) -> ResultT:
        """`result` after the arbiter step, when an arbiter is configured and there is one to take."""
        if self.config.panels.arbiter is None:
            return result
        step = self.arbiter_step(result, run, opened)
        if step is None:
            return result
        value, status = await ask_arbiter(self.config, opened.gate, step.ask, started_at=opened.started_at)
        return step.apply(value, status)

    async def run(self, on_event: EventHandler | None = None) -> ResultT:
        """The whole path of one request (see the module docstring)."""
        try:
            result = await self.final_result(on_event)
        except anyio.get_cancelled_exc_class():
            if self.recorder is not None:
                self.recorder.seats(self.seats_at_cancel())
                self.recorder.end("cancelled")
            raise
        except BaseException as error:
            if self.recorder is not None:
                self.recorder.end(
                    "failed", str(error) if isinstance(error, ChorusError) else type(error).__name__
                )
            raise
        if on_event is not None:
            await on_event(ResultUpdate(result=result))
        return result

    def seats_at_cancel(self) -> list[ModelStatus]:
        """Every seat as it stood when the run was cancelled: finished ones as reported, the rest cancelled.

        A seat asked in chunks is one seat here (`ChunkSeat.base`), as it is everywhere else.
        """
        still_working: dict[str, ModelStatus] = {}
        for seat in self.asked:
            name = getattr(seat, "base", seat.name)
            if name not in self.finished:
                still_working[name] = ModelStatus(
                    name=name, model=seat.config.label, status="cancelled", error="request cancelled"
                )
        return [*self.finished.values(), *still_working.values()]

    def watching(self, on_event: EventHandler | None) -> EventHandler:
        """`on_event` (when given) behind a watch that notes each finished seat in `finished`."""

        async def watch(event: PanelEvent) -> None:
            if isinstance(event, SeatFinished):
                self.finished[event.status.name] = event.status
            if on_event is not None:
                await on_event(event)

        return watch

    async def final_result(self, on_event: EventHandler | None) -> ResultT:
        """Open, ask, merge, arbitrate and restore; the final result, recorded (not yet reported)."""
        opened = await self.open()
        seats, refused = await self.seat(opened)

        def parse(raw: str, seat: Seat) -> AnswerT:
            return self.parse(raw, seat, opened)

        async def partial(run: PanelRun[AnswerT]) -> ResultT:
            result = await self.result(run, opened, final=False)
            return noticed(await self.restored(await self.identified(result, opened), opened), opened)

        skipped = [*opened.skipped, *refused]
        self.asked = seats
        self.finished.update((status.name, status) for status in skipped)
        cache = (
            answer_cache(self.memory, self.config.cache, PROMPT_VERSION)
            if self.recorder is not None
            else None
        )
        panel_round = PanelRound(
            seats,
            skipped,
            parse,
            self.json_schema,
            self.watching(on_event),
            partial if on_event is not None else None,
            cache,
        )
        run = await self.ask(panel_round)
        result = await self.identified(await self.result(run, opened, final=True), opened)
        result = noticed(await self.restored(await self.arbitrated(result, run, opened), opened), opened)
        if self.recorder is not None:
            size = sum(len(answer) if isinstance(answer, list) else 1 for answer in run.answers.values())
            await off_loop(self.record, result, run, self.recorder, size=size, threshold=OFF_LOOP_ITEMS)
            self.recorder.end(run_outcome(result.models), result.notice)
        return result
