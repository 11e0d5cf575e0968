"""Review a selection with the whole panel and merge the findings into one voice."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from orchestration.arbiter import arbitrate_review
from orchestration.config import ChorusConfig
from orchestration.fanout import Seat
from orchestration.findings import Finding, Fix, MergedFinding
from orchestration.merge import merge_findings
from orchestration.panel import (
    EventHandler,
    PanelRun,
    ask_arbiter,
    open_gate,
    plan_seats,
    prepare_document,
    run_panel,
    seat_weights,
    stream_events,
)
from orchestration.parsing import parse_review
from orchestration.privacy import Message
from orchestration.prompts import REVIEW_SCHEMA, number_lines, review_messages
from orchestration.requests import ReviewRequest
from orchestration.results import PanelEvent, ResultUpdate, ReviewResult


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
    answer, and the final result. Raises `ExcludedFileError` or `NoPanelError` before
    anything is sent; a failing seat only lowers the panel count.
    """
    gate = open_gate(request.document, config, workspace)
    document = prepare_document(request.document)
    safe_request = request.model_copy(update={"document": document})
    first, last = request.start_line, request.last_line
    asked, skipped = plan_seats(config, "review", gate)
    seats = [Seat(name, seat, review_messages(safe_request, seat.instructions), gate) for name, seat in asked]
    weights = seat_weights(config)

    lines = document.lines

    def parse(raw: str, seat: Seat) -> list[Finding]:
        found = parse_review(raw, start_line=first, end_line=last, seat=seat.name)
        return [with_indented_fix(finding, lines) for finding in found]

    def merged(run: PanelRun[list[Finding]], final: bool) -> ReviewResult:
        findings = merge_findings(
            run.answers,
            answered=run.answered,
            weights=weights,
            min_agreement=config.policy.min_agreement,
        )
        return ReviewResult(
            path=request.document.path,
            start_line=first,
            end_line=last,
            findings=findings,
            models=run.models,
            final=final,
        )

    async def partial(run: PanelRun[list[Finding]]) -> ReviewResult:
        return merged(run, final=False)

    run = await run_panel(
        seats,
        skipped,
        parse,
        config,
        json_schema=REVIEW_SCHEMA,
        on_event=on_event,
        partial_result=partial,
    )
    result = merged(run, final=True)
    if result.findings and config.panels.arbiter is not None:
        excerpt = number_lines(document.lines, first, last)
        findings = result.findings

        async def arbitrate(complete: Callable[[list[Message]], Awaitable[str]]) -> list[MergedFinding]:
            return await arbitrate_review(findings, excerpt, complete)

        arbitrated, status = await ask_arbiter(config, gate, arbitrate)
        result = result.model_copy(update={"findings": arbitrated or findings, "arbiter": status})
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
