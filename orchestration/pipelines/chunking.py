"""Review a selection too large for a seat's prompt budget in chunks that follow the code's structure.

`plan_review_seats` gives each review seat one `ChunkSeat` per chunk of the selection. A seat
whose prompt fits its budget (`orchestration.panel.budgets.seat_budget`) gets one chunk: the whole
selection. Otherwise the selection is cut where tree-sitter sees definitions start: first between
the top-level definitions, and inside a definition (a class's methods) only when that definition
alone is over the budget; a leading comment stays with the definition below it, and a function is
never cut. Files tree-sitter cannot parse are cut between lines. Consecutive pieces are packed
into as few chunks as fit (estimated from per-line token counts); each chunk's prompt is counted
exactly before it is kept. A seat whose smallest piece is still over
its budget is not asked, and its status says how to select less.

`run_chunked_panel` sends every chunk as its own request and reports to the caller as if each
seat had been asked once: a seat starts with its first chunk, finishes with its last, and its
answer is the concatenation of its chunks' findings (lines stay file-absolute, since every chunk
is numbered as in the file). A seat counts as answered only when every chunk answered; otherwise
its status is the first failing chunk's. While chunks are in flight the quorum cut-off is off
(it counts requests, not seats); the deadline still holds.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import accumulate
from typing import Any, Final, TypeVar

import anyio
from tree_sitter import Node, Parser, Tree

from orchestration.answers.prompts import CONTEXT_LINES, review_messages
from orchestration.code.stubs import parser_for
from orchestration.panel.budgets import (
    budget_advice,
    count_text_tokens,
    count_tokens,
    seat_budget,
    surely_fits,
)
from orchestration.panel.fanout import Seat
from orchestration.panel.seats import (
    EventHandler,
    PanelRound,
    PanelRun,
    combined_hash,
    run_panel,
    with_usage_of,
)
from orchestration.privacy.gate import PrivacyGate
from orchestration.providers.loading import ensure_litellm
from orchestration.types.config import ChorusConfig, ModelConfig
from orchestration.types.errors import InputError
from orchestration.types.requests import PLAIN_TEXT, Message, ReviewRequest
from orchestration.types.results import (
    ModelStatus,
    PanelEvent,
    PanelResult,
    SeatFinished,
    SeatStarted,
)

T = TypeVar("T")
Span = tuple[int, int]

MAX_DESCENT: Final = 32
"""How deep `split_span` looks for a node whose children cut a span."""

FUNCTION_NODE: Final = re.compile(r"function|method|constructor|lambda|func_literal|closure|arrow")
"""Tree-sitter node types (across the language pack's grammars) of functions, which are never cut."""


@dataclass(frozen=True, slots=True)
class ChunkSeat(Seat):
    """One request to a review seat: lines `first..last` of the selection; `base` is the seat's name."""

    base: str = ""
    first: int = 1
    last: int = 1


class ChunkTooLarge(Exception):
    """Even the smallest piece of code at `span` needs `tokens` prompt tokens, over the budget."""

    def __init__(self, span: Span, tokens: int) -> None:
        super().__init__(f"lines {span[0]}-{span[1]} need {tokens} tokens")
        self.span, self.tokens = span, tokens


@dataclass(slots=True)
class CodeShape:
    """The lines of a document and, when tree-sitter knows its language, its syntax tree."""

    lines: Sequence[str]
    tree: Tree | None

    @classmethod
    def parse(cls, lines: Sequence[str], language: str) -> CodeShape:
        """Parse with a fresh parser for the cached language (parsers are not shared across threads)."""
        cached = parser_for(language) if language != PLAIN_TEXT else None
        if cached is None or cached.language is None:
            return cls(lines, None)
        tree = Parser(cached.language).parse("\n".join(lines).encode("utf-8", "surrogatepass"))
        return cls(lines, tree)

    def split_span(self, first: int, last: int) -> list[Span]:
        """`first..last` cut where definitions start, at the shallowest level that cuts it at all.

        Without a tree, every line is its own piece. A function is never cut (nor a span inside
        one), and neither is a span that no node cuts: such a span stays whole.
        """
        if self.tree is None:
            return [(line, line) for line in range(first, last + 1)]
        end_column = len(self.lines[last - 1].encode("utf-8", "surrogatepass")) if self.lines else 0
        node: Node | None = self.tree.root_node.descendant_for_point_range(
            (first - 1, 0), (last - 1, end_column)
        )
        if node is not None and _within_function(node):
            return [(first, last)]
        for _ in range(MAX_DESCENT):
            if node is None or FUNCTION_NODE.search(node.type):
                break
            if node.type == "decorated_definition":  # Decorators stay with the definition's first lines.
                node = node.child_by_field_name("definition")
                continue
            cuts = sorted({line for line in _piece_starts(node) if first < line <= last})
            if cuts:
                bounds = [first, *cuts, last + 1]
                return [(bounds[k], bounds[k + 1] - 1) for k in range(len(bounds) - 1)]
            inside = [child for child in node.children if child.end_point.row > child.start_point.row]
            node = max(inside, key=lambda child: child.end_point.row - child.start_point.row, default=None)
        return [(first, last)]


def _within_function(node: Node) -> bool:
    """True when `node` is a function or lies inside one."""
    current: Node | None = node
    while current is not None:
        if FUNCTION_NODE.search(current.type):
            return True
        current = current.parent
    return False


def _piece_starts(node: Node) -> list[int]:
    """1-based start lines of `node`'s children, each comment run attached to the child after it."""
    starts: list[int] = []
    pending: int | None = None
    for child in node.children:
        line = child.start_point.row + 1
        if "comment" in child.type:
            pending = line if pending is None else pending
            continue
        starts.append(line if pending is None else pending)
        pending = None
    return starts


@dataclass(slots=True)
class ChunkPlanner:
    """Packs pieces of a selection into chunks whose review prompts fit one seat's budget."""

    shape: CodeShape
    model: str
    budget: int
    build: Callable[[int, int], list[Message]]
    _prefix: list[int] = field(default_factory=list)
    _base: int = 0

    def plan(self, first: int, last: int) -> list[Span]:
        """The chunks for `first..last`; raises `ChunkTooLarge` (blocking: run in a worker thread)."""
        whole = self.build(first, last)
        if surely_fits(whole, self.budget) or count_tokens(self.model, whole) <= self.budget:
            return [(first, last)]
        costs = [
            count_text_tokens(self.model, f"{number:>4} | {line}") + 1
            for number, line in enumerate(self.shape.lines, start=1)
        ]
        self._prefix = [0, *accumulate(costs)]
        self._base = count_tokens(self.model, self.build(first, first)) - self._context_cost(first, first)
        return self._pack(self.shape.split_span(first, last))

    def _context_cost(self, first: int, last: int) -> int:
        low = max(1, first - CONTEXT_LINES)
        high = min(len(self.shape.lines), last + CONTEXT_LINES)
        return self._prefix[high] - self._prefix[low - 1]

    def _estimate(self, first: int, last: int) -> int:
        return self._base + self._context_cost(first, last)

    def _pack(self, pieces: list[Span]) -> list[Span]:
        chunks: list[Span] = []
        index = 0
        while index < len(pieces):
            start = pieces[index][0]

            def estimate(position: int, start: int = start) -> int:
                return self._estimate(start, pieces[position][1])

            def furthest(limit: int, low: int = index) -> int:
                """The last piece whose estimated chunk from `start` stays within `limit` (at least one)."""
                return max(low, bisect_right(range(len(pieces)), limit, lo=low, key=estimate) - 1)

            reach = furthest(self.budget)
            while True:
                tokens = count_tokens(self.model, self.build(start, pieces[reach][1]))
                if tokens <= self.budget or reach == index:
                    break
                reach = min(reach - 1, furthest(estimate(reach) * self.budget // tokens))
            if tokens <= self.budget:
                chunks.append((start, pieces[reach][1]))
                index = reach + 1
                continue
            inner = self.shape.split_span(*pieces[index])
            if len(inner) < 2:
                raise ChunkTooLarge(pieces[index], tokens)
            chunks.extend(self._pack(inner))
            index += 1
        return chunks


async def plan_review_seats(
    asked: list[tuple[str, ModelConfig]],
    request: ReviewRequest,
    first: int,
    last: int,
    gate: PrivacyGate,
) -> tuple[list[ChunkSeat], list[ModelStatus]]:
    """One `ChunkSeat` per chunk per seat (`request` is the redacted one), and the refused seats.

    Raises `InputError` when no seat can be asked (the message says how to select less).
    """
    shape: CodeShape | None = None
    plans: dict[tuple[str, int, str | None], list[Span] | ChunkTooLarge] = {}
    seats: list[ChunkSeat] = []
    refused: list[ModelStatus] = []
    for name, seat in asked:

        def build(start: int, end: int, instructions: str | None = seat.instructions) -> list[Message]:
            return review_messages(
                request.model_copy(update={"start_line": start, "end_line": end}), instructions
            )

        budget = await seat_budget(seat)
        whole = build(first, last)
        key = (seat.model, budget, seat.instructions)
        if surely_fits(whole, budget):
            plans[key] = [(first, last)]
        elif key not in plans:
            await ensure_litellm()
            if shape is None:
                shape = await anyio.to_thread.run_sync(
                    CodeShape.parse, request.document.lines, request.document.language
                )
            planner = ChunkPlanner(shape, seat.model, budget, build)
            try:
                plans[key] = await anyio.to_thread.run_sync(planner.plan, first, last)
            except ChunkTooLarge as error:
                plans[key] = error
        plan = plans[key]
        if isinstance(plan, ChunkTooLarge):
            refused.append(ModelStatus.skipped(name, seat.label, _too_large(name, request, plan, budget)))
            continue
        for start, end in plan:
            label = name if len(plan) == 1 else f"{name} [lines {start}-{end}]"
            seats.append(ChunkSeat(label, seat, build(start, end), gate, base=name, first=start, last=end))
    if not seats:
        raise InputError(refused[0].error or "the selection is too large for every seat")
    return seats, refused


def _too_large(name: str, request: ReviewRequest, error: ChunkTooLarge, budget: int) -> str:
    start, end = error.span
    fitting = max(start, start + (end - start) * budget // max(error.tokens, 1) - 2 * CONTEXT_LINES)
    return (
        f"{name} was not asked: lines {start}-{end} of {request.document.path} cannot be split further "
        f"and need {error.tokens:,} prompt tokens, over its budget of {budget:,}; "
        f"{budget_advice(name)} (e.g. {request.document.path}:{start}-{fitting})"
    )


@dataclass(slots=True)
class _ChunkTracker:
    """Turns per-chunk events and runs into per-seat ones."""

    seats: list[ChunkSeat]
    skipped: list[ModelStatus]
    on_event: EventHandler | None
    partial_result: Callable[[PanelRun[list[Any]]], Awaitable[PanelResult]] | None
    started: set[str] = field(default_factory=set)
    finished: dict[str, ModelStatus] = field(default_factory=dict)
    chunk_statuses: dict[str, ModelStatus] = field(default_factory=dict)
    last_result: PanelResult | None = None
    last_completed: int = -1
    fresh: bool = False
    chunks: dict[str, list[ChunkSeat]] = field(default_factory=dict, init=False)
    """Each seat's chunks, by the seat's name."""
    by_name: dict[str, ChunkSeat] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for seat in self.seats:
            self.chunks.setdefault(seat.base, []).append(seat)
        self.by_name = {seat.name: seat for seat in self.seats}

    def combined(self, base: str, statuses: dict[str, ModelStatus]) -> ModelStatus | None:
        """The seat's status once all its chunks finished, else None."""
        chunks = self.chunks[base]
        if any(chunk.name not in statuses for chunk in chunks):
            return None
        latency = max((statuses[c.name].latency_ms or 0.0 for c in chunks), default=0.0)
        failed = next((c for c in chunks if statuses[c.name].status != "ok"), None)
        model = chunks[0].config.model
        parts = [statuses[chunk.name] for chunk in chunks]
        if failed is None:
            return with_usage_of(ModelStatus(name=base, model=model, status="ok", latency_ms=latency), parts)
        status = statuses[failed.name]
        error = f"lines {failed.first}-{failed.last}: {status.error or status.status}"
        combined = ModelStatus(name=base, model=model, status=status.status, latency_ms=latency, error=error)
        return with_usage_of(combined, parts)

    def seat_run(self, run: PanelRun[list[Any]]) -> PanelRun[list[Any]]:
        """`run` (per chunk) as a per-seat run."""
        merged: PanelRun[list[Any]] = PanelRun(order=[*self.chunks, *(s.name for s in self.skipped)])
        for skipped in self.skipped:
            merged.statuses[skipped.name] = skipped
        for base, chunks in self.chunks.items():
            status = self.combined(base, run.statuses)
            if status is None:
                continue
            merged.statuses[base] = status
            if (answer_hash := combined_hash([run.hashes.get(chunk.name) for chunk in chunks])) is not None:
                merged.hashes[base] = answer_hash
            if status.status == "ok":
                merged.answers[base] = [item for chunk in chunks for item in run.answers.get(chunk.name, [])]
        return merged

    async def forward(self, event: PanelEvent) -> None:
        """Pass a chunk's event on as its seat's (only set when the caller gave an `on_event`)."""
        assert self.on_event is not None
        if isinstance(event, SeatStarted):
            base = self.by_name[event.name].base
            if base not in self.started:
                self.started.add(base)
                await self.on_event(SeatStarted(name=base))
        elif isinstance(event, SeatFinished):
            self.chunk_statuses[event.status.name] = event.status
            base = self.by_name[event.status.name].base
            status = self.combined(base, self.chunk_statuses)
            if status is not None and base not in self.finished:
                self.finished[base] = status
                total = len(self.chunks) + len(self.skipped)
                answered = len(self.finished) + len(self.skipped)
                await self.on_event(SeatFinished(status=status, answered=answered, total=total))
        elif self.fresh:  # A partial result: shown only when a seat has completed since the last one.
            self.fresh = False
            await self.on_event(event)

    async def partial(self, run: PanelRun[list[Any]]) -> PanelResult:
        """The partial result `run_panel` asked for; `forward` shows it only when it is new."""
        assert self.partial_result is not None
        completed = sum(status.status == "ok" for status in self.finished.values())
        self.fresh = False
        if self.last_result is None or completed != self.last_completed:
            self.last_result = await self.partial_result(self.seat_run(run))
            self.last_completed = completed
            self.fresh = completed > 0
        return self.last_result


async def run_chunked_panel(panel_round: PanelRound[list[T]], config: ChorusConfig) -> PanelRun[list[T]]:
    """`panel.run_panel` over chunk seats, reported and returned per seat (see the module docstring).

    A round whose seats are each asked once (or are not `ChunkSeat`s) runs as it is.
    """
    seats = [seat for seat in panel_round.seats if isinstance(seat, ChunkSeat)]
    if len(seats) < len(panel_round.seats) or len({seat.base for seat in seats}) == len(seats):
        return await run_panel(panel_round, config)
    on_event, partial_result = panel_round.on_event, panel_round.partial_result
    tracker = _ChunkTracker(seats, panel_round.skipped, on_event, partial_result)
    per_chunk = replace(
        panel_round,
        on_event=tracker.forward if on_event is not None else None,
        partial_result=tracker.partial if partial_result is not None else None,
    )
    unquorate = config.model_copy(update={"policy": config.policy.model_copy(update={"quorum": None})})
    return tracker.seat_run(await run_panel(per_chunk, unquorate))
