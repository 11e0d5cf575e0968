"""Document sync: edits move Chorus's results, closing drops them, and diagnostics are published.

pygls keeps the text in sync (incremental); these handlers pass every change on to
`server.document_state` (which moves or drops running requests' results and the stored
diagnostics) and publish Chorus's diagnostics when they change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from server.staleness import line_edit_for

if TYPE_CHECKING:
    from server.language_server import ChorusLanguageServer


def publish(ls: ChorusLanguageServer, uri: str, *, soon: bool = False) -> None:
    """Send the stored Chorus diagnostics of `uri`: now, or `soon` (once per loop turn).

    Partial results ask for `soon`: when many reviews of one document answer in the
    same loop turn, the client gets one publish with all of them instead of one each.
    A publish "now" also settles any pending one.
    """
    documents = ls.documents
    if soon:
        if uri not in documents.unpublished:
            documents.unpublished.add(uri)
            ls.run_in_background(publish_pending(ls, uri), f"publishing diagnostics for {uri}")
        return
    documents.unpublished.discard(uri)
    stored = documents.chorus.get(uri, [])
    ls.protocol.notify_json(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, {"uri": uri, "diagnostics": stored})


async def publish_pending(ls: ChorusLanguageServer, uri: str) -> None:
    """The deferred half of `publish(..., soon=True)`: runs on the next loop turn."""
    if uri in ls.documents.unpublished:
        publish(ls, uri)


async def text_document_did_open(ls: ChorusLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    """pygls stores the text; Chorus starts with no diagnostics for it."""
    ls.documents.chorus.pop(params.text_document.uri, None)


async def text_document_did_change(
    ls: ChorusLanguageServer, params: types.DidChangeTextDocumentParams
) -> None:
    """Move logs and stored diagnostics with the edits; republish if an edited line lost one."""
    uri = params.text_document.uri
    dropped = False
    for change in params.content_changes:
        dropped = ls.documents.record(uri, line_edit_for(change)) or dropped
    if dropped:
        publish(ls, uri)


async def text_document_did_close(ls: ChorusLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    """Clear Chorus's diagnostics for the closed document; runs still working on it publish nothing."""
    uri = params.text_document.uri
    if ls.documents.close(uri):
        publish(ls, uri)


def register(server: ChorusLanguageServer) -> None:
    """Register the document sync handlers."""
    server.feature(types.TEXT_DOCUMENT_DID_OPEN)(text_document_did_open)
    server.feature(types.TEXT_DOCUMENT_DID_CHANGE)(text_document_did_change)
    server.feature(types.TEXT_DOCUMENT_DID_CLOSE)(text_document_did_close)
