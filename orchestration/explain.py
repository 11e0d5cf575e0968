"""Explain the diagnostics on some lines: one explanation from many seats, plus fixes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from orchestration.arbiter import combine_explanations, synthesize_explanation
from orchestration.config import ChorusConfig
from orchestration.fanout import Seat
from orchestration.findings import Fix
from orchestration.merge import rank_fixes
from orchestration.panel import (
    EventHandler,
    PanelRun,
    ask_arbiter,
    open_gate,
    plan_seats,
    prepare_document,
    run_panel,
    seat_weights,
)
from orchestration.parsing import parse_explanation
from orchestration.privacy import Message
from orchestration.prompts import EXPLAIN_SCHEMA, explain_messages, number_lines
from orchestration.requests import ExplainRequest
from orchestration.results import ExplainResult, ResultUpdate
from orchestration.review import indent_like_original

Explanation = tuple[str, Fix | None]


def summarize_diagnostics(request: ExplainRequest) -> str:
    """The diagnostics being explained, one per line, for the arbiter."""
    if not request.diagnostics:
        return f"(no diagnostics given; lines {request.start_line}-{request.end_line})"
    return "\n".join(
        f"lines {d.start_line}-{d.end_line} [{d.source or 'unknown source'}"
        f"{' ' + d.code if d.code else ''}]: {d.message}"
        for d in request.diagnostics
    )


async def explain_diagnostics(
    request: ExplainRequest,
    config: ChorusConfig,
    *,
    workspace: Path | None = None,
    on_event: EventHandler | None = None,
) -> ExplainResult:
    """Ask every explain seat at once; return one markdown explanation and the ranked fixes.

    With an arbiter the explanations are synthesized into one text that names the
    disagreements; without one (or when the arbiter fails) they are combined and
    attributed to their seats.
    """
    gate = open_gate(request.document, config, workspace)
    document = prepare_document(request.document)
    safe_request = request.model_copy(update={"document": document})
    asked, skipped = plan_seats(config, "explain", gate)
    seats = [Seat(name, seat, explain_messages(safe_request), gate) for name, seat in asked]
    weights = seat_weights(config)

    whole_file = max(1, len(document.lines))

    def parse(raw: str, seat: Seat) -> Explanation:
        # A fix may reach beyond the diagnostic's lines (an import, the enclosing function).
        text, fix = parse_explanation(raw, start_line=1, end_line=whole_file)
        return text, indent_like_original(fix, document.lines) if fix is not None else None

    def combined(run: PanelRun[Explanation], final: bool) -> ExplainResult:
        texts = {name: text for name, (text, _fix) in run.answers.items()}
        fixes = {name: fix for name, (_text, fix) in run.answers.items() if fix is not None}
        return ExplainResult(
            path=request.document.path,
            start_line=request.start_line,
            end_line=request.end_line,
            explanation=combine_explanations(texts),
            fixes=rank_fixes(fixes, weights),
            models=run.models,
            final=final,
        )

    async def partial(run: PanelRun[Explanation]) -> ExplainResult:
        return combined(run, final=False)

    run = await run_panel(
        seats,
        skipped,
        parse,
        config,
        json_schema=EXPLAIN_SCHEMA,
        on_event=on_event,
        partial_result=partial,
    )
    result = combined(run, final=True)
    if len(run.answers) > 1 and config.panels.arbiter is not None:
        texts = {name: text for name, (text, _fix) in run.answers.items()}
        excerpt = number_lines(document.lines, request.start_line, request.end_line)
        summary = summarize_diagnostics(request)

        async def synthesize(complete: Callable[[list[Message]], Awaitable[str]]) -> str:
            return await synthesize_explanation(texts, summary, excerpt, complete)

        synthesized, status = await ask_arbiter(config, gate, synthesize)
        result = result.model_copy(
            update={"explanation": synthesized or result.explanation, "arbiter": status}
        )
    if on_event is not None:
        await on_event(ResultUpdate(result=result))
    return result
