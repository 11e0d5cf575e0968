"""Code actions: every Chorus feature reachable from the quick-fix menu.

- a non-empty selection → "Review selection with Chorus" (`chorus.reviewSelection`);
- the cursor on a stub function → "Implement stub with Chorus" (`chorus.implementStub`);
- diagnostics under the cursor (any tool) → "Explain with Chorus" (`chorus.explainDiagnostics`);
- a Chorus diagnostic with fixes → one quick fix per fix, "Fix (3/3 models): …", with its edit
  and the command `chorus.acceptFix` (a client runs it once the edit is applied: the memory
  records the fix as accepted);
- a Chorus diagnostic → "Dismiss: not a problem" (`chorus.dismissFinding`) and "Mark as useful"
  (`chorus.markUseful`), with the finding's id;
- a Chorus diagnostic, for each agent seat of the config → "Ask claude-code more about this
  finding" (`chorus.askAboutFinding [findingId, uri, seat, question?]`): the seat (resuming the
  session it keeps for the workspace) answers a follow-up question (a default one from the menu),
  shown with `window/showMessage` and returned as `{findingId, seat, answer}`;
- an automatic request anywhere (LSP4IJ's intentions, VS Code's lightbulb, which lists source
  actions only in its "Source Action..." menu) or an explicit `source` one → "Chorus: show model
  stats" (`chorus.stats`, kind `source`). Explicit quick-fix requests stay about their line.

All but the fixes' edits run through `workspace/executeCommand`, so clients that cannot send
custom requests (LSP4IJ, Cursor's quick-fix menu) still get every feature.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from orchestration.code.stubs import find_stub
from orchestration.machine_form import JSONObject
from orchestration.providers.agents.followup import FindingContext, ask_about_finding, finding_context
from orchestration.types.errors import ChorusError
from server.commands import Argument, check_arguments, one_line
from server.convert import short, strip_agreement, structure, unstructure
from server.document_state import finding_id_of
from server.language_server import ChorusLanguageServer
from server.memory_messages import ACCEPT_COMMAND, DISMISS_COMMAND, STATS_COMMAND, USEFUL_COMMAND
from server.messages import DIAGNOSTIC_SOURCE, EXPLAIN_COMMAND, IMPLEMENT_COMMAND, REVIEW_COMMAND
from server.workspaces import workspace_for

logger = logging.getLogger(__name__)

REVIEW_TITLE = "Review selection with Chorus"
IMPLEMENT_TITLE = "Implement stub with Chorus"
EXPLAIN_TITLE = "Explain with Chorus"
DISMISS_TITLE = "Dismiss: not a problem"
USEFUL_TITLE = "Mark as useful"
ACCEPT_TITLE = "Chorus: the fix was applied"
STATS_TITLE = "Chorus: show model stats"
ASK_COMMAND = "chorus.askAboutFinding"
ASK_ARGUMENTS = (
    Argument("findingId", str),
    Argument("uri", str),
    Argument("seat", str),
    Argument("question", str, required=False),
)
DEFAULT_QUESTION = "Tell me more about this finding: does it hold here, why, and how should it be fixed?"


def ask_title(seat: str) -> str:
    """'Ask claude-code more about this finding'."""
    return f"Ask {seat} more about this finding"


def is_empty(selection: types.Range) -> bool:
    """True for a bare cursor."""
    return selection.start == selection.end


def kind_name(kind: types.CodeActionKind | str | None) -> str:
    """'quickfix' for `CodeActionKind.QuickFix` and for "quickfix"."""
    if isinstance(kind, types.CodeActionKind):
        return kind.value
    return kind or ""


def wanted(kind: str, only: list[str] | None) -> bool:
    """Whether a code action of `kind` passes the client's `only` filter."""
    return not only or any(kind == prefix or kind.startswith(prefix + ".") for prefix in only)


def command_action(
    title: str, kind: types.CodeActionKind, command: str, arguments: list[Any]
) -> types.CodeAction:
    """A code action that runs a Chorus command."""
    return types.CodeAction(
        title=title, kind=kind, command=types.Command(title=title, command=command, arguments=arguments)
    )


