"""Review a selection with the whole panel and merge the findings into one voice."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from orchestration.answers.parsing import parse_review
from orchestration.answers.prompts import REVIEW_SCHEMA, number_lines
from orchestration.merge.consensus import merge_findings
from orchestration.offload import OFF_LOOP_ITEMS, off_loop
from orchestration.panel.arbiter import arbitrate_review
from orchestration.panel.budgets import litellm_ready, open_request
from orchestration.panel.fanout import Seat
from orchestration.panel.seats import (
    EventHandler,
    PanelRun,
    ask_arbiter,
    plan_seats,
    seat_weights,
    stream_events,
)
from orchestration.pipelines.chunking import ChunkSeat, plan_review_seats, run_chunked_panel
from orchestration.privacy.gate import Message
from orchestration.privacy.roundtrip import restore_findings, withheld_notice
from orchestration.types.config import ChorusConfig
from orchestration.types.findings import Finding, Fix, MergedFinding
from orchestration.types.requests import ReviewRequest
from orchestration.types.results import PanelEvent, ResultUpdate, ReviewResult


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


async def review_selection(
    request: ReviewRequest,
    config: ChorusConfig,
    *,
    workspace: Path | None = None,
    on_event: EventHandler | None = None,
) -> ReviewResult:
    """Ask every review seat at once, merge as answers arrive, return the final merge.

    `on_event` sees each seat start and finish, a partial result after every usable
    answer, and the final result. Before anything is sent it raises `InputError` (lines
    that do not exist, a file over `policy.max_file_bytes`, a selection no seat's prompt
    budget holds), `ExcludedFileError` or `NoPanelError`; a failing seat only lowers the
    panel count. A selection over a seat's budget is reviewed in chunks
    (`orchestration.pipelines.chunking`); fixes that would write a redaction placeholder get the
    secret back or are withheld (`orchestration.privacy.roundtrip`).
    """
    started_at = anyio.current_time()
    first, last = request.selection()
    gate, document = await open_request(request.document, config, workspace)
    safe_request = request.model_copy(update={"document": document})
    asked, skipped = plan_seats(config, "review", gate)
    started_at += await litellm_ready()
    seats, refused = await plan_review_seats(asked, safe_request, first, last, gate)
    skipped = [*skipped, *refused]
    weights = seat_weights(config)
    lines, original_lines = document.lines, request.document.lines
    chunked = sorted({seat.base for seat in seats if seat.name != seat.base})
    chunk_note = (
        f"{', '.join(chunked)} reviewed the selection in parts that fit its prompt budget"
        if chunked
        else None
    )

    def parse(raw: str, seat: Seat) -> list[Finding]:
        span, name = (
            ((seat.first, seat.last), seat.base)
            if isinstance(seat, ChunkSeat)
            else ((first, last), seat.name)
        )
        found = parse_review(raw, start_line=span[0], end_line=span[1], seat=name)
        return [with_indented_fix(finding, lines) for finding in found]

    def merge(answers: dict[str, list[Finding]], answered: list[str]) -> list[MergedFinding]:
        return merge_findings(
            answers, answered=answered, weights=weights, min_agreement=config.policy.min_agreement
        )

    async def merged(run: PanelRun[list[Finding]], final: bool) -> ReviewResult:
        size = sum(len(items) for items in run.answers.values())
        findings = await off_loop(merge, dict(run.answers), run.answered, size=size, threshold=OFF_LOOP_ITEMS)
        return ReviewResult(
            path=request.document.path,
            start_line=first,
            end_line=last,
            findings=findings,
            models=run.models,
            final=final,
        )

    async def restored(result: ReviewResult) -> ReviewResult:
        findings, withheld = await off_loop(
            restore_findings,
            result.findings,
            original_lines,
            lines,
            size=len(result.findings),
            threshold=OFF_LOOP_ITEMS,
        )
        notice = " ".join(note for note in (chunk_note, withheld_notice(withheld)) if note) or None
        return result.model_copy(update={"findings": findings, "withheld": withheld, "notice": notice})

    async def partial(run: PanelRun[list[Finding]]) -> ReviewResult:
        return await restored(await merged(run, final=False))

    run = await run_chunked_panel(
        seats,
        skipped,
        parse,
        config,
        json_schema=REVIEW_SCHEMA,
        on_event=on_event,
        partial_result=partial,
    )
    result = await merged(run, final=True)
    if result.findings and config.panels.arbiter is not None:
        excerpt = number_lines(document.lines, first, last)
        findings = result.findings

        async def arbitrate(complete: Callable[[list[Message]], Awaitable[str]]) -> list[MergedFinding]:
            return await arbitrate_review(findings, excerpt, complete)

        arbitrated, status = await ask_arbiter(config, gate, arbitrate, started_at=started_at)
        result = result.model_copy(update={"findings": arbitrated or findings, "arbiter": status})
    result = await restored(result)
    if on_event is not None:
        await on_event(ResultUpdate(result=result))
    return result


@asynccontextmanager
async def stream_review(
    request: ReviewRequest,
    config: ChorusConfig,
    *,
    workspace: Path | None = None,
) -> AsyncIterator[AsyncIterator[PanelEvent]]:
    """`async with stream_review(...) as events: async for event in events: ...`"""

    async def pipeline(on_event: EventHandler) -> ReviewResult:
        return await review_selection(request, config, workspace=workspace, on_event=on_event)

    async with stream_events(pipeline) as events:
        yield events
