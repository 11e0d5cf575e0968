"""Review a selection with the whole panel and merge the findings into one voice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from orchestration.answers.parsing import parse_review
from orchestration.answers.prompts import REVIEW_SCHEMA, number_lines
from orchestration.learning.voting import VotingRead
from orchestration.memory.identity import Identified, conflicts, finding_record, identify
from orchestration.memory.reads import Prefetch
from orchestration.memory.recorder import RunRecorder
from orchestration.memory.records import SeatFinding
from orchestration.merge.consensus import merge_findings
from orchestration.offload import OFF_LOOP_ITEMS, off_loop
from orchestration.panel.arbiter import arbitrate_review
from orchestration.panel.fanout import Seat
from orchestration.panel.seats import EventHandler, PanelRound, PanelRun, stream_events
from orchestration.pipelines.chunking import ChunkSeat, plan_review_seats, run_chunked_panel
from orchestration.pipelines.skeleton import ArbiterStep, OpenedRequest, Pipeline
from orchestration.privacy.roundtrip import restore_findings, withheld_notice
from orchestration.types.config import ChorusConfig, Task
from orchestration.types.findings import Finding, Fix, MergedFinding
from orchestration.types.requests import ReviewRequest
from orchestration.types.results import ModelStatus, PanelEvent, ReviewResult

if TYPE_CHECKING:
    from orchestration.memory.writer import StoreWriter


def indent_like_original(fix: Fix, lines: list[str]) -> Fix:
    """Give a fix the original lines' indentation when a model dropped it.

    Small models often answer `for i in range(n):` for a line indented by four
    spaces; applied as is, that would break the code.
    """
    if not fix.replacement.strip() or fix.start_line > len(lines):
        return fix
    original = lines[fix.start_line - 1]
    indent = original[: len(original) - len(original.lstrip())]
    body = [line for line in fix.replacement.splitlines() if line.strip()]
    if not indent or any(line[:1] in (" ", "\t") for line in body):
        return fix
    shifted = "\n".join(indent + line if line.strip() else line for line in fix.replacement.split("\n"))
    return fix.model_copy(update={"replacement": shifted})


def with_indented_fix(finding: Finding, lines: list[str]) -> Finding:
    """The finding with its fix (if any) indented like the lines it replaces."""
    if finding.fix is None:
        return finding
    return finding.model_copy(update={"fix": indent_like_original(finding.fix, lines)})


@dataclass(slots=True)
class ReviewPipeline(Pipeline[ReviewRequest, list[Finding], ReviewResult]):
    """Ask every review seat at once, merge as answers arrive, return the final merge.

    `on_event` sees each seat start and finish, a partial result after every usable
    answer, and the final result. Before anything is sent it raises `InputError` (lines
    that do not exist, a file over `policy.max_file_bytes`, a selection no seat's prompt
    budget holds), `ExcludedFileError` or `NoPanelError`; a failing seat only lowers the
    panel count. A selection over a seat's budget is reviewed in chunks
    (`orchestration.pipelines.chunking`); fixes that would write a redaction placeholder get the
    secret back or are withheld (`orchestration.privacy.roundtrip`). With a memory, each merged
    finding gets its stable `finding_id` and findings the user dismissed on the same code are left
    out (`orchestration.memory.identity`, `orchestration.memory.feedback`), partial results too.
    With `policy.voting` "weighted" (or "auto" once a seat's trust rests on enough events) and
    learning on, votes are weighted by the seats' trust, read from the memory as the request opens
    (`orchestration.learning.voting`); the arbiter is told that trust.
    """

    task: ClassVar[Task] = "review"
    json_schema: ClassVar[dict[str, Any]] = REVIEW_SCHEMA

    first: int = field(default=0, init=False)
    last: int = field(default=0, init=False)
    chunk_note: str | None = field(default=None, init=False)
    """Which seats reviewed the selection in parts, for the result's notice."""
    fingerprints: dict[str, str] = field(default_factory=dict, init=False)
    """Each finding id's fingerprint, for the memory."""
    dismissed: Prefetch[frozenset[str] | None] | None = field(default=None, init=False)
    """The fingerprints the user dismissed, read from the memory while the seats work."""
    hidden: int = field(default=0, init=False)
    """Findings of the final result left out because the user dismissed them."""
    voting: VotingRead | None = field(default=None, init=False)
    """The seats' trust, read from the memory while the seats work (None: votes are counted)."""

    def check(self) -> None:
        self.first, self.last = self.request.selection()

    def span(self) -> tuple[int, int] | None:
        return self.first, self.last

    async def seat(self, opened: OpenedRequest) -> tuple[list[Seat], list[ModelStatus]]:
        safe_request = self.request.model_copy(update={"document": opened.document})
        seats, refused = await plan_review_seats(
            opened.asked, safe_request, self.first, self.last, opened.gate
        )
        chunked = sorted({seat.base for seat in seats if seat.name != seat.base})
        if chunked:
            self.chunk_note = (
                f"{', '.join(chunked)} reviewed the selection in parts that fit its prompt budget"
            )
        return list(seats), refused

    def parse(self, raw: str, seat: Seat, opened: OpenedRequest) -> list[Finding]:
        span, name = (
            ((seat.first, seat.last), seat.base)
            if isinstance(seat, ChunkSeat)
            else ((self.first, self.last), seat.name)
        )
        found = parse_review(raw, start_line=span[0], end_line=span[1], seat=name)
        return [with_indented_fix(finding, opened.document.lines) for finding in found]

    async def ask(self, panel_round: PanelRound[list[Finding]]) -> PanelRun[list[Finding]]:
        """Every chunk of every seat at once, reported per seat (`chunking.run_chunked_panel`)."""
        return await run_chunked_panel(panel_round, self.config)

    def merge(
        self,
        answers: dict[str, list[Finding]],
        answered: list[str],
        weights: dict[str, float],
        trust: dict[str, float] | None = None,
    ) -> list[MergedFinding]:
        """The seats' findings merged into one voice (blocking; large merges run in a worker thread).

        With `trust`, votes are weighted by it (`merge_findings`)."""
        return merge_findings(
            answers,
            answered=answered,
            weights=weights,
            min_agreement=self.config.policy.min_agreement,
            trust=trust,
        )

    async def result(
        self, run: PanelRun[list[Finding]], opened: OpenedRequest, *, final: bool
    ) -> ReviewResult:
        size = sum(len(items) for items in run.answers.values())
        trust = await self.voting.trust() if self.voting is not None else None
        findings = await off_loop(
            self.merge,
            dict(run.answers),
            run.answered,
            opened.weights,
            trust,
            size=size,
            threshold=OFF_LOOP_ITEMS,
        )
        return ReviewResult(
            path=self.request.document.path,
            start_line=self.first,
            end_line=self.last,
            findings=findings,
            models=run.models,
            final=final,
        )

    def arbiter_step(
        self, result: ReviewResult, run: PanelRun[list[Finding]], opened: OpenedRequest
    ) -> ArbiterStep[list[MergedFinding], ReviewResult] | None:
        if not result.findings:
            return None
        findings, excerpt = result.findings, number_lines(opened.document.lines, self.first, self.last)
        trust = self.voting.resolved if self.voting is not None else None

        def keep(arbitrated: list[MergedFinding] | None, status: ModelStatus | None) -> ReviewResult:
            return result.model_copy(update={"findings": arbitrated or findings, "arbiter": status})

        return ArbiterStep(lambda complete: arbitrate_review(findings, excerpt, complete, trust=trust), keep)

    async def open(self) -> OpenedRequest:
        opened = await Pipeline.open(self)
        if self.recorder is not None:  # Read while the seats work: ready when their findings are.
            self.dismissed = Prefetch(self.memory, lambda store: store.suppressed_fingerprints(), None)
            self.voting = VotingRead.start(self.memory, self.config, opened.asked)
        return opened

    async def identified(self, result: ReviewResult, opened: OpenedRequest) -> ReviewResult:
        if self.recorder is None:
            return result
        lines, run_id = self.request.document.lines, self.recorder.run_id
        named: list[Identified] = await off_loop(
            identify, result.findings, lines, run_id, size=len(result.findings), threshold=OFF_LOOP_ITEMS
        )
        dismissed = await self.dismissed.result() if self.dismissed is not None else None
        shown = [item for item in named if not dismissed or item.fingerprint not in dismissed]
        self.fingerprints.update({item.finding.finding_id or "": item.fingerprint for item in shown})
        if result.final:
            self.hidden = len(named) - len(shown)
        findings = [item.finding for item in shown]
        return result.model_copy(update={"findings": findings, "run_id": run_id})

    def opinions(self, run: PanelRun[list[Finding]]) -> dict[str, list[SeatFinding]]:
        return {
            seat: [
                SeatFinding(f.start_line, f.end_line, f.severity.value, f.category.value, f.message)
                for f in found
            ]
            for seat, found in run.answers.items()
        }

    def record(self, result: ReviewResult, run: PanelRun[list[Finding]], recorder: RunRecorder) -> None:
        super(ReviewPipeline, self).record(result, run, recorder)
        run_id = recorder.run_id
        records = [
            finding_record(finding, run_id, self.fingerprints.get(finding.finding_id or ""))
            for finding in result.findings
        ]
        arbiter = self.config.panels.arbiter if result.arbiter is not None else None
        recorder.findings(records, conflicts(result.findings, run.answered, run_id, arbiter))

    async def restored(self, result: ReviewResult, opened: OpenedRequest) -> ReviewResult:
        findings, withheld = await off_loop(
            restore_findings,
            result.findings,
            self.request.document.lines,
            opened.document.lines,
            size=len(result.findings),
            threshold=OFF_LOOP_ITEMS,
        )
        notes = (
            self.chunk_note,
            withheld_notice(withheld),
            dismissed_notice(self.hidden if result.final else 0),
        )
        notice = " ".join(note for note in notes if note) or None
        return result.model_copy(update={"findings": findings, "withheld": withheld, "notice": notice})


def dismissed_notice(hidden: int) -> str | None:
    """The note that findings the user dismissed on this code were left out."""
    if not hidden:
        return None
    one = hidden == 1
    return (
        f"{hidden} finding{'' if one else 's'} you dismissed on this code {'is' if one else 'are'} hidden "
        "(chorus suppressions --clear shows them again)."
    )


review_selection = ReviewPipeline.answer
"""`await review_selection(request, config, workspace=..., on_event=..., memory=...)`: see
`ReviewPipeline`."""


@asynccontextmanager
async def stream_review(
    request: ReviewRequest,
    config: ChorusConfig,
    *,
    workspace: Path | None = None,
    memory: StoreWriter | None = None,
) -> AsyncIterator[AsyncIterator[PanelEvent]]:
    """`async with stream_review(...) as events: async for event in events: ...`"""

    async def pipeline(on_event: EventHandler) -> ReviewResult:
        return await review_selection(request, config, workspace=workspace, on_event=on_event, memory=memory)

    async with stream_events(pipeline) as events:
        yield events
