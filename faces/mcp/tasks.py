"""review, implement and explain as MCP tools: the core's pipelines, recorded in the memory.

`ask` puts a follow-up question about a recorded finding to one seat
(`orchestration.providers.agents.followup`): an agent seat resumes the session it keeps for the
workspace. Each call loads the config for the file (as `chorus review` does), reads the file safely
(`faces.cli.targets`: no FIFO, no device, no more than `policy.max_file_bytes`), runs the pipeline
with `memory=` so the run is recorded in the same store the CLI and the language server use, and
sends an MCP progress notification as each seat finishes (when the client asked for progress).
The result's structured content is the machine form (`orchestration.machine_form`, the same JSON
as `chorus review --json`); its text is a short summary an agent can read at a glance.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp_types import CallToolResult, TextContent

from faces.cli.targets import Target, check_lines, task_request
from faces.mcp.setup import Resolved, ServeOptions, ToolRefusal, file_path, one_line, resolve
from orchestration.machine_form import (
    MachineForm,
    agreement_words,
    explain_machine_form,
    implement_machine_form,
    review_machine_form,
)
from orchestration.memory.opening import open_memory
from orchestration.panel.seats import all_failed
from orchestration.pipelines.explain import explain_diagnostics
from orchestration.pipelines.implement import implement_stub
from orchestration.pipelines.review import review_selection
from orchestration.providers.agents.followup import ask_about_finding, finding_context
from orchestration.providers.agents.scope import agent_scope
from orchestration.types.requests import ExplainRequest, ImplementRequest, ReviewRequest, SourceDocument
from orchestration.types.results import (
    ImplementResult,
    PanelEvent,
    PanelResult,
    ReviewResult,
    SeatFinished,
)

Progress = Callable[[float, float | None, str | None], Awaitable[None]]
"""`Context.report_progress(progress, total, message)`."""
SUMMARY_FINDINGS = 20


@dataclass(frozen=True, slots=True)
class Prepared:
    """A task ready to run: its config, the file as read, and the pipeline's request."""

    resolved: Resolved
    document: SourceDocument
    request: ReviewRequest | ImplementRequest | ExplainRequest
    uri: str


def prepare(
    options: ServeOptions, task: str, path: str, first: int | None, last: int | None, messages: list[str]
) -> Prepared:
    """Load the config, read the file and build the request (blocking: run it in a worker thread)."""
    target = Target(file_path(path), first, last)
    if first is not None and first < 1:
        raise ToolRefusal(f"lines are 1-based: {first} is not a line")
    if first is not None and last is not None and last < first:
        raise ToolRefusal(f"end_line {last} is before start_line {first}")
    resolved = resolve(options, target.path.absolute().parent)
    document = target.read(resolved.config.policy.max_file_bytes)
    check_lines(target, document)
    request = task_request(task, target, document, messages)
    return Prepared(resolved, document, request, target.path.resolve().as_uri())


def seat_progress(report: Progress) -> Callable[[PanelEvent], Awaitable[None]]:
    """The pipeline's `on_event`: one progress notification per finished seat ("2/3 codex 1.2 s")."""

    async def on_event(event: PanelEvent) -> None:
        if isinstance(event, SeatFinished):
            mark = "ok" if event.status.status == "ok" else "failed"
            text = f"{event.answered}/{event.total} {event.status.describe()} ({mark})"
            await report(float(event.answered), float(event.total), text)

    return on_event


async def run_pipeline(prepared: Prepared, report: Progress, warnings: list[str]) -> PanelResult:
    """Run the pipeline for `prepared.request`, recording it; store warnings land in `warnings`."""
    config, workspace = prepared.resolved.config, prepared.resolved.workspace
    memory = await anyio.to_thread.run_sync(open_memory, config, warnings.append)
    on_event = seat_progress(report)
    request = prepared.request
    try:
        with agent_scope(workspace, config.policy, memory=memory):
            if isinstance(request, ReviewRequest):
                return await review_selection(
                    request, config, workspace=workspace, on_event=on_event, memory=memory
                )
            if isinstance(request, ImplementRequest):
                return await implement_stub(
                    request, config, workspace=workspace, on_event=on_event, memory=memory
                )
            return await explain_diagnostics(
                request, config, workspace=workspace, on_event=on_event, memory=memory
            )
    finally:
        if memory is not None:
            await anyio.to_thread.run_sync(memory.close)


