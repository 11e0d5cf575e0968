"""Conversions between LSP (0-based, client code units) and orchestration (1-based lines).

Results leave orchestration in machine form (`orchestration.machine_form`: plain
JSON in LSP's shapes, columns in code points); this module converts columns to
the client's position encoding and structures the JSON into lsprotocol types,
which validates it on the way out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from lsprotocol import converters, types
from pygls.workspace.position_codec import PositionCodec

from orchestration.machine_form import PositionForm
from orchestration.types.errors import InputError
from orchestration.types.requests import DiagnosticInput, SourceDocument
from server.staleness import iter_ranges

T = TypeVar("T")

CONVERTER = converters.get_converter()
"""lsprotocol's converter: camelCase JSON ↔ lsprotocol attrs types."""

SEVERITY_NAMES = {
    types.DiagnosticSeverity.Error: "error",
    types.DiagnosticSeverity.Warning: "warning",
    types.DiagnosticSeverity.Information: "info",
    types.DiagnosticSeverity.Hint: "hint",
}


def structure(data: Any, kind: type[T]) -> T:
    """JSON → lsprotocol type (raises on a shape mismatch)."""
    return CONVERTER.structure(data, kind)


def unstructure(value: Any) -> Any:
    """lsprotocol types (possibly nested in dicts and lists) → JSON."""
    return CONVERTER.unstructure(value)


def selection_lines(selection: types.Range) -> tuple[int, int]:
    """The 1-based inclusive lines a selection covers; a selection ending at column 0 stops before."""
    first = selection.start.line + 1
    last = selection.end.line + 1
    if selection.end.line > selection.start.line and selection.end.character == 0:
        last -= 1
    return first, max(first, last)


def lines_within(document: SourceDocument, first: int, last: int) -> tuple[int, int]:
    """1-based lines `first..last` clamped to the document; `InputError` when `first` is past its end."""
    total = max(1, len(document.lines))
    if first > total:
        name = document.path.rsplit("/", 1)[-1]
        raise InputError(f"line {first} is past the end of {name} ({len(document.lines)} lines)")
    return first, min(max(first, last), total)


def diagnostic_input(diagnostic: types.Diagnostic) -> DiagnosticInput:
    """An editor diagnostic (any tool) as orchestration's `DiagnosticInput`."""
    first, last = selection_lines(diagnostic.range)
    return DiagnosticInput(
        start_line=first,
        end_line=last,
        message=diagnostic.message,
        source=diagnostic.source,
        code=None if diagnostic.code is None else str(diagnostic.code),
        severity=SEVERITY_NAMES.get(diagnostic.severity) if diagnostic.severity else None,
    )


def _client_character(lines: Sequence[str], position: PositionForm, codec: PositionCodec) -> None:
    line = int(position["line"])
    if 0 <= line < len(lines):
        text = lines[line]
        character = min(int(position["character"]), len(text))
        if not text[:character].isascii():
            position["character"] = codec.client_num_units(text[:character])


def to_client_units(form: T, lines: Sequence[str], codec: PositionCodec) -> T:
    """Convert (in place, and return) every range's columns from code points to the client's units."""
    for found in iter_ranges(form):
        _client_character(lines, found["start"], codec)
        _client_character(lines, found["end"], codec)
    return form


def strip_agreement(message: str) -> str:
    """'[2/3] SQL injection …' → 'SQL injection …'."""
    if message.startswith("[") and "] " in message[:12]:
        return message.split("] ", 1)[1]
    return message


def short(text: str, limit: int = 80) -> str:
    """The first line of `text`, cut to `limit` characters."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"
