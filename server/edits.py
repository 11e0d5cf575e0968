"""Offering edits to the user and applying the chosen one with `workspace/applyEdit`.

Used by the command paths (code actions), where the client cannot show a
custom picker: the choices go out as `window/showMessageRequest` buttons, and
the chosen edit is applied by the client. Edits are moved with any changes the
user made while deciding (found by comparing the text then and now), and refused
when the lines they replace were edited. An offer the client never answers is
withdrawn after `CHORUS_OFFER_TIMEOUT` seconds.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from lsprotocol import types

from orchestration.machine_form import WorkspaceEditForm
from orchestration.types.errors import InputError
from orchestration.types.requests import LINE_BREAK
from server.convert import structure
from server.document_state import max_file_bytes, read_closed_document
from server.staleness import EditLog, LineEdit

if TYPE_CHECKING:
    from server.language_server import ChorusLanguageServer

logger = logging.getLogger(__name__)

MAX_CHOICES = 8
"""Buttons in one message request (clients show few; the best come first)."""
OFFER_TIMEOUT_ENV = "CHORUS_OFFER_TIMEOUT"
DEFAULT_OFFER_TIMEOUT = 600.0
"""Seconds an offer waits for the user before it is withdrawn (the server keeps nothing per offer)."""


def edited_uris(edit: Mapping[str, Any]) -> list[str]:
    """The documents a JSON WorkspaceEdit changes."""
    uris = list((edit.get("changes") or {}).keys())
    for change in edit.get("documentChanges") or []:
        uri = (change.get("textDocument") or {}).get("uri")
        if uri and uri not in uris:
            uris.append(uri)
    return uris


async def apply_edit(
    ls: ChorusLanguageServer, edit: Mapping[str, Any], label: str
) -> types.ApplyWorkspaceEditResult:
    """Ask the client to apply a JSON WorkspaceEdit; warn the user if it refuses."""
    params = types.ApplyWorkspaceEditParams(edit=structure(edit, types.WorkspaceEdit), label=label)
    result = await ls.workspace_apply_edit_async(params)
    if not result.applied:
        reason = result.failure_reason or "the editor refused the edit"
        ls.show_message(f"Chorus could not apply '{label}': {reason}", types.MessageType.Warning)
    return result


def offer_timeout(environ: Mapping[str, str] = os.environ) -> float:
    """Seconds an offer waits for the user's choice (`CHORUS_OFFER_TIMEOUT`, default 600)."""
    try:
        seconds = float(environ.get(OFFER_TIMEOUT_ENV, ""))
    except ValueError:
        return DEFAULT_OFFER_TIMEOUT
    return seconds if math.isfinite(seconds) and seconds > 0 else DEFAULT_OFFER_TIMEOUT


def current_text(ls: ChorusLanguageServer, uri: str) -> str | None:
    """The text an edit to `uri` would apply to now: the open document, else the file (None if neither)."""
    document = ls.workspace.text_documents.get(uri)
    if document is not None:
        return str(document.source)
    try:
        return read_closed_document(uri, max_file_bytes(ls))
    except InputError:
        return None


def line_edits_between(before: str, after: str) -> list[LineEdit]:
    """The whole-line changes that turn `before` into `after`, as the edit log would have recorded them."""
    old, new = LINE_BREAK.split(before), LINE_BREAK.split(after)
    edits = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if tag == "equal":
            continue
        # Earlier changes are already applied: these old lines now start at `new_start`.
        end = new_start + (old_end - old_start)
        edits.append(LineEdit(new_start, end - 1, end, (new_end - new_start) - (old_end - old_start)))
    return edits


@dataclass(frozen=True, slots=True)
class EditOffer:
    """Edits to offer as buttons, with the text of each document they were computed against.

    Nothing is registered while the user decides: when a choice arrives, the
    documents' current text is compared with the text kept here, and the chosen edit
    is moved through the difference (or refused when its lines were edited).
    """

    prompt: str
    choices: list[tuple[str, WorkspaceEditForm]]
    texts: dict[str, str | None]

    @classmethod
    def now(
        cls, ls: ChorusLanguageServer, prompt: str, choices: list[tuple[str, WorkspaceEditForm]]
    ) -> EditOffer:
        """An offer of `choices` (title, JSON WorkspaceEdit) against the documents as they are now."""
        shown = choices[:MAX_CHOICES]
        uris = {uri for _title, edit in shown for uri in edited_uris(edit)}
        return cls(prompt, shown, {uri: current_text(ls, uri) for uri in sorted(uris)})

    async def present(self, ls: ChorusLanguageServer) -> str | None:
        """Show the buttons, wait (`offer_timeout()` s at most) for a pick, apply it; the applied title."""
        if not self.choices or not ls.supports("workspace.apply_edit"):
            return None
        titles = [f"{index}. {title}" for index, (title, _edit) in enumerate(self.choices, 1)]
        picked = await ask_choice(ls, self.prompt, titles, offer_timeout())
        if picked is None:
            return None
        title, edit = self.choices[titles.index(picked)]
        logs = [EditLog(uri, await self.changes_since(ls, uri)) for uri in self.texts]
        carried = carry_edit(logs, edit)
        if carried is None:
            ls.show_message(
                f"Chorus did not apply '{title}': the lines it replaces were edited meanwhile.",
                types.MessageType.Warning,
            )
            return None
        await apply_edit(ls, carried, title)
        return title

    async def changes_since(self, ls: ChorusLanguageServer, uri: str) -> list[LineEdit]:
        """How `uri` changed since the offer was made (computed off the event loop)."""
        before, after = self.texts.get(uri), current_text(ls, uri)
        if before is None or after is None or before == after:
            return []
        return await anyio.to_thread.run_sync(line_edits_between, before, after)


async def ask_choice(ls: ChorusLanguageServer, prompt: str, titles: list[str], within: float) -> str | None:
    """`window/showMessageRequest` with `titles` as buttons; the picked title, None if none in `within` s."""
    request = types.ShowMessageRequestParams(
        type=types.MessageType.Info,
        message=prompt,
        actions=[types.MessageActionItem(title=title) for title in titles],
    )
    msg_id = f"chorus-offer-{uuid.uuid4()}"
    protocol = ls.protocol
    try:
        with anyio.fail_after(within):
            picked = await protocol.send_request_async(
                types.WINDOW_SHOW_MESSAGE_REQUEST, request, msg_id=msg_id
            )
    except TimeoutError:
        protocol._request_futures.pop(msg_id, None)
        protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
        logger.info("no choice within %g s: the offer '%s' was withdrawn", within, prompt)
        return None
    title = getattr(picked, "title", None)
    return title if title in titles else None


def carry_edit(logs: list[EditLog], edit: WorkspaceEditForm) -> WorkspaceEditForm | None:
    """The edit moved through every document's log; None if any target lines were edited."""
    carried = edit.copy()
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
