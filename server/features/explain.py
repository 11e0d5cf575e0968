"""Explain diagnostics: `chorus/explainDiagnostics` and the `chorus.explainDiagnostics` command.

Any tool's diagnostics can be explained (pyright, ESLint, Chorus itself). When a
client sends none, the ones it showed Chorus for that range (in `codeAction`
contexts) and Chorus's own are used. The command shows the markdown with
`window/showDocument` of a generated read-only file when the client supports it
(VS Code, LSP4IJ), else with `window/showMessage`, then offers the fixes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lsprotocol import types

from orchestration.machine_form import explain_machine_form, model_form
from orchestration.pipelines.explain import explain_diagnostics
from orchestration.types.requests import ExplainRequest
from orchestration.types.results import ExplainResult
from server.commands import Argument, check_arguments
from server.convert import diagnostic_input, lines_within, selection_lines, structure, unstructure
from server.document_state import Snapshot
from server.edits import EditOffer
from server.language_server import ChorusLanguageServer
from server.messages import (
    EXPLAIN_COMMAND,
    EXPLAIN_DIAGNOSTICS,
    CommandFailure,
    ExplainDiagnosticsParams,
    ExplainReply,
)
from server.runs import DocumentRun, as_command, as_request
from server.shown import show_markdown, shown_file

logger = logging.getLogger(__name__)


async def explain_range(
    ls: ChorusLanguageServer,
    uri: str,
    selection: types.Range,
    diagnostics: list[types.Diagnostic] | None,
    token: types.ProgressToken | None,
) -> ExplainReply:
    """Explain the diagnostics on the lines `selection` touches; returns `{explanation, fixes, models}`."""
    snapshot = await ls.documents.snapshot_async(ls, uri)
    first, last = lines_within(snapshot.document, *selection_lines(selection))
    if not diagnostics:
        known = ls.documents.known(uri, first - 1, last - 1)
        diagnostics = structure(known, list[types.Diagnostic])
    inputs = [diagnostic_input(diagnostic) for diagnostic in diagnostics]
    total = max(1, len(snapshot.document.lines))
    first = min([first, *(d.start_line for d in inputs)], default=first)
    last = min(max([last, *(d.end_line for d in inputs)]), total)
    first = min(first, last)
    request = ExplainRequest(document=snapshot.document, start_line=first, end_line=last, diagnostics=inputs)
    run = DocumentRun(ls, snapshot, "explain", f"{first}-{last}", token)
    return await run.run(
        explain_diagnostics, request, lambda result: explain_reply(snapshot, first, last, result)
    )


def explain_reply(snapshot: Snapshot, first: int, last: int, result: ExplainResult) -> ExplainReply:
    """`{explanation, fixes, models, ...}` for lines `first..last`, the fixes moved to the current text."""
    form = explain_machine_form(result, snapshot.document, snapshot.uri)
    fixes = snapshot.carry(form["fixes"], first - 1, last - 1)
    models = [model_form(status) for status in result.models]
    return {
        "explanation": form["explanation"],
        "fixes": [] if fixes is None else unstructure(structure(fixes, list[types.CodeAction])),
        "models": models,
        "arbiter": form.get("arbiter"),
        "notice": result.notice,
        "stale": fixes is None,
        "range": {"start": {"line": first - 1, "character": 0}, "end": {"line": last, "character": 0}},
    }


def explanation_document(path: str, answer: ExplainReply) -> str:
    """The markdown shown to the user: the explanation, then who answered."""
    start = answer["range"]["start"]["line"] + 1
    end = max(start, answer["range"]["end"]["line"])
    models = ", ".join(f"{m['name']}: {m['status']}" for m in answer["models"]) or "none"
    return (
        f"# Chorus: {Path(path).name}, lines {start}-{end}\n\n{answer['explanation'].strip()}\n\n"
        f"---\n*Models: {models}. This file is generated and read-only.*\n"
    )


async def show_explanation(ls: ChorusLanguageServer, uri: str, answer: ExplainReply) -> None:
    """Open the explanation as a document when the client can, else show it as a message."""
    path = ls.workspace.get_text_document(uri).path or uri
    start = answer["range"]["start"]["line"] + 1
    target = shown_file("explanations", f"{Path(path).stem}-line-{start}.md")
    await show_markdown(ls, target, explanation_document(path, answer))


async def explain_and_show(
    ls: ChorusLanguageServer, uri: str, selection: types.Range, diagnostics: list[types.Diagnostic] | None
) -> ExplainReply:
    """Explain, show the explanation, and offer the fixes in the background."""
    answer = await explain_range(ls, uri, selection, diagnostics, None)
    choices = [(fix["title"], fix["edit"]) for fix in answer["fixes"] if fix.get("edit")]
    prompt = f"Chorus proposes {len(choices)} fix(es). Apply one?"
    offer = EditOffer.now(ls, prompt, choices)  # Against the text the fixes were moved to.
    if answer["explanation"].strip():
        await show_explanation(ls, uri, answer)
    if choices:
        ls.run_in_background(offer.present(ls), "offer explanation fixes")
    return answer


async def chorus_explain_diagnostics(
    ls: ChorusLanguageServer, params: ExplainDiagnosticsParams
) -> ExplainReply:
    """`chorus/explainDiagnostics {textDocument, range, diagnostics?}` → `{explanation, fixes, models}`."""
    work = explain_range(
        ls, params.text_document.uri, params.range, params.diagnostics, params.work_done_token
    )
    return await as_request(work)


EXPLAIN_ARGUMENTS = (
    Argument("uri", str),
    Argument("range", types.Range),
    Argument("diagnostics", list[types.Diagnostic], required=False),
)


async def explain_diagnostics_command(
    ls: ChorusLanguageServer, *arguments: Any
) -> ExplainReply | CommandFailure:
    """`chorus.explainDiagnostics [uri, range, diagnostics?]`: explain, show, offer the fixes."""
    uri, selection, diagnostics = check_arguments(EXPLAIN_COMMAND, arguments, EXPLAIN_ARGUMENTS)
    return await as_command(ls, explain_and_show(ls, uri, selection, diagnostics or None))


def register(server: ChorusLanguageServer) -> None:
    """Register the explain request and command."""
    server.feature(EXPLAIN_DIAGNOSTICS)(chorus_explain_diagnostics)
    server.command(EXPLAIN_COMMAND)(explain_diagnostics_command)
