"""Tolerant parsing of real-looking model answers: every deviation gives the exact findings expected."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestration.answers.json_answers import extract_json
from orchestration.answers.parsing import parse_explanation, parse_implementation, parse_review
from orchestration.panel.arbiter import parse_arbiter_answer
from orchestration.types.errors import UnusableAnswer
from orchestration.types.findings import Category, Finding, Fix, Severity


def review(text: str, start_line: int = 1, end_line: int = 20, seat: str = "seat") -> list[Finding]:
    return parse_review(text, start_line=start_line, end_line=end_line, seat=seat)


def finding(
    start_line: int, end_line: int | None = None, message: str = "Off by one.", **fields: Any
) -> Finding:
    """A finding by the seat 'seat': a warning about a bug without a fix unless `fields` say otherwise."""
    return Finding(
        start_line=start_line, end_line=end_line or start_line, message=message, **{"model": "seat", **fields}
    )


def fix(start_line: int, end_line: int, replacement: str) -> Fix:
    return Fix(start_line=start_line, end_line=end_line, replacement=replacement)


def test_extract_json_reads_bare_fenced_and_embedded_json() -> None:
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('Here it is:\n```json\n{"a": [1, 2]}\n```\nAnything else?') == {"a": [1, 2]}
    assert extract_json('See note [1]. The answer: {"a": {"b": 2}} — done.') == {"a": {"b": 2}}


def test_extract_json_repairs_an_answer_cut_off_mid_string() -> None:
    assert extract_json('{"findings": [{"line": 3, "msg": "Unclosed fi') == {
        "findings": [{"line": 3, "msg": "Unclosed fi"}]
    }


@pytest.mark.parametrize("text", ["", "   ", "I could not find anything wrong with this code."])
def test_extract_json_without_json_is_unusable(text: str) -> None:
    with pytest.raises(UnusableAnswer):
        extract_json(text)


CLAUDE_ANSWER = """I reviewed lines 10–14. There is one real bug:

```json
{
  "findings": [
    {
      "start_line": 12,
      "end_line": 12,
      "severity": "error",
      "category": "bug",
      "message": "`range(len(items) + 1)` reads one element past the end of `items`.",
      "fix": {"start_line": 12, "end_line": 12, "replacement": "    for i in range(len(items)):"}
    }
  ]
}
```

