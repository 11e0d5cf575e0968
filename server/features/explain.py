"""Explain diagnostics: `chorus/explainDiagnostics` and the `chorus.explainDiagnostics` command.

Any tool's diagnostics can be explained (pyright, ESLint, Chorus itself). When a
client sends none, the ones it showed Chorus for that range (in `codeAction`
contexts) and Chorus's own are used. The command shows the markdown with
`window/showDocument` of a generated read-only file when the client supports it
(VS Code, LSP4IJ), else with `window/showMessage`, then offers the fixes.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import Any

import anyio
from lsprotocol import types
from platformdirs import user_cache_path
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import from_fs_path

from orchestration.explain import explain_diagnostics
from orchestration.machine_form import explain_machine_form
from orchestration.requests import ExplainRequest
from orchestration.results import ExplainResult
from server.app import ChorusLanguageServer
from server.convert import diagnostic_input, selection_lines, structure, unstructure
from server.edits import offer_edits
from server.messages import EXPLAIN_COMMAND, EXPLAIN_DIAGNOSTICS, ExplainDiagnosticsParams
from server.runs import as_command, as_request, run_panel

logger = logging.getLogger(__name__)

JSON = dict[str, Any]


async def explain_range(
    ls: ChorusLanguageServer,
    uri: str,
    selection: types.Range,
    diagnostics: list[types.Diagnostic] | None,
    token: types.ProgressToken | None,
) -> JSON:
    """Explain the diagnostics on the lines `selection` touches; returns `{explanation, fixes, models}`."""
    snapshot = ls.documents.snapshot(ls, uri)
    first, last = selection_lines(selection)
    if not diagnostics:
        known = ls.documents.known(uri, first - 1, last - 1)
        diagnostics = structure(known, list[types.Diagnostic])
    inputs = [diagnostic_input(diagnostic) for diagnostic in diagnostics]
    total = max(1, len(snapshot.document.lines))
    first = min([first, *(d.start_line for d in inputs)], default=first)
    last = min(max([last, *(d.end_line for d in inputs)]), total)
    first = min(first, last)
    request = ExplainRequest(document=snapshot.document, start_line=first, end_line=last, diagnostics=inputs)

    async def pipeline(config: Any, on_event: Any) -> ExplainResult:
        return await explain_diagnostics(request, config, workspace=ls.settings.workspace, on_event=on_event)

    name = snapshot.document.path.rsplit("/", 1)[-1]
    with ls.documents.watching(snapshot.log):
        result = await run_panel(
            ls,
            task="explain",
            verb="explaining",
            title=f"Chorus: explaining {name}:{first}-{last}",
            token=token,
            pipeline=pipeline,
        )
        form = explain_machine_form(result, snapshot.document, uri)
        fixes = snapshot.carry(form["fixes"], first - 1, last - 1)
    models = [status.model_dump() for status in result.models]
    return {
        "explanation": form["explanation"],
        "fixes": [] if fixes is None else unstructure(structure(fixes, list[types.CodeAction])),
        "models": models,
        "arbiter": form.get("arbiter"),
        "notice": result.notice,
        "stale": fixes is None,
        "range": {"start": {"line": first - 1, "character": 0}, "end": {"line": last, "character": 0}},
    }


def explanation_document(path: str, answer: JSON) -> str:
    """The markdown shown to the user: the explanation, then who answered."""
    start = answer["range"]["start"]["line"] + 1
    end = max(start, answer["range"]["end"]["line"])
    models = ", ".join(f"{m['name']}: {m['status']}" for m in answer["models"]) or "none"
    return (
        f"# Chorus: {Path(path).name}, lines {start}-{end}\n\n{answer['explanation'].strip()}\n\n"
        f"---\n*Models: {models}. This file is generated and read-only.*\n"
    )


def write_read_only(target: Path, text: str) -> None:
    """Write `text` to `target` and make it read-only (replacing an older copy)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.chmod(stat.S_IRUSR | stat.S_IWUSR)
    target.write_text(text, encoding="utf-8")
    target.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


async def show_explanation(ls: ChorusLanguageServer, uri: str, answer: JSON) -> None:
    """Open the explanation as a document when the client can, else show it as a message."""
    path = ls.workspace.get_text_document(uri).path or uri
    text = explanation_document(path, answer)
    if ls.supports("window.show_document.support"):
        start = answer["range"]["start"]["line"] + 1
        target = user_cache_path("chorus") / "explanations" / f"{Path(path).stem}-line-{start}.md"
        try:
            await anyio.to_thread.run_sync(write_read_only, target, text)
            shown = await ls.window_show_document_async(
                types.ShowDocumentParams(uri=from_fs_path(str(target)) or str(target), take_focus=True)
            )
            if shown.success:
                return
        except Exception as error:
            logger.warning("could not show the explanation as a document: %s", error)
    ls.show_message(text, types.MessageType.Info)


async def explain_and_show(
    ls: ChorusLanguageServer, uri: str, selection: types.Range, diagnostics: list[types.Diagnostic] | None
) -> JSON:
    """Explain, show the explanation, and offer the fixes in the background."""
    answer = await explain_range(ls, uri, selection, diagnostics, None)
    if answer["explanation"].strip():
        await show_explanation(ls, uri, answer)
    choices = [(fix["title"], fix["edit"]) for fix in answer["fixes"] if fix.get("edit")]
    if choices:
        prompt = f"Chorus proposes {len(choices)} fix(es). Apply one?"
        ls.run_in_background(offer_edits(ls, prompt, choices), "offer explanation fixes")
    return answer


async def chorus_explain_diagnostics(ls: ChorusLanguageServer, params: ExplainDiagnosticsParams) -> JSON:
    """`chorus/explainDiagnostics {textDocument, range, diagnostics?}` → `{explanation, fixes, models}`."""
    work = explain_range(
        ls, params.text_document.uri, params.range, params.diagnostics, params.work_done_token
    )
    return await as_request(work)


async def explain_diagnostics_command(
    ls: ChorusLanguageServer, uri: str, selection: types.Range, *extra: Any
) -> Any:
    """`chorus.explainDiagnostics [uri, range, diagnostics?]`: explain, show, offer the fixes."""
    diagnostics = None
    if extra and extra[0]:
        try:
            diagnostics = structure(extra[0], list[types.Diagnostic])
        except Exception as error:
            raise JsonRpcInvalidParams(
                f"chorus.explainDiagnostics: bad diagnostics argument: {error}"
            ) from None
    return await as_command(ls, explain_and_show(ls, uri, selection, diagnostics))


def register(server: ChorusLanguageServer) -> None:
    """Register the explain request and command."""
    server.feature(EXPLAIN_DIAGNOSTICS)(chorus_explain_diagnostics)
    server.command(EXPLAIN_COMMAND)(explain_diagnostics_command)
