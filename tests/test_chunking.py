"""A selection over a seat's prompt budget is reviewed in chunks that follow the code's structure.

Real HTTP to the fake model server: each seat's chunks arrive as separate requests, each within the
seat's `max_input_tokens` by litellm's own token counter, and the merged findings keep the file's
line numbers.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import textwrap
from typing import Any

import pytest

from orchestration.pipelines.review import review_selection, stream_review
from orchestration.providers.chat import ensure_litellm
from orchestration.types.errors import InputError
from orchestration.types.requests import ReviewRequest, SourceDocument
from orchestration.types.results import ResultUpdate, SeatFinished, SeatStarted
from tests.fake_models import FakeModelServer, RecordedRequest, make_config

BUDGET = 1100
"""Tokens: the whole file's review prompt needs ~1650, one function with its context ~700-950."""


def pipeline_source(steps: int = 8) -> str:
    """`import math`, then `steps` functions of 14 lines; odd ones have a comment line above them."""
    lines = ["import math", "", ""]
    for k in range(steps):
        if k % 2:
            lines.append(f"# step {k} doubles")
        lines += [f"def step_{k}(values):", f'    """Step {k} of the pipeline."""', "    total = 0"]
        lines += [f"    total += values[{i}] * {k}" for i in range(8)]
        lines += ["    return total", "", ""]
    return "\n".join(lines) + "\n"


SOURCE = pipeline_source()
DOCUMENT = SourceDocument(path="pipeline.py", text=SOURCE)
DEF_LINES = [number for number, line in enumerate(DOCUMENT.lines, start=1) if line.startswith("def ")]
REVIEWED = re.compile(r"Review these lines \(lines? (\d+)(?:–(\d+))?\)")


def reviewed_range(prompt: str) -> tuple[int, int]:
    match = REVIEWED.search(prompt)
    assert match is not None, prompt
    return int(match[1]), int(match[2] or match[1])


def answer_for_each_def(body: dict[str, Any]) -> str:
    """A model that reports one finding on every `def` line it was asked to review."""
    first, last = reviewed_range(body["messages"][-1]["content"])
    findings = [
        {
            "start_line": line,
            "end_line": line,
            "severity": "warning",
            "category": "bug",
            "message": f"step at line {line} ignores values past index 7",
        }
        for line in DEF_LINES
        if first <= line <= last
    ]
    return json.dumps({"findings": findings})


async def tokens_of(request: RecordedRequest) -> int:
    await ensure_litellm()
    litellm = sys.modules["litellm"]
    return int(litellm.token_counter(model=f"openai/{request.model}", messages=request.messages))


async def test_a_selection_over_the_budget_is_reviewed_in_chunks_at_definitions(
    model_server: FakeModelServer,
) -> None:
    model_server.script("small", answer_for_each_def)
    model_server.script("roomy", answer_for_each_def)
    config = make_config(model_server, {"small": {"max_input_tokens": BUDGET}, "roomy": {}})

    result = await review_selection(ReviewRequest(document=DOCUMENT), config)

    assert [r.model for r in model_server.requests_for("roomy")] == ["roomy"]
    chunks = sorted(reviewed_range(r.prompt) for r in model_server.requests_for("small"))
    assert len(chunks) > 2
    assert chunks[0][0] == 1 and chunks[-1][1] == len(DOCUMENT.lines)
    assert all(end + 1 == start for (_, end), (start, _) in itertools.pairwise(chunks))
    for start, _ in chunks[1:]:  # Cut where a definition (or the comment above it) starts.
        assert DOCUMENT.lines[start - 1].startswith(("def ", "# step"))
    for request in model_server.requests_for("small"):
        assert await tokens_of(request) <= BUDGET
    assert await tokens_of(model_server.requests_for("roomy")[0]) > BUDGET

    assert [(m.name, m.status) for m in result.models] == [("small", "ok"), ("roomy", "ok")]
    assert [f.start_line for f in result.findings] == DEF_LINES
    assert all((f.votes, f.panel) == (2, 2) for f in result.findings)
    assert all(
        f.message == f"step at line {f.start_line} ignores values past index 7" for f in result.findings
    )
    assert result.notice is not None and "small reviewed the selection in parts" in result.notice


async def test_a_partial_selection_keeps_file_line_numbers(model_server: FakeModelServer) -> None:
    model_server.script("small", answer_for_each_def)
    config = make_config(model_server, {"small": {"max_input_tokens": BUDGET}})
    first, last = DEF_LINES[2], DEF_LINES[6] + 5
    result = await review_selection(ReviewRequest(document=DOCUMENT, start_line=first, end_line=last), config)
    chunks = sorted(reviewed_range(r.prompt) for r in model_server.requests_for("small"))
    assert len(chunks) > 1 and chunks[0][0] == first and chunks[-1][1] == last
    assert [f.start_line for f in result.findings] == DEF_LINES[2:7]


