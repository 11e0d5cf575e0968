"""Keeping results in step with a document that changes while the panel thinks.

A panel run reads a snapshot of the document; its answer arrives seconds later.
Every `didChange` in between is logged as a `LineEdit` (which lines it rewrote,
which lines it moved and by how much). When results come back, the lines they
cover are either untouched, so every range moves by the same line delta, or
some were edited, and the results are dropped.

Ranges are handled in their JSON form (`{"start": {"line", "character"}, ...}`)
so the same code shifts diagnostics, their related information, the fixes in
their `data` and the text edits of workspace edits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from lsprotocol import types

EVERYTHING = 1 << 31
"""A line number past the end of any document."""

F = TypeVar("F")
D = TypeVar("D", bound=Mapping[str, Any])


@dataclass(frozen=True, slots=True)
class LineEdit:
    """One content change, seen line by line.

    Lines `first_touched..last_touched` (0-based, inclusive; empty when last <
    first) had their text changed; lines from `shift_from` on moved by `delta`.
    """

    first_touched: int
    last_touched: int
    shift_from: int
    delta: int

    def touches(self, first: int, last: int) -> bool:
        """True when the change rewrote any of lines `first..last`."""
        return (
            self.first_touched <= last
            and self.last_touched >= first
            and self.last_touched >= self.first_touched
        )


def line_edit_for(change: types.TextDocumentContentChangeEvent) -> LineEdit:
    """Classify a content change; a whole-document replacement touches every line."""
    if not isinstance(change, types.TextDocumentContentChangePartial):
        return LineEdit(0, EVERYTHING, EVERYTHING, 0)
    start, end = change.range.start, change.range.end
    inserted = change.text.count("\n")
    removed = end.line - start.line
    whole_lines = (
        start.character == 0 and end.character == 0 and (not change.text or change.text.endswith("\n"))
    )
    if whole_lines:
        # Lines start..end-1 are replaced (none for a pure insertion); line `end` only moves.
        return LineEdit(start.line, end.line - 1, end.line, inserted - removed)
    return LineEdit(start.line, end.line, end.line + 1, inserted - removed)


def range_lines(lsp_range: dict[str, Any]) -> tuple[int, int]:
    """The lines a JSON range covers; a range ending at column 0 stops on the line before."""
    first = int(lsp_range["start"]["line"])
    last = int(lsp_range["end"]["line"])
    if last > first and int(lsp_range["end"]["character"]) == 0:
        last -= 1
    return first, last


def is_range(value: Any) -> bool:
    """True for a JSON LSP range."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("start"), dict)
        and isinstance(value.get("end"), dict)
        and "line" in value["start"]
        and "line" in value["end"]
    )


def iter_ranges(form: Any) -> Iterator[dict[str, Any]]:
    """Every JSON range nested anywhere in `form`."""
    if is_range(form):
        yield form
    elif isinstance(form, dict):
        for value in form.values():
            yield from iter_ranges(value)
    elif isinstance(form, list):
        for item in form:
            yield from iter_ranges(item)


def line_span(form: Any) -> tuple[int, int] | None:
    """The first and last line any range in `form` covers (None without ranges)."""
    spans = [range_lines(found) for found in iter_ranges(form)]
    if not spans:
        return None
    return min(first for first, _ in spans), max(last for _, last in spans)


def shift_ranges(form: Any, delta: int) -> Any:
    """`form` with every range moved down by `delta` lines: a copy of what changes, `form` itself for 0.

    Containers on the way to a range are copied, everything else is shared; nothing in
    `form` is modified.
    """
    if not delta:
        return form
    if is_range(form):
        start, end = form["start"], form["end"]
        return {
            **form,
            "start": {**start, "line": start["line"] + delta},
            "end": {**end, "line": end["line"] + delta},
        }
    if isinstance(form, dict):
        return {key: shift_ranges(value, delta) for key, value in form.items()}
    if isinstance(form, list):
        return [shift_ranges(item, delta) for item in form]
    return form


def delta_through(edits: list[LineEdit], first: int, last: int) -> int | None:
    """How far lines `first..last` moved through `edits`, or None if any of them was edited."""
    moved = 0
    for edit in edits:
        if edit.touches(first, last):
            return None
        if edit.shift_from <= first:
            first, last, moved = first + edit.delta, last + edit.delta, moved + edit.delta
        elif edit.shift_from <= last:
            return None  # Lines were inserted between the first and the last line.
    return moved


@dataclass(eq=False, slots=True)
class EditLog:
    """The changes made to one document since a snapshot was taken."""

    uri: str
    edits: list[LineEdit] = field(default_factory=list)

    def record(self, edit: LineEdit) -> None:
        """Append one change (in the order the client sent them)."""
        self.edits.append(edit)

    def delta_for(self, first: int, last: int) -> int | None:
        """How far lines `first..last` of the snapshot moved; None once any was edited."""
        return delta_through(self.edits, first, last)

    def carry(self, form: F, first: int | None = None, last: int | None = None) -> F | None:
        """`form` (whose ranges refer to the snapshot) moved to the current document.

        `first..last` are the lines the run was about (default: the lines the
        ranges in `form` cover); the ranges in `form` are included too. None when
        any of those lines has been edited since.
        """
        if not self.edits:
            return form
        span = line_span(form)
        if span is not None:
            first = span[0] if first is None else min(first, span[0])
            last = span[1] if last is None else max(last, span[1])
        if first is None or last is None:
            return form
        delta = self.delta_for(first, last)
        return None if delta is None else cast(F, shift_ranges(form, delta))


def carry_through(form: D, edit: LineEdit) -> D | None:
    """A stored JSON diagnostic moved through one change, or None when its lines were edited."""
    span = line_span(form)
    if span is None:
        return form
    delta = delta_through([edit], *span)
    return None if delta is None else cast(D, shift_ranges(form, delta))
