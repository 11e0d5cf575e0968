"""Explain the diagnostics on some lines: one explanation from many seats, plus fixes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from orchestration.answers.parsing import parse_explanation
from orchestration.answers.prompts import EXPLAIN_SCHEMA, explain_messages, number_lines
from orchestration.merge.consensus import rank_fixes
from orchestration.offload import off_loop
from orchestration.panel.arbiter import combine_explanations, synthesize_explanation
from orchestration.panel.budgets import admit_seats, litellm_ready, open_request
from orchestration.panel.fanout import Seat
from orchestration.panel.seats import EventHandler, PanelRun, ask_arbiter, plan_seats, run_panel, seat_weights
from orchestration.pipelines.review import indent_like_original
from orchestration.privacy.gate import Message
from orchestration.privacy.roundtrip import restore_ranked, withheld_notice
from orchestration.types.config import ChorusConfig
from orchestration.types.findings import Fix
from orchestration.types.requests import ExplainRequest
from orchestration.types.results import ExplainResult, ModelStatus, ResultUpdate

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
    attributed to their seats. Raises `InputError` before anything is sent for lines that
    do not exist, a file over `policy.max_file_bytes` or a prompt no seat's budget holds.
    Fixes that would write a redaction placeholder get the secret back or are withheld.
    """
    started_at = anyio.current_time()
    first, last = request.selection()
    gate, document = await open_request(request.document, config, workspace)
    safe_request = request.model_copy(update={"document": document, "start_line": first, "end_line": last})
    asked, skipped = plan_seats(config, "explain", gate)
    started_at += await litellm_ready()
    messages = explain_messages(safe_request)
    asked, refused = await admit_seats(asked, messages)
    seats = [Seat(name, seat, messages, gate) for name, seat in asked]
    skipped = [*skipped, *refused]
    weights = seat_weights(config)
    original_lines = request.document.lines

    whole_file = max(1, len(document.lines))

    def parse(raw: str, seat: Seat) -> Explanation:
        # A fix may reach beyond the diagnostic's lines (an import, the enclosing function).
        text, fix = parse_explanation(raw, start_line=1, end_line=whole_file)
        return text, indent_like_original(fix, document.lines) if fix is not None else None

    def combined(answers: dict[str, Explanation], models: list[ModelStatus], final: bool) -> ExplainResult:
        texts = {name: text for name, (text, _fix) in answers.items()}
        fixes = {name: fix for name, (_text, fix) in answers.items() if fix is not None}
        ranked, withheld = restore_ranked(rank_fixes(fixes, weights), original_lines, document.lines)
        return ExplainResult(
            path=request.document.path,
            start_line=first,
            end_line=last,
            explanation=combine_explanations(texts),
            fixes=ranked,
            models=models,
            final=final,
            withheld=withheld,
            notice=withheld_notice(withheld),
        )

    async def combined_off_loop(run: PanelRun[Explanation], final: bool) -> ExplainResult:
        size = sum(len(text) for text, _fix in run.answers.values())
        return await off_loop(combined, dict(run.answers), run.models, final, size=size)

    async def partial(run: PanelRun[Explanation]) -> ExplainResult:
        return await combined_off_loop(run, final=False)

    run = await run_panel(
        seats,
        skipped,
        parse,
        config,
        json_schema=EXPLAIN_SCHEMA,
        on_event=on_event,
        partial_result=partial,
    )
    result = await combined_off_loop(run, final=True)
    if len(run.answers) > 1 and config.panels.arbiter is not None:
        texts = {name: text for name, (text, _fix) in run.answers.items()}
        excerpt = number_lines(document.lines, first, last)
        summary = summarize_diagnostics(request)

        async def synthesize(complete: Callable[[list[Message]], Awaitable[str]]) -> str:
            return await synthesize_explanation(texts, summary, excerpt, complete)

        synthesized, status = await ask_arbiter(config, gate, synthesize, started_at=started_at)
        result = result.model_copy(
            update={"explanation": synthesized or result.explanation, "arbiter": status}
        )
    if on_event is not None:
        await on_event(ResultUpdate(result=result))
    return result
