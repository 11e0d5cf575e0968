"""Property-based fuzzing of model answers through parse → merge → machine form (issue 13).

Hostile or broken model text may only ever make a parser raise `UnusableAnswer` (and never through
the last-resort guard, whose reason starts "unreadable answer": that would be a parser bug). What
comes out must hold the invariants the editor relies on: finding lines inside the reviewed range
and in order, votes never above the panel, LSP ranges inside the document with start <= end, and
the machine form JSON-serializable (UTF-8 encodable, no lone surrogates). Examples are derandomized
so CI is deterministic; `CASES` lists how many each property runs (8,000 in all).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.answers.parsing import parse_explanation, parse_implementation, parse_review
from orchestration.machine_form import review_machine_form
from orchestration.merge.consensus import merge_findings
from orchestration.panel.arbiter import parse_arbiter_answer
from orchestration.types.errors import UnusableAnswer
from orchestration.types.findings import Finding
from orchestration.types.requests import SourceDocument
from orchestration.types.results import ModelStatus, ReviewResult

CASES = {"raw_text": 2000, "json_answers": 2000, "panel": 1000, "other_parsers": 1500, "arbiter": 1500}
"""Examples per property."""


def fuzz_settings(cases: int) -> Any:
    return settings(
        max_examples=cases,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


ODD_CHARACTERS = '[]{}",:\\`~\n\r\t\x0c\x0b\x1c\x85\u2028\u2029\x00\ud800\udfff\ufeff\u202e\x1b0123456789-. '
KEYS = st.sampled_from(
    "findings issues line lines start_line startLine end_line end range location message description "
    "severity category type fix replacement code explanation clusters id verdict".split()
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=-3, max_value=40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=ODD_CHARACTERS, max_size=12),
    st.text(max_size=30),
    st.sampled_from(
        ["lines 9-3", "L5", "5-7", "3 to 1", "9" * 40, "critical", "security", "n/a", "```py\nx\n```"]
    ),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(KEYS, st.text(max_size=8)), inner, max_size=6),
    ),
    max_leaves=25,
)


@st.composite
def answers(draw: st.DrawFn) -> str:
    """A model answer: JSON (maybe truncated, fenced, in prose, with non-standard tokens) or junk."""
    value = draw(JSON_VALUES)
    text = json.dumps(value, ensure_ascii=draw(st.booleans()), allow_nan=True)
    shape = draw(st.sampled_from(["bare", "fenced", "prose", "truncated", "deep", "garbled"]))
    if shape == "fenced":
        text = f"```json\n{text}\n```"
    elif shape == "prose":
        text = draw(st.text(max_size=20)) + " " + text + " " + draw(st.text(max_size=20))
    elif shape == "truncated" and text:
        text = text[: draw(st.integers(min_value=0, max_value=len(text)))]
    elif shape == "deep":
        depth = draw(st.integers(min_value=50, max_value=3000))
        opener = draw(st.sampled_from(["[", "{", '{"a":', '[{"findings":']))
        text = opener * depth + text
    elif shape == "garbled":
        noise = draw(st.text(alphabet=ODD_CHARACTERS, max_size=30))
        cut = draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:cut] + noise + text[cut:]
    return text


DOCUMENT_LINES = st.lists(st.text(alphabet="ab (): \t\x0c\u2028\x85é", max_size=8), min_size=0, max_size=12)
NEWLINES = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def documents(draw: st.DrawFn) -> SourceDocument:
    lines = draw(DOCUMENT_LINES)
    text = draw(NEWLINES).join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))
    return SourceDocument(path="fuzz.py", text=text)


def parsed_or_unusable(parse: Any, *args: Any, **kwargs: Any) -> Any:
    """The parse's result, or None for UnusableAnswer (raised by the parser itself, not the guard)."""
    try:
        return parse(*args, **kwargs)
    except UnusableAnswer as error:
        assert not str(error).startswith("unreadable answer"), f"a parser bug escaped: {error!r}"
        assert error.__cause__ is None
        return None


def check_findings(findings: list[Finding], start: int, end: int) -> None:
    for item in findings:
        assert start <= item.start_line <= item.end_line <= end
        assert item.message.strip()
        item.message.encode("utf-8")
        if item.fix is not None:
            assert start <= item.fix.start_line <= item.fix.end_line <= end
            item.fix.replacement.encode("utf-8")


