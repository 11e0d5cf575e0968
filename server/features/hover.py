"""`textDocument/hover`: on a line with Chorus findings, each model's own words and the fixes on offer.

The diagnostic message carries the agreement count and one synthesized sentence;
the hover is where a user reads what every model actually said.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lsprotocol import types

from orchestration.machine_form import DiagnosticForm
from server.document_state import overlaps

if TYPE_CHECKING:
    from server.language_server import ChorusLanguageServer

MARKUP = re.compile(r"([\\`*_{}\[\]<>#|])")


def escape_markdown(text: str) -> str:
    """Keep a model's words from turning into markup."""
    return MARKUP.sub(r"\\\1", text)


def finding_markdown(diagnostic: DiagnosticForm) -> str:
    """One stored Chorus diagnostic as markdown: message, each model's words, fixes."""
    data = diagnostic.get("data") or {}
    lines = [f"**Chorus** {escape_markdown(diagnostic['message'])}"]
    opinions = [item["message"] for item in diagnostic.get("relatedInformation") or []]
    if opinions:
        lines += ["", "Each model's words:", *(f"- {escape_markdown(opinion)}" for opinion in opinions)]
    fixes = data.get("fixes") or []
    if fixes:
        votes = ", ".join(f"{fix['votes']} vote(s) ({', '.join(fix['models'])})" for fix in fixes)
        lines += ["", f"Fixes on offer (Quick Fix): {votes}"]
    if data.get("verdict"):
        lines += ["", f"Arbiter: {data['verdict']}"]
    return "\n".join(lines)


async def text_document_hover(ls: ChorusLanguageServer, params: types.HoverParams) -> types.Hover | None:
    """Markdown for every Chorus finding on the hovered line, or nothing."""
    line = params.position.line
    found = [d for d in ls.documents.chorus.get(params.text_document.uri, []) if overlaps(d, line, line)]
    if not found:
        return None
    text = "\n\n---\n\n".join(finding_markdown(d) for d in found)
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))


def register(server: ChorusLanguageServer) -> None:
    """Register the hover provider."""
    server.feature(types.TEXT_DOCUMENT_HOVER)(text_document_hover)
