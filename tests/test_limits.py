"""Input limits through the real pipelines: impossible line ranges, oversized files, prompt budgets.

Every refusal must happen before any model is asked: the fake model server must receive nothing.
"""

from __future__ import annotations

import json

import pytest

from orchestration.pipelines.explain import explain_diagnostics
from orchestration.pipelines.implement import implement_stub
from orchestration.pipelines.review import review_selection
from orchestration.types.errors import InputError
from orchestration.types.requests import (
    DiagnosticInput,
    ExplainRequest,
    ImplementRequest,
    ReviewRequest,
    SourceDocument,
)
from tests.fake_models import FakeModelServer, make_config

SAMPLE = "def mean(values):\n    total = 0\n    for v in values:\n        total += v\n"
SAMPLE += "    return total / len(values)\n\n"
"""Six lines, as `chorus review sample.py:999` saw them in issue 13."""

STUB = "import math\n\n\ndef area(radius):\n    raise NotImplementedError\n"

NO_FINDINGS = json.dumps({"findings": []})


def sample(first: int, last: int | None) -> ReviewRequest:
    return ReviewRequest(
        document=SourceDocument(path="sample.py", text=SAMPLE), start_line=first, end_line=last
    )


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (999, None, r"sample.py:999: line 999 is past the end of the file \(6 lines\); choose lines 1-6"),
        (999, 1000, r"line 999 is past the end of the file \(6 lines\)"),
        (7, 7, r"line 7 is past the end"),
        (5, 3, r"sample.py:5-3: the range ends \(line 3\) before it starts \(line 5\)"),
        (0, 3, r"there is no line 0; lines are numbered from 1"),
        (-2, None, r"there is no line -2"),
    ],
)
async def test_review_of_lines_that_do_not_exist_asks_no_model(
    model_server: FakeModelServer, first: int, last: int | None, expected: str
) -> None:
    model_server.script("a", NO_FINDINGS)
    config = make_config(model_server, ["a"])
    with pytest.raises(InputError, match=expected) as raised:
        await review_selection(sample(first, last), config)
    assert "\n" not in str(raised.value)
    assert model_server.requests == []


async def test_a_range_ending_past_the_end_is_clamped_to_the_last_line(model_server: FakeModelServer) -> None:
    model_server.script("a", NO_FINDINGS)
    config = make_config(model_server, ["a"])
    result = await review_selection(sample(2, 999), config)
    assert (result.start_line, result.end_line) == (2, 6)
    assert "lines 2–6" in model_server.requests_for("a")[0].prompt


async def test_implement_and_explain_past_the_end_ask_no_model(model_server: FakeModelServer) -> None:
    model_server.script("a", json.dumps({"code": "def area(radius):\n    return math.pi * radius**2\n"}))
    config = make_config(model_server, ["a"], panels={"review": ["a"], "implement": ["a"], "explain": ["a"]})
    document = SourceDocument(path="shapes.py", text=STUB)
    with pytest.raises(InputError, match=r"shapes.py:40: line 40 is past the end of the file \(5 lines\)"):
        await implement_stub(ImplementRequest(document=document, line=40), config)
    with pytest.raises(InputError, match="there is no line 0"):
        await implement_stub(ImplementRequest(document=document, line=0), config)
    diagnostic = DiagnosticInput(start_line=9, end_line=9, message="undefined name")
    explain = ExplainRequest(document=document, start_line=9, end_line=9, diagnostics=[diagnostic])
    with pytest.raises(InputError, match="line 9 is past the end"):
        await explain_diagnostics(explain, config)
    backwards = ExplainRequest(document=document, start_line=4, end_line=2)
    with pytest.raises(InputError, match="ends \\(line 2\\) before it starts \\(line 4\\)"):
        await explain_diagnostics(backwards, config)
    assert model_server.requests == []


async def test_a_file_over_max_file_bytes_is_refused_before_anything_is_sent(
    model_server: FakeModelServer,
) -> None:
    model_server.script("a", NO_FINDINGS)
    config = make_config(model_server, ["a"], policy={"max_file_bytes": 10_000})
    big = "x = 1  # " + "é" * 40 + "\n"  # Multi-byte characters: the limit is in bytes, not characters.
    text = big * (10_000 // len(big.encode()) + 1)
    assert len(text) < 10_000 < len(text.encode())
    request = ReviewRequest(document=SourceDocument(path="big.py", text=text), start_line=1, end_line=2)
    with pytest.raises(
        InputError, match=r"big\.py is 10,0[0-9]{2} bytes, over policy\.max_file_bytes"
    ) as raised:
        await review_selection(request, config)
    assert "raise policy.max_file_bytes" in str(raised.value)
    stub_file = SourceDocument(path="big_stub.py", text=text + STUB)
    with pytest.raises(InputError, match=r"over policy\.max_file_bytes"):
        await implement_stub(ImplementRequest(document=stub_file, line=len(stub_file.lines)), config)
    with pytest.raises(InputError, match=r"over policy\.max_file_bytes"):
        await explain_diagnostics(ExplainRequest(document=stub_file, start_line=1, end_line=1), config)
    assert model_server.requests == []


async def test_a_file_within_max_file_bytes_is_sent(model_server: FakeModelServer) -> None:
    model_server.script("a", NO_FINDINGS)
    config = make_config(model_server, ["a"], policy={"max_file_bytes": len(SAMPLE.encode())})
    result = await review_selection(sample(1, None), config)
    assert [m.status for m in result.models] == ["ok"]


async def test_a_seat_whose_budget_cannot_hold_the_prompt_is_not_asked(model_server: FakeModelServer) -> None:
    model_server.script("roomy", json.dumps({"code": "def area(radius):\n    return math.pi * radius**2\n"}))
    model_server.script("tiny", json.dumps({"code": "def area(radius):\n    return 0\n"}))
    config = make_config(
        model_server,
        {"roomy": {}, "tiny": {"max_input_tokens": 50}},
        panels={"implement": ["roomy", "tiny"], "explain": ["roomy", "tiny"]},
    )
    document = SourceDocument(path="shapes.py", text=STUB)
    result = await implement_stub(ImplementRequest(document=document, line=5), config)
    statuses = {m.name: m for m in result.models}
    assert statuses["roomy"].status == "ok" and statuses["tiny"].status == "skipped"
    assert "over its budget of 50" in (statuses["tiny"].error or "")
    assert "select fewer lines, or raise models.tiny.max_input_tokens" in (statuses["tiny"].error or "")
    assert [r.model for r in model_server.requests] == ["roomy"]

    model_server.reset()
    model_server.script("roomy", json.dumps({"explanation": "It is a stub.", "fix": None}))
    explain = ExplainRequest(document=document, start_line=5, end_line=5)
    explained = await explain_diagnostics(explain, config)
    assert {m.name: m.status for m in explained.models} == {"roomy": "ok", "tiny": "skipped"}
    assert [r.model for r in model_server.requests] == ["roomy"]


async def test_no_seat_able_to_take_the_prompt_is_an_input_error(model_server: FakeModelServer) -> None:
    model_server.script("tiny", NO_FINDINGS)
    config = make_config(model_server, {"tiny": {"max_input_tokens": 40}}, panels={"explain": ["tiny"]})
    document = SourceDocument(path="shapes.py", text=STUB)
    with pytest.raises(
        InputError, match=r"tiny was not asked: the prompt needs [0-9,]+ tokens, over its budget of 40"
    ):
        await explain_diagnostics(ExplainRequest(document=document, start_line=5, end_line=5), config)
    assert model_server.requests == []