def covering_range(selection: types.Range, diagnostics: list[types.Diagnostic]) -> types.Range:
    """The smallest range holding the selection and every diagnostic."""
    starts = [selection.start, *(d.range.start for d in diagnostics)]
    ends = [selection.end, *(d.range.end for d in diagnostics)]
    start = min(starts, key=lambda p: (p.line, p.character))
    end = max(ends, key=lambda p: (p.line, p.character))
    return types.Range(start=start, end=end)


def stub_action(ls: ChorusLanguageServer, uri: str, position: types.Position) -> types.CodeAction | None:
    """Offer "Implement stub with Chorus" when the cursor is inside a stub function."""
    try:
        document = ls.documents.snapshot(ls, uri).document
    except (JsonRpcException, ChorusError):
        return None
    if find_stub(document, position.line + 1) is None:
        return None
    arguments = [uri, unstructure(position)]
    return command_action(IMPLEMENT_TITLE, types.CodeActionKind.RefactorRewrite, IMPLEMENT_COMMAND, arguments)


def fix_edit(uri: str, fix: object) -> types.WorkspaceEdit | None:
    """The WorkspaceEdit of one fix from a diagnostic's `data`; None when the fix is malformed."""
    if not isinstance(fix, dict) or not isinstance(fix.get("newText"), str):
        return None
    try:
        change = {"range": fix["range"], "newText": fix["newText"]}
        return structure({"changes": {uri: [change]}}, types.WorkspaceEdit)
    except Exception:  # Client-sent data can be anything: such a fix is simply not offered.
        return None


def chorus_copy(ls: ChorusLanguageServer, uri: str, diagnostic: types.Diagnostic) -> JSONObject:
    """A Chorus diagnostic as JSON: the stored copy when there is one, else the client's."""
    client_copy: JSONObject = unstructure(diagnostic)
    stored = ls.documents.stored_chorus(uri, client_copy)
    return client_copy if stored is None else cast(JSONObject, stored)


def fix_actions(ls: ChorusLanguageServer, uri: str, diagnostic: types.Diagnostic) -> list[types.CodeAction]:
    """One quick fix per fix the panel proposed for a Chorus diagnostic, best first.

    The stored copy of the diagnostic is preferred; a client's copy whose `data` is
    malformed (not Chorus's shape) gives no fixes rather than failing the request.
    """
    copy = chorus_copy(ls, uri, diagnostic)
    data = copy.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("fixes") or [], list):
        return []
    finding = finding_id_of(copy)
    accepted = None
    if finding is not None:  # Run by the client once it applied the edit: the fix is recorded as accepted.
        accepted = types.Command(title=ACCEPT_TITLE, command=ACCEPT_COMMAND, arguments=[finding, uri])
    panel = data.get("panel") or data.get("votes") or "?"
    summary = short(strip_agreement(diagnostic.message))
    actions: list[types.CodeAction] = []
    for fix in data.get("fixes") or []:
        edit = fix_edit(uri, fix)
        if edit is None:
            continue
        votes = fix.get("votes", "?")
        actions.append(
            types.CodeAction(
                title=short(f"Fix ({votes}/{panel} models): {summary}", 120),
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                is_preferred=not actions,
                edit=edit,
                command=accepted,
            )
        )
    return actions


def feedback_actions(
    ls: ChorusLanguageServer, uri: str, diagnostic: types.Diagnostic
) -> list[types.CodeAction]:
    """The quick fixes "Dismiss: not a problem" and "Mark as useful" for a Chorus diagnostic's finding."""
    finding = finding_id_of(chorus_copy(ls, uri, diagnostic))
    if finding is None:
        return []
    actions = []
    for title, command in ((DISMISS_TITLE, DISMISS_COMMAND), (USEFUL_TITLE, USEFUL_COMMAND)):
        action = command_action(title, types.CodeActionKind.QuickFix, command, [finding, uri])
        action.diagnostics = [diagnostic]
        actions.append(action)
    return actions


