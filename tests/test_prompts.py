"""Prompts: numbered lines, context clearly marked, per-seat instructions, and valid answer schemas."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from orchestration.answers.parsing import parse_explanation, parse_implementation, parse_review
from orchestration.answers.prompts import (
    EXPLAIN_SCHEMA,
    IMPLEMENT_SCHEMA,
    REVIEW_SCHEMA,
    explain_messages,
    implement_messages,
    number_lines,
    review_messages,
)
from orchestration.types.findings import Finding, Fix, Severity
from orchestration.types.requests import (
    DiagnosticInput,
    ExplainRequest,
    ImplementRequest,
    Message,
    ReviewRequest,
    SourceDocument,
)
from orchestration.types.results import StubLocation

LONG_FILE = "\n".join(f"value_{number} = {number}" for number in range(1, 301)) + "\n"


def user_text(messages: list[Message]) -> str:
    assert [message["role"] for message in messages] == ["system", "user"]
    return messages[1]["content"]


def block_after(text: str, heading: str) -> list[str]:
    """The lines of the fenced block that follows the line starting with `heading`."""
    lines = text.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(heading))
    assert lines[start + 1].startswith("```")
    end = next(index for index in range(start + 2, len(lines)) if lines[index].startswith("```"))
    return lines[start + 2 : end]


# --- number_lines -----------------------------------------------------------------------------------------


def test_number_lines_in_the_middle_of_a_file() -> None:
    lines = LONG_FILE.splitlines()
    assert number_lines(lines, 98, 101) == (
        "  98 | value_98 = 98\n  99 | value_99 = 99\n 100 | value_100 = 100\n 101 | value_101 = 101"
    )


def test_number_lines_keeps_indentation_and_clamps_to_the_file() -> None:
    lines = ["def f():", "    return 1"]
    assert number_lines(lines, 0, 10) == "   1 | def f():\n   2 |     return 1"
    assert number_lines([f"x{n}" for n in range(1, 12001)], 11999, 12000) == "11999 | x11999\n12000 | x12000"


# --- review -------------------------------------------------------------------------------------------------


def test_review_shows_the_selection_numbered_with_marked_context() -> None:
    request = ReviewRequest(
        document=SourceDocument(path="src/values.py", text=LONG_FILE), start_line=150, end_line=152
    )
    text = user_text(review_messages(request))
    assert "src/values.py (python)" in text
    assert block_after(text, "Review these lines (lines 150–152)") == [
        " 150 | value_150 = 150",
        " 151 | value_151 = 151",
        " 152 | value_152 = 152",
    ]
    before = block_after(text, "Context before (lines 130–149; context only, do not review)")
    after = block_after(text, "Context after (lines 153–172; context only, do not review)")
    assert before[0] == " 130 | value_130 = 130" and before[-1] == " 149 | value_149 = 149"
    assert after[0] == " 153 | value_153 = 153" and after[-1] == " 172 | value_172 = 172"
    assert "value_129 " not in text and "value_173 " not in text
    assert "Report only real problems in lines 150–152" in text
    assert "an empty list is fine" in text


def test_review_of_a_whole_small_file_has_no_context_blocks() -> None:
    document = SourceDocument(path="a.py", text="import os\n\nprint(os.getcwd())\n")
    text = user_text(review_messages(ReviewRequest(document=document)))
    assert "Context" not in text
    assert block_after(text, "Review these lines (lines 1–3)") == [
        "   1 | import os",
        "   2 | ",
        "   3 | print(os.getcwd())",
    ]


def test_review_appends_the_seats_instructions() -> None:
    request = ReviewRequest(document=SourceDocument(path="a.py", text="x = 1\n"))
    with_instructions = review_messages(
        request, "Focus on security: injection, secrets, unsafe deserialization."
    )
    assert user_text(with_instructions).endswith(
        "Extra instructions: Focus on security: injection, secrets, unsafe deserialization."
    )
    assert "Extra instructions" not in user_text(review_messages(request))
    assert "Extra instructions" not in user_text(review_messages(request, "   "))


def test_review_system_prompt_asks_for_concrete_bugs_as_json() -> None:
    system = review_messages(ReviewRequest(document=SourceDocument(path="a.py", text="x = 1\n")))[0][
        "content"
    ]
    assert "JSON only" in system
    assert '"findings"' in system and "off-by-one" in system


def test_code_containing_fences_gets_a_longer_fence() -> None:
    document = SourceDocument(path="README.md", text="# Title\n```python\nprint(1)\n```\n")
    text = user_text(review_messages(ReviewRequest(document=document)))
    assert "````\n   1 | # Title\n   2 | ```python" in text


# --- implement ----------------------------------------------------------------------------------------------

STUB_FILE = '''import math


class Shape:
    @property
    def area(self, scale: float) -> float:
        """The area, scaled."""
        raise NotImplementedError
'''


def test_implement_shows_the_stub_the_file_and_the_language() -> None:
    stub = StubLocation(
        name="area", params=["self", "scale: float"], start_line=6, end_line=8, language="python"
    )
    request = ImplementRequest(document=SourceDocument(path="shapes.py", text=STUB_FILE), line=7)
    system, user = (message["content"] for message in implement_messages(request, stub))
    assert '{"code":' in system
    assert "Implement the function `area(self, scale: float)` (lines 6–8):" in user
    assert block_after(user, "Implement the function") == STUB_FILE.splitlines()[5:8]
    assert block_after(user, "The file, for context:") == STUB_FILE.splitlines()
    assert "```python" in user
    assert "whole function in python" in user and "indented by 4 spaces" in user


def test_implement_truncates_a_big_file_around_the_stub() -> None:
    lines = LONG_FILE.splitlines()
    lines[249] = "def todo(x):"
    lines[250] = "    pass"
    document = SourceDocument(path="big.py", text="\n".join(lines))
    stub = StubLocation(name="todo", params=["x"], start_line=250, end_line=251, language="python")
    context = block_after(
        user_text(implement_messages(ImplementRequest(document=document, line=250), stub)), "The file"
    )
    assert context[:30] == lines[:30]
    assert context[30] == "... (lines 31–149 omitted) ..."
    assert context[31] == "value_150 = 150"
    assert "def todo(x):" in context and "    pass" in context
    assert context[-1] == "value_300 = 300"
    assert len(context) < 200


def test_implement_without_a_located_stub_names_the_line() -> None:
    request = ImplementRequest(document=SourceDocument(path="a.js", text="function f(a) {\n}\n"), line=1)
    user = user_text(implement_messages(request, None))
    assert "Implement the unfinished function at line 1:" in user
    assert "```javascript" in user and "not indented" in user


# --- explain ------------------------------------------------------------------------------------------------


def test_explain_lists_the_diagnostics_and_numbers_the_lines() -> None:
    request = ExplainRequest(
        document=SourceDocument(path="src/values.py", text=LONG_FILE),
        start_line=40,
        end_line=41,
        diagnostics=[
            DiagnosticInput(
                start_line=41,
                end_line=41,
                message='"value_x" is not defined',
                source="Pyright",
                code="reportUndefinedVariable",
                severity="error",
            ),
            DiagnosticInput(start_line=40, end_line=40, message="line too long", source="ruff"),
        ],
    )
    text = user_text(explain_messages(request))
    assert '- line 41: [error] Pyright(reportUndefinedVariable): "value_x" is not defined' in text
    assert "- line 40: ruff: line too long" in text
    assert block_after(text, "The diagnosed code (lines 40–41)") == [
        "  40 | value_40 = 40",
        "  41 | value_41 = 41",
    ]
    assert "Context before (lines 20–39; context only" in text
    assert "a fix may change only lines 40–41" in text


# --- schemas ------------------------------------------------------------------------------------------------

REVIEW_ANSWER: dict[str, Any] = {
    "findings": [
        {
            "start_line": 3,
            "end_line": 3,
            "severity": "error",
            "category": "bug",
            "message": "Reads past the end of the list.",
            "fix": {"start_line": 3, "end_line": 3, "replacement": "    for i in range(len(items)):"},
        },
        {
            "start_line": 5,
            "end_line": 6,
            "severity": "hint",
            "category": "style",
            "message": "Unclear name.",
            "fix": None,
        },
    ]
}
IMPLEMENT_ANSWER = {"code": "def double(x: int) -> int:\n    return 2 * x"}
EXPLAIN_ANSWER = {
    "explanation": "`x` is **undefined**.",
    "fix": {"start_line": 2, "end_line": 2, "replacement": "x = 0"},
}


@pytest.mark.parametrize(
    ("schema", "answer"),
    [
        (REVIEW_SCHEMA, REVIEW_ANSWER),
        (REVIEW_SCHEMA, {"findings": []}),
        (IMPLEMENT_SCHEMA, IMPLEMENT_ANSWER),
        (EXPLAIN_SCHEMA, EXPLAIN_ANSWER),
        (EXPLAIN_SCHEMA, {"explanation": "Nothing to fix.", "fix": None}),
    ],
)
def test_schemas_are_valid_and_accept_a_sample_answer(schema: dict[str, Any], answer: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(answer)


@pytest.mark.parametrize(
    ("schema", "answer"),
    [
        (REVIEW_SCHEMA, {"findings": [{**REVIEW_ANSWER["findings"][1], "severity": "critical"}]}),
        (REVIEW_SCHEMA, {"findings": [{"start_line": 1, "message": "missing keys"}]}),
        (IMPLEMENT_SCHEMA, {"code": 1}),
        (EXPLAIN_SCHEMA, {"explanation": "x", "fix": "not an object"}),
    ],
)
def test_schemas_reject_answers_that_break_the_contract(
    schema: dict[str, Any], answer: dict[str, Any]
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(answer)


def test_answers_following_the_schemas_parse_exactly() -> None:
    assert parse_review(json.dumps(REVIEW_ANSWER), start_line=1, end_line=10, seat="gpt") == [
        Finding(
            start_line=3,
            end_line=3,
            severity=Severity.ERROR,
            message="Reads past the end of the list.",
            fix=Fix(start_line=3, end_line=3, replacement="    for i in range(len(items)):"),
            model="gpt",
        ),
        Finding(
            start_line=5,
            end_line=6,
            severity=Severity.HINT,
            category="style",
            message="Unclear name.",
            model="gpt",
        ),
    ]
    assert parse_implementation(json.dumps(IMPLEMENT_ANSWER)) == IMPLEMENT_ANSWER["code"]
    assert parse_explanation(json.dumps(EXPLAIN_ANSWER), start_line=1, end_line=3) == (
        "`x` is **undefined**.",
        Fix(start_line=2, end_line=2, replacement="x = 0"),
    )
