"""The machine form: 1-based findings and fixes turned into LSP-shaped JSON, edits that apply exactly."""

from __future__ import annotations

from typing import Any

from orchestration.code.stubs import find_stub
from orchestration.machine_form import (
    candidate_edit,
    finding_diagnostic,
    fix_text_edit,
    implement_machine_form,
    lines_with_ends,
)
from orchestration.types.findings import Category, Fix, MergedFinding, ModelOpinion, RankedFix, Severity
from orchestration.types.requests import SourceDocument
from orchestration.types.results import ImplementCandidate, ImplementResult, ModelStatus, StubLocation


def apply_edit(text: str, edit: dict[str, Any]) -> str:
    """Apply one LSP TextEdit to text (character offsets are plain str indices here; lines split as LSP)."""
    lines = lines_with_ends(text)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(position: dict[str, int]) -> int:
        return offsets[min(position["line"], len(lines))] + position["character"]

    start, end = offset(edit["range"]["start"]), offset(edit["range"]["end"])
    return text[:start] + edit["newText"] + text[end:]


def test_fix_in_the_middle_replaces_whole_lines() -> None:
    document = SourceDocument(path="a.py", text="a\nb\nc\nd\n")
    edit = fix_text_edit(Fix(start_line=2, end_line=3, replacement="B\nC"), document)
    assert edit["range"] == {"start": {"line": 1, "character": 0}, "end": {"line": 3, "character": 0}}
    assert apply_edit(document.text, edit) == "a\nB\nC\nd\n"


def test_fix_on_a_last_line_without_newline() -> None:
    document = SourceDocument(path="a.py", text="a\nb")
    edit = fix_text_edit(Fix(start_line=2, end_line=2, replacement="B\n"), document)
    assert edit["range"]["end"] == {"line": 1, "character": 1}
    assert apply_edit(document.text, edit) == "a\nB"


def test_fix_keeps_crlf_and_can_delete() -> None:
    document = SourceDocument(path="a.py", text="a\r\nb\r\nc\r\n")
    replaced = apply_edit(
        document.text, fix_text_edit(Fix(start_line=2, end_line=2, replacement="x\ny\n"), document)
    )
    assert replaced == "a\r\nx\r\ny\r\nc\r\n"
    deleted = apply_edit(
        document.text, fix_text_edit(Fix(start_line=1, end_line=2, replacement=""), document)
    )
    assert deleted == "c\r\n"


def test_diagnostic_carries_votes_models_and_each_opinion() -> None:
    document = SourceDocument(path="a.py", text="x = 1\ny = x / 0\n")
    opinions = [
        ModelOpinion(
            model=m,
            message=f"{m} says divide by zero",
            severity=Severity.ERROR,
            category=Category.BUG,
            start_line=2,
            end_line=2,
        )
        for m in ("claude", "codex")
    ]
    finding = MergedFinding(
        start_line=2,
        end_line=2,
        severity=Severity.ERROR,
        category=Category.BUG,
        message="Division by zero",
        votes=2,
        panel=3,
        models=["claude", "codex"],
        opinions=opinions,
        fixes=[
            RankedFix(
                fix=Fix(start_line=2, end_line=2, replacement="y = x\n"), votes=2, models=["claude", "codex"]
            )
        ],
    )
    diagnostic = finding_diagnostic(finding, document, "file:///a.py")
    assert diagnostic["message"] == "[2/3] Division by zero"
    assert diagnostic["range"] == {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 9}}
    assert diagnostic["severity"] == 1 and diagnostic["code"] == "bug"
    assert diagnostic["data"]["fixes"][0]["votes"] == 2
    assert [r["message"] for r in diagnostic["relatedInformation"]] == [
        "claude: claude says divide by zero",
        "codex: codex says divide by zero",
    ]
    assert diagnostic["relatedInformation"][0]["location"]["uri"] == "file:///a.py"


def test_candidate_edit_replaces_only_the_stub() -> None:
    text = "import math\n\n\nclass Shape:\n    def area(self) -> float:\n        pass\n\n\nprint(1)\n"
    document = SourceDocument(path="shape.py", text=text)
    stub = StubLocation(name="area", params=["self"], start_line=5, end_line=6, language="python")
    code = "def area(self) -> float:\n    return math.pi\n"
    candidate = ImplementCandidate(code=code, models=["codex"], votes=1, valid=True, start_line=5, end_line=6)
    result = ImplementResult(
        path="shape.py",
        stub=stub,
        candidates=[candidate],
        models=[ModelStatus(name="codex", status="ok", latency_ms=10)],
    )
    form = implement_machine_form(result, document, "file:///shape.py")
    edit = form["candidates"][0]["edit"]["changes"]["file:///shape.py"][0]
    assert apply_edit(text, edit) == text.replace("        pass\n", "        return math.pi\n")
    assert form["candidates"][0]["title"].startswith("codex (1/1 models, valid")


def test_lines_split_like_lsp_not_like_str_splitlines() -> None:
    text = "a\x0cb\u2028c\x1cd\x85e\nf\r\ng\rh"
    assert lines_with_ends(text) == ["a\x0cb\u2028c\x1cd\x85e\n", "f\r\n", "g\r", "h"]
    assert lines_with_ends("") == [] and lines_with_ends("x\n") == ["x\n"]
    assert [line.rstrip("\r\n") for line in lines_with_ends(text)] == SourceDocument(
        path="a", text=text
    ).lines


def test_candidate_edit_keeps_the_body_when_the_file_has_form_feeds_or_line_separators() -> None:
    text = (
        "import math\x0c\n"
        "# page one\u2028still the same line\n"
        "\x0c\n"
        "def area(radius):\n"
        '    """Area of a circle \x0c with \u2028 odd characters."""\n'
        "    raise NotImplementedError\n"
        "\n"
        "print(area(2))\n"
    )
    document = SourceDocument(path="shape.py", text=text)
    stub = find_stub(document, 4)
    assert stub is not None and (stub.start_line, stub.end_line) == (4, 6)
    code = "def area(radius):\n    total = math.pi * radius ** 2\n    return total\n"
    candidate = ImplementCandidate(code=code, models=["codex"], votes=1, valid=True, start_line=4, end_line=6)
    result = ImplementResult(
        path="shape.py", stub=stub, candidates=[candidate], models=[ModelStatus(name="codex", status="ok")]
    )
    edit = candidate_edit(candidate, result, document)
    assert edit["range"] == {"start": {"line": 3, "character": 0}, "end": {"line": 6, "character": 0}}
    applied = apply_edit(text, edit)
    assert applied == text.replace(
        '    """Area of a circle \x0c with \u2028 odd characters."""\n    raise NotImplementedError\n',
        "    total = math.pi * radius ** 2\n    return total\n",
    )