def machine_form(result: PanelResult, document: SourceDocument, uri: str) -> MachineForm:
    """The JSON of `chorus review|implement|explain --json` for `result`."""
    if isinstance(result, ReviewResult):
        return review_machine_form(result, document, uri)
    if isinstance(result, ImplementResult):
        return implement_machine_form(result, document, uri)
    return explain_machine_form(result, document, uri)


def summary(result: PanelResult, path: str) -> str:
    """A few lines for the agent: what was found, by how many seats, and the run's id."""
    answered = sum(status.status == "ok" for status in result.models)
    panel = f"{answered}/{len(result.models)} models answered"
    lines: list[str]
    if isinstance(result, ReviewResult):
        lines = [f"Review of {path}:{result.start_line}-{result.end_line}: "
                 f"{len(result.findings)} finding(s); {panel}."]  # fmt: skip
        for finding in result.findings[:SUMMARY_FINDINGS]:
            ident = f" (finding {finding.finding_id})" if finding.finding_id else ""
            lines.append(
                f"- line {finding.start_line}: {finding.severity} [{agreement_words(finding)}] "
                f"{one_line(finding.message)}{ident}"
            )
    elif isinstance(result, ImplementResult):
        where = f" for {result.stub.name}" if result.stub else ""
        lines = [f"Implementation{where} in {path}: {len(result.candidates)} candidate(s); {panel}."]
        for rank, candidate in enumerate(result.candidates[:3], 1):
            state = "valid" if candidate.valid else "invalid: " + "; ".join(candidate.problems)[:200]
            lines.append(f"- #{rank} [{candidate.votes} vote(s), {', '.join(candidate.models)}] {state}")
    else:
        lines = [f"Explanation of {path}:{result.start_line}-{result.end_line}; {panel}.",
                 result.explanation.strip()]  # fmt: skip
    lines += [f"Not answered: {status.name}: {one_line(status.error or status.status)}"
              for status in result.models if status.status not in ("ok", "cancelled", "skipped")]  # fmt: skip
    if result.notice:
        lines.append(f"Note: {one_line(result.notice)}")
    if result.run_id:
        lines.append(f"Run {result.run_id} (show_run, feedback FINDING_ID dismiss|useful|accept).")
    return "\n".join(lines)


async def run_task(
    options: ServeOptions,
    task: str,
    report: Progress,
    *,
    path: str,
    first: int | None = None,
    last: int | None = None,
    messages: list[str] | None = None,
) -> CallToolResult:
    """One review/implement/explain call: summary text plus the machine form as structured content.

    Raises what `prepare` raises for bad arguments (the server turns it into a one-line error)."""
    prepared = await anyio.to_thread.run_sync(prepare, options, task, path, first, last, messages or [])
    warnings: list[str] = []
    result = await run_pipeline(prepared, report, warnings)
    notes = (*prepared.resolved.notices, result.notice, *warnings)
    result = result.model_copy(update={"notice": "; ".join(note for note in notes if note) or None})
    form: dict[str, Any] = dict(machine_form(result, prepared.document, prepared.uri))
    text = summary(result, str(Path(path)))
    failed = all_failed(result.models)
    if failed:
        text = "Every model failed; nothing was merged.\n" + text
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=form, is_error=failed
    )


async def run_ask(options: ServeOptions, seat: str, finding_id: str, question: str) -> CallToolResult:
    """One follow-up question about a finding to one seat; its answer as text (and structured)."""
    resolved = await anyio.to_thread.run_sync(resolve, options, (options.workspace or Path.cwd()).absolute())
    config, workspace = resolved.config, resolved.workspace
    warnings: list[str] = []
    memory = await anyio.to_thread.run_sync(open_memory, config, warnings.append)
    if memory is None:
        raise ToolRefusal("the store is turned off or cannot be opened: there is no finding to ask about")
    try:
        context = await anyio.to_thread.run_sync(
            lambda: memory.read(lambda store: finding_context(store, finding_id, workspace), None)
        )
        if context is None:
            raise ToolRefusal("the store cannot be read: " + "; ".join(warnings or ["no reason given"]))
        answer = await ask_about_finding(config, seat, context, question, workspace=workspace, memory=memory)
    finally:
        await anyio.to_thread.run_sync(memory.close)
    data: dict[str, Any] = {"seat": seat, "finding_id": context.finding.finding_id, "answer": answer}
    return CallToolResult(content=[TextContent(type="text", text=answer)], structured_content=data)
