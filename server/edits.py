"""Offering edits to the user and applying the chosen one with `workspace/applyEdit`.

Used by the command paths (code actions), where the client cannot show a
custom picker: the choices go out as `window/showMessageRequest` buttons, and
the chosen edit is applied by the client. Edits are moved with any changes the
user made while deciding, and refused when the lines they replace were edited.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from server.convert import structure
from server.staleness import EditLog

if TYPE_CHECKING:
    from server.app import ChorusLanguageServer

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
MAX_CHOICES = 8
"""Buttons in one message request (clients show few; the best come first)."""


def edited_uris(edit: JSON) -> list[str]:
    """The documents a JSON WorkspaceEdit changes."""
    uris = list((edit.get("changes") or {}).keys())
    for change in edit.get("documentChanges") or []:
        uri = (change.get("textDocument") or {}).get("uri")
        if uri and uri not in uris:
            uris.append(uri)
    return uris


async def apply_edit(ls: ChorusLanguageServer, edit: JSON, label: str) -> types.ApplyWorkspaceEditResult:
    """Ask the client to apply a JSON WorkspaceEdit; warn the user if it refuses."""
    params = types.ApplyWorkspaceEditParams(edit=structure(edit, types.WorkspaceEdit), label=label)
    result = await ls.workspace_apply_edit_async(params)
    if not result.applied:
        reason = result.failure_reason or "the editor refused the edit"
        ls.show_message(f"Chorus could not apply '{label}': {reason}", types.MessageType.Warning)
    return result


async def offer_edits(ls: ChorusLanguageServer, prompt: str, choices: list[tuple[str, JSON]]) -> str | None:
    """Show `choices` (title, JSON WorkspaceEdit) as buttons; apply the picked one; return its title."""
    if not choices or not ls.supports("workspace.apply_edit"):
        return None
    shown = choices[:MAX_CHOICES]
    titles = [f"{index}. {title}" for index, (title, _edit) in enumerate(shown, 1)]
    uris = {uri for _title, edit in shown for uri in edited_uris(edit)}
    logs = [EditLog(uri) for uri in uris]
    with ExitStack() as stack:
        for log in logs:
            stack.enter_context(ls.documents.watching(log))
        request = types.ShowMessageRequestParams(
            type=types.MessageType.Info,
            message=prompt,
            actions=[types.MessageActionItem(title=title) for title in titles],
        )
        picked = await ls.window_show_message_request_async(request)
        if picked is None or picked.title not in titles:
            return None
        title, edit = shown[titles.index(picked.title)]
        carried = carry_edit(logs, edit)
    if carried is None:
        ls.show_message(
            f"Chorus did not apply '{title}': the lines it replaces were edited meanwhile.",
            types.MessageType.Warning,
        )
        return None
    await apply_edit(ls, carried, title)
    return title


def carry_edit(logs: list[EditLog], edit: JSON) -> JSON | None:
    """The edit moved through every document's log; None if any target lines were edited."""
    carried = dict(edit)
    changes = dict(carried.get("changes") or {})
    for log in logs:
        if log.uri in changes:
            moved = log.carry(changes[log.uri])
            if moved is None:
                return None
            changes[log.uri] = moved
    if changes:
        carried["changes"] = changes
    return carried