Everything else looks fine."""


def test_claude_style_prose_around_a_json_fence() -> None:
    message = "`range(len(items) + 1)` reads one element past the end of `items`."
    replacement = fix(12, 12, "    for i in range(len(items)):")
    assert review(CLAUDE_ANSWER, 10, 14, seat="claude") == [
        finding(12, message=message, severity=Severity.ERROR, fix=replacement, model="claude")
    ]


def test_gpt_style_bare_json_exactly_as_asked() -> None:
    answer = (
        '{"findings":[{"start_line":3,"end_line":4,"severity":"warning","category":"security",'
        '"message":"SQL injection via f-string.","fix":null},'
        '{"start_line":7,"end_line":7,"severity":"hint","category":"style",'
        '"message":"Name `x` says nothing.","fix":null}]}'
    )
    assert review(answer, seat="gpt") == [
        finding(3, 4, "SQL injection via f-string.", category=Category.SECURITY, model="gpt"),
        finding(7, message="Name `x` says nothing.", severity=Severity.HINT, category="style", model="gpt"),
    ]


def test_gemini_style_markdown_with_a_bare_list_of_findings() -> None:
    answer = (
        "## Review\n\n**Summary:** one issue found.\n\n```json\n"
        '[\n  {"line": 5, "severity": "Medium", "category": "Logic", "message": "Missing `await`."}\n]\n```\n'
    )
    assert review(answer) == [finding(5, message="Missing `await`.")]


def test_empty_findings_list_is_a_valid_answer() -> None:
    assert review('{"findings": []}') == []
    assert review('No problems in the selected lines.\n```json\n{"findings": []}\n```') == []
    assert review('{"findings": null}') == []


def test_a_single_finding_object_instead_of_a_list() -> None:
    assert review('{"findings": {"line": 2, "message": "Off by one."}}') == [finding(2)]
    assert review('{"line": 2, "message": "Off by one."}') == [finding(2)]


@pytest.mark.parametrize(
    ("fields", "lines"),
    [
        ({"line": 6}, (6, 6)),
        ({"lineno": 6}, (6, 6)),
        ({"line_number": 6}, (6, 6)),
        ({"lineNumber": 6}, (6, 6)),
        ({"start": 5, "end": 7}, (5, 7)),
        ({"lines": "5-7"}, (5, 7)),
        ({"lines": "L5-L7"}, (5, 7)),
        ({"lines": [5, 7]}, (5, 7)),
        ({"line": "lines 5 to 7"}, (5, 7)),
        ({"start_line": "5", "end_line": "7"}, (5, 7)),
        ({"start_line": 5.0, "end_line": 7.0}, (5, 7)),
        ({"start_line": 6}, (6, 6)),
        ({"start_line": 7, "end_line": 5}, (5, 7)),
        ({"location": {"line": 6}}, (6, 6)),
    ],
)
def test_line_number_keys_and_forms(fields: dict[str, object], lines: tuple[int, int]) -> None:
    answer = json.dumps({"findings": [{**fields, "message": "Off by one."}]})
    assert review(answer) == [finding(*lines)]


SEVERITY_WORDS = {
    Severity.ERROR: ["critical", "Blocker", "HIGH", "error", "High severity"],
    Severity.WARNING: ["medium", "Major", "moderate", "whatever"],
    Severity.INFO: ["low", "minor", "Info"],
    Severity.HINT: ["trivial", "nit", "note", "Suggestion"],
}


@pytest.mark.parametrize(
    ("word", "severity"), [(word, level) for level, words in SEVERITY_WORDS.items() for word in words]
)
def test_severity_words(word: str, severity: Severity) -> None:
    answer = json.dumps({"findings": [{"line": 1, "message": "Off by one.", "severity": word}]})
    assert review(answer) == [finding(1, severity=severity)]


CATEGORY_WORDS = {
    Category.BUG: ["correctness", "Logic", "something-else"],
    Category.SECURITY: ["vuln", "Security Vulnerability"],
    Category.PERFORMANCE: ["perf"],
    Category.STYLE: ["readability", "naming"],
    Category.MAINTAINABILITY: ["maintainability", "design"],
}


@pytest.mark.parametrize(
    ("word", "category"), [(word, kind) for kind, words in CATEGORY_WORDS.items() for word in words]
)
def test_category_words(word: str, category: Category) -> None:
    answer = json.dumps({"findings": [{"line": 1, "message": "Off by one.", "category": word}]})
    assert review(answer) == [finding(1, category=category)]


@pytest.mark.parametrize("key", ["description", "issue", "text", "problem"])
def test_message_under_another_key(key: str) -> None:
    assert review(json.dumps([{"line": 4, key: "  Off by one.  "}])) == [finding(4)]


def test_findings_without_a_message_or_lines_are_dropped() -> None:
    answer = (
        '{"findings": [{"line": 3, "severity": "error"}, {"message": "Somewhere there is a bug."}, '
        '{"line": 4, "message": ""}, {"line": 5, "message": "Off by one."}]}'
    )
    assert review(answer) == [finding(5)]


def test_only_malformed_findings_make_the_answer_unusable() -> None:
    with pytest.raises(UnusableAnswer, match="message and line numbers"):
        review('{"findings": [{"severity": "error", "message": "Bug somewhere."}]}')


def test_fix_as_a_string_replaces_the_findings_own_lines() -> None:
    answer = json.dumps([{"lines": "3-4", "message": "Off by one.", "fix": "    a = 1\n    b = 2"}])
    assert review(answer) == [finding(3, 4, fix=fix(3, 4, "    a = 1\n    b = 2"))]


@pytest.mark.parametrize("key", ["code", "new_code", "replacement"])
def test_fix_object_with_code_keys(key: str) -> None:
    answer = json.dumps([{"line": 3, "message": "Off by one.", "fix": {"line": 3, key: "    return n - 1"}}])
    assert review(answer) == [finding(3, fix=fix(3, 3, "    return n - 1"))]


def test_fix_without_lines_takes_the_findings_lines() -> None:
    answer = json.dumps(
        [{"start_line": 8, "end_line": 9, "message": "Off by one.", "fix": {"code": "x = 1\ny = 2"}}]
    )
    assert review(answer) == [finding(8, 9, fix=fix(8, 9, "x = 1\ny = 2"))]


@pytest.mark.parametrize(
    "value", [None, "", "none", "N/A", "null", {"start_line": 3, "explanation": "no code"}]
)
def test_absent_or_empty_fixes_become_none(value: object) -> None:
    assert review(json.dumps([{"line": 3, "message": "Off by one.", "fix": value}])) == [finding(3)]


def test_fix_in_a_fence_with_copied_line_numbers_is_cleaned() -> None:
    """A small model copies the `  12 | ` prefixes of the prompt and wraps the fix in a fence."""
    fenced = "```python\n  12 |     if n <= 0:\n  13 |         return []\n```"
    answer = json.dumps([{"lines": "12-13", "message": "Off by one.", "fix": fenced}])
    replacement = "    if n <= 0:\n        return []"
    assert review(answer) == [finding(12, 13, fix=fix(12, 13, replacement))]


def test_deleting_fix_is_kept() -> None:
    answer = '[{"line": 6, "message": "Debug print.", "fix": {"line": 6, "replacement": ""}}]'
    assert review(answer) == [finding(6, message="Debug print.", fix=fix(6, 6, ""))]


def test_findings_outside_the_range_are_dropped_and_overlapping_ones_clipped() -> None:
    answer = (
        '[{"line": 2, "message": "Context before."}, {"lines": "8-12", "message": "Overlaps the start."}, '
        '{"lines": "11-13", "message": "Inside."}, {"lines": "14-30", "message": "Overlaps the end."}, '
        '{"line": 40, "message": "Context after."}]'
    )
    assert review(answer, 10, 15) == [
        finding(10, 12, "Overlaps the start."),
        finding(11, 13, "Inside."),
        finding(14, 15, "Overlaps the end."),
    ]


def test_fix_reaching_outside_the_range_is_dropped_but_the_finding_kept() -> None:
    answer = (
        '[{"line": 10, "message": "Off by one.", "fix": {"lines": "9-10", "replacement": "a\\nb"}}, '
        '{"lines": "9-10", "message": "Clipped.", "fix": "a\\nb"}, '
        '{"line": 11, "message": "Fixable.", "fix": {"line": 11, "replacement": "c"}}]'
    )
    assert review(answer, 10, 15) == [
        finding(10),
        finding(10, message="Clipped."),
        finding(11, message="Fixable.", fix=fix(11, 11, "c")),
    ]


def test_answer_cut_off_mid_string_keeps_every_finding_started() -> None:
    answer = (
        "```json\n"
        '{"findings": [{"start_line": 3, "end_line": 3, "severity": "error", "category": "bug", '
        '"message": "Reads past the end.", "fix": null}, '
        '{"start_line": 5, "severity": "warning", "message": "Division by zero when the list is emp'
    )
    assert review(answer) == [
        finding(3, message="Reads past the end.", severity=Severity.ERROR),
        finding(5, message="Division by zero when the list is emp"),
    ]


def test_small_local_model_quirks() -> None:
    """Qwen2.5-Coder-1.5B: single quotes, Python None, trailing commas, string line numbers, chatter."""
    answer = (
        "{'findings': [{'line': '7', 'severity': 'Error', 'category': 'Bug', "
        "'message': 'Infinite loop: i is never incremented.', 'fix': None},],}\n"
        "I hope this helps! Let me know if you have other questions."
    )
    assert review(answer, seat="qwen") == [
        finding(7, message="Infinite loop: i is never incremented.", severity=Severity.ERROR, model="qwen")
    ]


def test_raw_newlines_inside_json_strings_are_kept_exactly() -> None:
    """Some models write multi-line replacements with literal newlines, which strict JSON forbids."""
    answer = (
        '{"findings": [{"line": 2, "message": "Off by one.", "fix": "    if n:\n        return n - 1\n"}]}'
    )
    replacement = "    if n:\n        return n - 1\n"
    assert review(answer) == [finding(2, fix=fix(2, 2, replacement))]


def test_findings_written_as_text_lines() -> None:
    answer = '{"findings": ["Line 4: `total` is never returned.", "lines 6-7 - unused import"]}'
    assert review(answer) == [
        finding(4, message="`total` is never returned."),
        finding(6, 7, message="unused import"),
    ]


def test_prose_brackets_before_the_json_do_not_confuse_the_parser() -> None:
    answer = 'As noted in [1], see {this}. Result:\n{"issues": [{"line": 9, "message": "Off by one."}]}'
    assert review(answer) == [finding(9)]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty answer"),
        ("The code looks correct to me; I found no problems.", "no JSON in answer"),
        ("See [1] and [2] for details.", "no JSON in answer"),
        ("I found an issue {oops", "no JSON in answer"),
        ('{"summary": "Looks good", "score": 9}', "JSON without findings"),
        ('```json\n{"verdict": "fine"}\n```', "JSON without findings"),
    ],
)
def test_garbage_is_unusable(text: str, reason: str) -> None:
    with pytest.raises(UnusableAnswer, match=reason):
        review(text)


CODE = (
    "def mean(values: list[float]) -> float:\n"
    "    if not values:\n"
    '        raise ValueError("empty")\n'
    "    return sum(values) / len(values)"
)


def test_implementation_from_json_bare_in_prose_in_a_fence_or_holding_a_fence() -> None:
    assert parse_implementation(json.dumps({"code": CODE})) == CODE
    assert parse_implementation(f"Sure! {json.dumps({'code': CODE})} Hope that helps.") == CODE
    assert parse_implementation(f"```json\n{json.dumps({'code': CODE})}\n```") == CODE
    assert parse_implementation(json.dumps({"code": f"```python\n{CODE}\n```"})) == CODE


def test_implementation_from_a_fence_after_prose_or_bare_code() -> None:
    answer = f"Here is the implementation:\n\n```python\n{CODE}\n```\n\nIt raises on empty input."
    assert parse_implementation(answer) == CODE
    assert parse_implementation(CODE + "\n") == CODE, "a small model may answer with bare code"


def test_implementation_with_a_dict_literal_is_not_mistaken_for_json() -> None:
    code = 'def config() -> dict[str, str]:\n    return {"source": "db", "code": "x"}'
    assert parse_implementation(f"```python\n{code}\n```") == code


def test_implementation_picks_the_longest_code_block() -> None:
    answer = f"```python\n{CODE}\n```\nUsage:\n```python\nmean([1, 2])\n```"
    assert parse_implementation(answer) == CODE


def test_truncated_implementation_is_repaired() -> None:
    cut = '{"code": "def mean(values):\\n    total = 0\\n    for value in values:\\n        total += val'
    expected = "def mean(values):\n    total = 0\n    for value in values:\n        total += val"
    assert parse_implementation(cut) == expected


@pytest.mark.parametrize(
    "text", ["", "  \n", '{"code": ""}', "I cannot implement this function.", '{"x": 1}']
)
def test_unusable_implementations(text: str) -> None:
    with pytest.raises(UnusableAnswer):
        parse_implementation(text)


def test_explanation_with_a_fix() -> None:
    answer = '{"explanation": "`x` is unbound here.", "fix": {"line": 4, "replacement": "    x = 0"}}'
    assert parse_explanation(answer, start_line=3, end_line=5) == (
        "`x` is unbound here.",
        fix(4, 4, "    x = 0"),
    )


def test_explanation_fix_as_string_replaces_the_range() -> None:
    payload = '{"explanation": "Missing import.", "fix": "import os\\nimport sys"}'
    answer = f"Explanation below.\n```json\n{payload}\n```"
    expected = ("Missing import.", fix(1, 2, "import os\nimport sys"))
    assert parse_explanation(answer, start_line=1, end_line=2) == expected


def test_explanation_fix_outside_the_range_is_dropped() -> None:
    answer = json.dumps({"explanation": "Wrong type.", "fix": {"line": 30, "replacement": "y = 1"}})
    assert parse_explanation(answer, start_line=3, end_line=5) == ("Wrong type.", None)


def test_plain_markdown_explanation() -> None:
    answer = (
        "### What it means\n\nPyright says `foo` [reportUndefinedVariable] is not defined.\n\n"
        "```python\nfoo = {}\n```\n"
    )
    assert parse_explanation(answer, start_line=1, end_line=1) == (answer.strip(), None)


def test_truncated_explanation() -> None:
    answer = '{"explanation": "The call passes a `str` where an `int` is exp'
    expected = "The call passes a `str` where an `int` is exp"
    assert parse_explanation(answer, start_line=1, end_line=1) == (expected, None)


@pytest.mark.parametrize("text", ["", '{"fix": null}', '```json\n{"verdict": 1}\n```'])
def test_unusable_explanations(text: str) -> None:
    with pytest.raises(UnusableAnswer):
        parse_explanation(text, start_line=1, end_line=1)


HOSTILE_ANSWERS = [
    "[" * 5000,
    "{" * 5000,
    '{"a":' * 5000,
    '[{"findings":' * 3000,
    '[{"line": 1, "message": "m", "severity": ' + "[" * 3000 + "}]",
    '{"findings": [{"line": 1, "message": "m"}]}' + "[" * 100_000,
    "[" * 1_000_000,
    "x [ " * 250_000,
    '[{"line": ' + "9" * 5000 + ', "message": "huge int"}]',
    '[{"line": "' + "9" * 5000 + '", "message": "huge digits"}]',
    '[{"line": ' + "9" * 400 + ', "message": "int too big for a float"}]',
    '[{"line": 1e400, "message": "inf"}, {"line": NaN, "message": "nan"}]',
    '[{"line": -Infinity, "message": "x"}]',
    '{"findings": {"findings": {"findings": 5}}}',
    '{"code": 5, "explanation": {"a": [1]}, "fix": [[[]]]}',
    '[{"line": [[[[1]]]], "message": ["a", 1], "fix": {"start": 1e308, "replacement": {"x": 1}}}]',
]


@pytest.mark.parametrize("text", HOSTILE_ANSWERS, ids=lambda text: f"{text[:16]!r}…{len(text)}")
def test_hostile_answers_only_ever_raise_unusable_answer(text: str) -> None:
    for parse in (
        lambda: review(text),
        lambda: parse_implementation(text),
        lambda: parse_explanation(text, start_line=1, end_line=5),
        lambda: extract_json(text),
        lambda: parse_arbiter_answer(text),
    ):
        try:
            parse()
        except UnusableAnswer as error:
            assert not str(error).startswith("unreadable answer"), error  # Not merely caught by the guard.


def test_the_arbiter_answer_of_5000_brackets_is_unusable_not_a_recursion_error() -> None:
    with pytest.raises(UnusableAnswer, match="no JSON in answer"):
        parse_arbiter_answer("[" * 5000)


def test_a_deep_prefix_does_not_hide_the_findings_after_it() -> None:
    text = "[" * 100 + ' and then {"findings": [{"line": 2, "message": "real"}]}'
    assert [item.message for item in review(text)] == ["real"]


def test_huge_numbers_are_no_line_numbers() -> None:
    far = '[{"line": ' + "9" * 400 + ', "message": "far"}, {"line": 2, "message": "near"}]'
    assert [item.message for item in review(far)] == ["near"]
    with pytest.raises(UnusableAnswer, match="no finding had both"):
        review('[{"line": "' + "7" * 50 + '", "message": "digits"}, {"line": 1e400, "message": "inf"}]')


def test_lone_surrogates_in_model_text_become_replacement_characters() -> None:
    findings = review('[{"line": 2, "message": "bad \\ud800 text", "fix": "x = \\udfff"}]')
    assert findings[0].message == "bad \ufffd text"
    assert findings[0].fix is not None and findings[0].fix.replacement == "x = \ufffd"
    assert parse_implementation('{"code": "def f():\\n    return \'\\ud83d\'"}').endswith("'\ufffd'")
    explanation, _ = parse_explanation('{"explanation": "why \\udc00"}', start_line=1, end_line=2)
    assert explanation == "why \ufffd"
    json.dumps([item.model_dump() for item in findings], ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "text",
    [
        '[{"lines": "9-3", "message": "inverted"}]',
        '[{"line": [9, 3], "message": "inverted"}]',
        '[{"start_line": 9, "end_line": 3, "message": "inverted"}]',
        '["lines 9-3: inverted"]',
    ],
)
def test_an_inverted_span_is_put_in_order(text: str) -> None:
    [found] = review(text)
    assert (found.start_line, found.end_line) == (3, 9)


def test_an_inverted_fix_span_is_put_in_order() -> None:
    text = '[{"line": 3, "end": 9, "message": "m", "fix": {"start_line": 8, "end_line": 4, "code": "x"}}]'
    [found] = review(text)
    assert found.fix == fix(4, 8, "x")