def check_position(position: dict[str, int], document: SourceDocument) -> None:
    lines = document.lines
    line, character = position["line"], position["character"]
    assert 0 <= line <= len(lines)
    if line == len(lines):  # Only the position just past a final line break.
        assert character == 0
    else:
        assert 0 <= character <= len(lines[line])


def check_range(where: dict[str, dict[str, int]], document: SourceDocument) -> None:
    check_position(where["start"], document)
    check_position(where["end"], document)
    start, end = where["start"], where["end"]
    assert (start["line"], start["character"]) <= (end["line"], end["character"])


def check_machine_form(form: dict[str, Any], document: SourceDocument, panel: int) -> None:
    json.dumps(form, ensure_ascii=False).encode("utf-8")  # What the server and `--json` send.
    for diagnostic in form["diagnostics"]:
        check_range(diagnostic["range"], document)
        assert 1 <= diagnostic["data"]["votes"] <= diagnostic["data"]["panel"] == panel
        assert diagnostic["message"].startswith(f"[{diagnostic['data']['votes']}/{panel}] ")
        for fix in diagnostic["data"]["fixes"]:
            check_range(fix["range"], document)
            assert fix["votes"] <= diagnostic["data"]["votes"]
        for related in diagnostic["relatedInformation"]:
            check_range(related["location"]["range"], document)


@fuzz_settings(CASES["raw_text"])
@given(st.one_of(st.text(max_size=200), st.text(alphabet=ODD_CHARACTERS, max_size=300)), st.integers(1, 30))
def test_any_text_is_findings_in_range_or_unusable(text: str, first: int) -> None:
    findings = parsed_or_unusable(parse_review, text, start_line=first, end_line=first + 10, seat="s")
    if findings is not None:
        check_findings(findings, first, first + 10)


@fuzz_settings(CASES["json_answers"])
@given(answers(), st.integers(1, 30), st.integers(0, 40))
def test_json_like_answers_are_findings_in_range_or_unusable(text: str, first: int, span: int) -> None:
    findings = parsed_or_unusable(parse_review, text, start_line=first, end_line=first + span, seat="s")
    if findings is not None:
        check_findings(findings, first, first + span)


@fuzz_settings(CASES["panel"])
@given(st.lists(answers(), min_size=1, max_size=4), documents(), st.data())
def test_a_panel_of_answers_merges_into_a_valid_machine_form(
    texts: list[str], document: SourceDocument, data: st.DataObject
) -> None:
    last = max(1, len(document.lines))
    first = data.draw(st.integers(1, last))
    end = data.draw(st.integers(first, last))
    per_seat: dict[str, list[Finding]] = {}
    for index, text in enumerate(texts):
        findings = parsed_or_unusable(parse_review, text, start_line=first, end_line=end, seat=f"seat{index}")
        if findings is not None:
            check_findings(findings, first, end)
            per_seat[f"seat{index}"] = findings
    merged = merge_findings(per_seat, answered=list(per_seat))
    assert sum(item.votes for item in merged) == sum(len(items) for items in per_seat.values())
    for item in merged:
        assert first <= item.start_line <= item.end_line <= end
        assert item.votes == len(item.models) == len(set(item.models)) <= item.panel == len(per_seat)
    result = ReviewResult(
        path="fuzz.py",
        start_line=first,
        end_line=end,
        findings=merged,
        models=[ModelStatus(name=seat, status="ok") for seat in per_seat],
    )
    check_machine_form(review_machine_form(result, document, "file:///fuzz.py"), document, len(per_seat))


@fuzz_settings(CASES["other_parsers"])
@given(st.one_of(answers(), st.text(max_size=200)), st.integers(1, 20))
def test_implementation_and_explanation_parsers_only_raise_unusable(text: str, first: int) -> None:
    code = parsed_or_unusable(parse_implementation, text)
    if code is not None:
        assert isinstance(code, str)
        code.encode("utf-8")
    explained = parsed_or_unusable(parse_explanation, text, start_line=first, end_line=first + 5)
    if explained is not None:
        explanation, fix = explained
        explanation.encode("utf-8")
        assert fix is None or first <= fix.start_line <= fix.end_line <= first + 5


@fuzz_settings(CASES["arbiter"])
@given(st.one_of(answers(), st.text(max_size=100)))
def test_arbiter_answers_only_raise_unusable(text: str) -> None:
    answers_by_id = parsed_or_unusable(parse_arbiter_answer, text)
    if answers_by_id is not None:
        assert all(isinstance(key, int) for key in answers_by_id)


def test_the_fuzz_budget_is_thousands_of_cases() -> None:
    assert sum(CASES.values()) >= 5000
