"""Implement a stub: `chorus/implementStub`, the `chorus.implementStub` command, `chorus.applyEdit`.

The request returns the candidates, best first, each with the WorkspaceEdit that
would apply it; the server applies nothing on its own. The command (for clients
that only run code actions) then lists the candidates with
`window/showMessageRequest` and applies the one the user picks through
`workspace/applyEdit`; the command's reply does not wait for that choice.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types

from orchestration.machine_form import implement_machine_form
from orchestration.pipelines.implement import implement_stub
from orchestration.types.requests import ImplementRequest
from orchestration.types.results import ImplementResult
from server.commands import Argument, check_arguments
from server.convert import lines_within, structure, unstructure
from server.document_state import Snapshot
from server.edits import EditOffer, apply_edit
from server.language_server import ChorusLanguageServer
from server.messages import (
    APPLY_EDIT_COMMAND,
    IMPLEMENT_COMMAND,
    IMPLEMENT_STUB,
    ApplyEditReply,
    CommandFailure,
    ImplementReply,
    ImplementStubParams,
)
from server.runs import DocumentRun, as_command, as_request

logger = logging.getLogger(__name__)


def candidates_answer(snapshot: Snapshot, result: ImplementResult) -> ImplementReply:
    """`{candidates, models, stub, ...}` with every edit moved to the current text (none when stale)."""
    form = implement_machine_form(result, snapshot.document, snapshot.uri)
    answer: ImplementReply = {
        "candidates": [],
        "models": form["models"],
        "stub": form["stub"],
        "notice": result.notice,
        "stale": False,
    }
    if result.stub is None or not form["candidates"]:
        return answer
    carried = snapshot.carry(form["candidates"], result.stub.start_line - 1, result.stub.end_line - 1)
    if carried is None:
        logger.info("dropped candidates for %s: the stub was edited meanwhile", snapshot.uri)
        answer["stale"] = True
        return answer
    for candidate in carried:
        candidate["edit"] = unstructure(structure(candidate["edit"], types.WorkspaceEdit))
    answer["candidates"] = carried
    return answer


async def implement_at(
    ls: ChorusLanguageServer, uri: str, position: types.Position, token: types.ProgressToken | None
) -> ImplementReply:
    """Implement the stub at `position`; returns the candidates."""
    snapshot = await ls.documents.snapshot_async(ls, uri)
    line, _ = lines_within(snapshot.document, position.line + 1, position.line + 1)
    request = ImplementRequest(document=snapshot.document, line=line)
    run = DocumentRun(ls, snapshot, "implement", str(position.line + 1), token)
    return await run.run(implement_stub, request, lambda result: candidates_answer(snapshot, result))


def candidates_offer(ls: ChorusLanguageServer, answer: ImplementReply) -> EditOffer:
    """The candidates as an offer against the documents as they are now."""
    choices = [(candidate["title"], candidate["edit"]) for candidate in answer["candidates"]]
    stub = answer["stub"]
    prompt = f"Chorus: {len(choices)} implementation(s) of {stub['name'] if stub else 'the stub'}. Apply one?"
    return EditOffer.now(ls, prompt, choices)


async def implement_and_offer(ls: ChorusLanguageServer, uri: str, position: types.Position) -> ImplementReply:
    """Implement, reply with the candidates, and offer them to the user in the background."""
    answer = await implement_at(ls, uri, position, None)
    if answer["candidates"]:
        offer = candidates_offer(ls, answer)
        ls.run_in_background(offer.present(ls), "offer implementation candidates")
    elif answer["stale"]:
        ls.show_message("Chorus: the stub was edited while the models worked; run it again.")
    return answer


async def chorus_implement_stub(ls: ChorusLanguageServer, params: ImplementStubParams) -> ImplementReply:
    """`chorus/implementStub {textDocument, position, workDoneToken?}` → `{candidates: [...]}`."""
    return await as_request(
        implement_at(ls, params.text_document.uri, params.position, params.work_done_token)
    )


IMPLEMENT_ARGUMENTS = (Argument("uri", str), Argument("position", types.Position))
APPLY_EDIT_ARGUMENTS = (Argument("edit", types.WorkspaceEdit), Argument("label", str, required=False))


async def implement_stub_command(
    ls: ChorusLanguageServer, *arguments: Any
) -> ImplementReply | CommandFailure:
    """`chorus.implementStub [uri, position]`: implement, then offer the candidates."""
    uri, position = check_arguments(IMPLEMENT_COMMAND, arguments, IMPLEMENT_ARGUMENTS)
    return await as_command(ls, implement_and_offer(ls, uri, position))


async def apply_edit_command(ls: ChorusLanguageServer, *arguments: Any) -> ApplyEditReply:
    """`chorus.applyEdit [WorkspaceEdit, label?]`: have the client apply an edit (e.g. a chosen candidate)."""
    edit, label = check_arguments(APPLY_EDIT_COMMAND, arguments, APPLY_EDIT_ARGUMENTS)
    reply: ApplyEditReply = unstructure(await apply_edit(ls, unstructure(edit), label or "Chorus"))
    return reply


def register(server: ChorusLanguageServer) -> None:
    """Register the implement request and commands."""
    server.feature(IMPLEMENT_STUB)(chorus_implement_stub)
    server.command(IMPLEMENT_COMMAND)(implement_stub_command)
    server.command(APPLY_EDIT_COMMAND)(apply_edit_command)