def ask_actions(ls: ChorusLanguageServer, uri: str, diagnostic: types.Diagnostic) -> list[types.CodeAction]:
    """ "Ask <seat> more about this finding", once per agent seat, for a Chorus diagnostic's finding."""
    config = ls.settings.config
    finding = finding_id_of(chorus_copy(ls, uri, diagnostic))
    if finding is None or config is None:
        return []
    actions = []
    for seat, model in config.models.items():
        if model.agent is None:
            continue
        action = command_action(
            ask_title(seat), types.CodeActionKind.QuickFix, ASK_COMMAND, [finding, uri, seat]
        )
        action.diagnostics = [diagnostic]
        actions.append(action)
    return actions


async def ask_command(ls: ChorusLanguageServer, *arguments: Any) -> dict[str, str | None]:
    """`chorus.askAboutFinding [findingId, uri, seat, question?]`: the seat's answer, also shown."""
    finding_id, uri, seat, question = check_arguments(ASK_COMMAND, arguments, ASK_ARGUMENTS)
    workspace = workspace_for(ls, uri)
    try:
        config = ls.settings.require_config()
        memory = await ls.memory.current()
        context, read = await ls.memory.read(
            lambda store: finding_context(store, finding_id, workspace), cast(FindingContext | None, None)
        )
        if not read or context is None:
            raise ChorusError("the memory is off or cannot be read: there is no finding to ask about")
        answer = await ask_about_finding(
            config,
            seat,
            context,
            question or DEFAULT_QUESTION,
            workspace=workspace,
            memory=memory,
            trusted=ls.settings.workspace_trusted,
        )
    except ChorusError as error:
        message = one_line(str(error))
        ls.show_message(f"Chorus: {seat}: {message}", types.MessageType.Error)
        return {"findingId": finding_id, "seat": seat, "answer": None, "error": message}
    ls.show_message(f"{seat} on this finding: {answer.strip()}", types.MessageType.Info)
    return {"findingId": finding_id, "seat": seat, "answer": answer, "error": None}


def offers_stats(context: types.CodeActionContext, only: list[str]) -> bool:
    """Whether to offer "Chorus: show model stats": on automatic requests, and explicit `source` ones."""
    automatic = context.trigger_kind == types.CodeActionTriggerKind.Automatic
    return automatic or any(kind == "source" or kind.startswith("source.") for kind in only)


async def text_document_code_action(
    ls: ChorusLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction]:
    """Offer review, implement, explain, the panel's fixes, feedback and stats where they apply."""
    uri = params.text_document.uri
    diagnostics = list(params.context.diagnostics)
    ls.documents.remember(uri, unstructure(diagnostics))
    actions: list[types.CodeAction] = []
    if not is_empty(params.range):
        arguments = [uri, unstructure(params.range)]
        actions.append(command_action(REVIEW_TITLE, types.CodeActionKind.Refactor, REVIEW_COMMAND, arguments))
    if (implement := stub_action(ls, uri, params.range.start)) is not None:
        actions.append(implement)
    if diagnostics:
        where = covering_range(params.range, diagnostics)
        arguments = [uri, unstructure(where), unstructure(diagnostics)]
        actions.append(
            command_action(EXPLAIN_TITLE, types.CodeActionKind.QuickFix, EXPLAIN_COMMAND, arguments)
        )
    for diagnostic in diagnostics:
        if diagnostic.source == DIAGNOSTIC_SOURCE:
            actions.extend(fix_actions(ls, uri, diagnostic))
            actions.extend(feedback_actions(ls, uri, diagnostic))
            actions.extend(ask_actions(ls, uri, diagnostic))
    only = [kind_name(kind) for kind in params.context.only or []]
    if offers_stats(params.context, only):
        actions.append(command_action(STATS_TITLE, types.CodeActionKind.Source, STATS_COMMAND, []))
    return [action for action in actions if wanted(kind_name(action.kind), only)]


def register(server: ChorusLanguageServer) -> None:
    """Register the code action provider (and the command of "Ask <seat> more about this finding")."""
    kinds = [
        types.CodeActionKind.QuickFix,
        types.CodeActionKind.Refactor,
        types.CodeActionKind.RefactorRewrite,
        types.CodeActionKind.Source,
    ]
    server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=kinds))(
        text_document_code_action
    )
    server.command(ASK_COMMAND)(ask_command)