async def test_a_class_over_the_budget_is_cut_between_its_methods(model_server: FakeModelServer) -> None:
    body = textwrap.indent(pipeline_source(6).replace("import math\n\n\n", ""), "    ")
    text = "class Pipeline:\n" + body
    document = SourceDocument(path="pipeline_class.py", text=text)
    method_lines = [n for n, line in enumerate(document.lines, start=1) if line.startswith("    def ")]
    model_server.script("small", json.dumps({"findings": []}))
    config = make_config(model_server, {"small": {"max_input_tokens": BUDGET}})
    await review_selection(ReviewRequest(document=document), config)
    chunks = sorted(reviewed_range(r.prompt) for r in model_server.requests_for("small"))
    assert len(chunks) > 2 and chunks[0][0] == 1 and chunks[-1][1] == len(document.lines)
    for start, _ in chunks[1:]:
        assert start in method_lines or document.lines[start - 1].lstrip().startswith("# step"), start


async def test_text_without_a_grammar_is_cut_between_lines(model_server: FakeModelServer) -> None:
    text = "".join(
        f"Line {n}: the quick brown fox jumps over the lazy dog, again and again.\n" for n in range(1, 121)
    )
    document = SourceDocument(path="notes.txt", text=text)
    model_server.script("small", json.dumps({"findings": []}))
    config = make_config(model_server, {"small": {"max_input_tokens": 1500}})
    result = await review_selection(ReviewRequest(document=document), config)
    chunks = sorted(reviewed_range(r.prompt) for r in model_server.requests_for("small"))
    assert len(chunks) > 1 and chunks[0][0] == 1 and chunks[-1][1] == 120
    assert all(end + 1 == start for (_, end), (start, _) in itertools.pairwise(chunks))
    for request in model_server.requests_for("small"):
        assert await tokens_of(request) <= 1500
    assert [m.status for m in result.models] == ["ok"]


async def test_one_definition_over_the_budget_refuses_the_seat_with_advice(
    model_server: FakeModelServer,
) -> None:
    huge = "def huge(values):\n" + "".join(f"    values[{i}] = values[{i}] * {i} + 1\n" for i in range(150))
    document = SourceDocument(path="huge.py", text=huge)
    model_server.script("small", json.dumps({"findings": []}))
    model_server.script("roomy", json.dumps({"findings": []}))
    config = make_config(model_server, {"small": {"max_input_tokens": BUDGET}, "roomy": {}})
    result = await review_selection(ReviewRequest(document=document), config)
    statuses = {m.name: m for m in result.models}
    assert statuses["roomy"].status == "ok" and statuses["small"].status == "skipped"
    error = statuses["small"].error or ""
    assert "lines 1-151 of huge.py cannot be split further" in error
    assert f"over its budget of {BUDGET:,}" in error and "select fewer lines" in error
    assert "max_input_tokens" in error and re.search(r"huge\.py:1-\d+", error)
    assert [r.model for r in model_server.requests] == ["roomy"]

    model_server.reset()
    only_small = make_config(model_server, {"small": {"max_input_tokens": BUDGET}})
    with pytest.raises(
        InputError, match=r"small was not asked: lines 1-151 of huge\.py cannot be split further"
    ):
        await review_selection(ReviewRequest(document=document), only_small)
    assert model_server.requests == []


async def test_chunked_seats_stream_as_one_seat_each(model_server: FakeModelServer) -> None:
    model_server.script("small", answer_for_each_def)
    model_server.script("roomy", answer_for_each_def, latency=0.5)
    config = make_config(model_server, {"small": {"max_input_tokens": BUDGET}, "roomy": {}})
    events = []
    async with stream_review(ReviewRequest(document=DOCUMENT), config) as stream:
        async for event in stream:
            events.append(event)
    assert len(model_server.requests_for("small")) > 2
    assert sorted(e.name for e in events if isinstance(e, SeatStarted)) == ["roomy", "small"]
    finished = [e for e in events if isinstance(e, SeatFinished)]
    assert [(e.status.name, e.answered, e.total) for e in finished] == [("small", 1, 2), ("roomy", 2, 2)]
    partials = [e.result for e in events if isinstance(e, ResultUpdate) and not e.final]
    assert len(partials) == 1  # One seat done (all its chunks), the other still working.
    assert [f.start_line for f in partials[0].findings] == DEF_LINES
    final = events[-1]
    assert isinstance(final, ResultUpdate) and final.final
    assert all(f.votes == 2 for f in final.result.findings)


async def test_a_failing_chunk_fails_its_seat_and_names_the_lines(model_server: FakeModelServer) -> None:
    def fail_the_second_function(body: dict[str, Any]) -> str:
        first, last = reviewed_range(body["messages"][-1]["content"])
        return "not json at all" if first <= DEF_LINES[1] <= last else answer_for_each_def(body)

    model_server.script("small", fail_the_second_function)
    model_server.script("roomy", answer_for_each_def)
    config = make_config(model_server, {"small": {"max_input_tokens": BUDGET}, "roomy": {}})
    result = await review_selection(ReviewRequest(document=DOCUMENT), config)
    statuses = {m.name: m for m in result.models}
    assert statuses["small"].status == "invalid"
    assert re.match(r"lines \d+-\d+: ", statuses["small"].error or "")
    assert all((f.votes, f.panel) == (1, 1) and f.models == ["roomy"] for f in result.findings)
