"""Moving late results with the edits made meanwhile, and dropping them when their lines changed."""

from __future__ import annotations

from lsprotocol import types

from server.staleness import EditLog, carry_through, line_edit_for, line_span, shift_ranges


def change(start: tuple[int, int], end: tuple[int, int], text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(
        range=types.Range(
            start=types.Position(line=start[0], character=start[1]),
            end=types.Position(line=end[0], character=end[1]),
        ),
        text=text,
    )


def log_after(*changes: types.TextDocumentContentChangeEvent) -> EditLog:
    """The edit log of one document after `changes`, applied in order."""
    log = EditLog("file:///a.py")
    for content_change in changes:
        log.record(line_edit_for(content_change))
    return log


def diagnostic(first: int, last: int) -> dict[str, object]:
    """A JSON diagnostic over whole lines, with a fix in its data like Chorus's."""
    return {
        "range": {"start": {"line": first, "character": 0}, "end": {"line": last, "character": 5}},
        "message": "m",
        "data": {
            "fixes": [
                {
                    "range": {
                        "start": {"line": first, "character": 0},
                        "end": {"line": last + 1, "character": 0},
                    }
                }
            ]
        },
    }


def test_inserting_lines_above_moves_everything_below() -> None:
    log = log_after(change((2, 0), (2, 0), "x = 1\ny = 2\n"))
    assert log.delta_for(5, 8) == 2
    moved = log.carry(diagnostic(5, 6), 5, 8)
    assert moved["range"]["start"]["line"] == 7
    assert moved["data"]["fixes"][0]["range"]["end"]["line"] == 9, "ranges inside data move too"


def test_edits_below_leave_the_lines_alone() -> None:
    log = log_after(change((20, 3), (22, 0), ""))
    assert log.delta_for(5, 8) == 0


def test_typing_inside_the_reviewed_lines_makes_results_stale() -> None:
    log = log_after(change((6, 4), (6, 4), "z"))
    assert log.delta_for(5, 8) is None
    assert log.carry(diagnostic(5, 5), 5, 8) is None


def test_inserting_a_line_between_reviewed_lines_makes_results_stale() -> None:
    log = log_after(change((7, 0), (7, 0), "new line\n"))
    assert log.delta_for(5, 8) is None


def test_enter_at_the_end_of_the_line_above_only_moves_the_selection() -> None:
    log = log_after(change((4, 10), (4, 10), "\n    pass"))
    assert log.delta_for(5, 8) == 1


def test_deleting_lines_above_moves_up_and_edits_are_applied_in_order() -> None:
    log = log_after(change((0, 0), (2, 0), ""), change((1, 0), (1, 0), "a\nb\nc\n"))
    assert log.delta_for(5, 8) == 1
    assert log.delta_for(1, 2) is None, "lines 1..2 were partly deleted by the first edit"


def test_whole_document_replacement_is_stale_everywhere() -> None:
    log = log_after(types.TextDocumentContentChangeWholeDocument(text="new"))
    assert log.delta_for(0, 0) is None
    assert log.delta_for(1000, 2000) is None


def test_stored_diagnostics_move_or_go() -> None:
    above = line_edit_for(change((0, 0), (0, 0), "import os\n"))
    assert carry_through(diagnostic(3, 3), above)["range"]["start"]["line"] == 4
    on_it = line_edit_for(change((3, 2), (3, 3), "X"))
    assert carry_through(diagnostic(3, 3), on_it) is None


def test_span_and_shift_cover_every_nested_range() -> None:
    form = {"diagnostics": [diagnostic(2, 3), diagnostic(9, 9)]}
    assert line_span(form) == (2, 9)
    shifted = shift_ranges(form, -2)
    assert line_span(shifted) == (0, 7)
    assert line_span(form) == (2, 9), "the original is untouched"
