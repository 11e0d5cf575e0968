"""The review pipeline end to end: real HTTP to the fake model server, parsing, merge, arbiter."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from orchestration.pipelines.review import review_selection, stream_review
from orchestration.providers.chat import ensure_litellm
from orchestration.types.errors import ExcludedFileError, NoPanelError
from orchestration.types.requests import ReviewRequest, SourceDocument
from orchestration.types.results import ResultUpdate, SeatFinished, SeatStarted
from tests.fake_models import FakeModelServer, make_config

LEDGER = (Path(__file__).resolve().parent.parent / "examples" / "ledger.py").read_text()


def findings(*items: dict[str, object]) -> str:
    """A model answer in the contract's shape."""
    return json.dumps({"findings": list(items)})


OFF_BY_ONE = {
    "start_line": 8,
    "end_line": 8,
    "severity": "error",
    "category": "bug",
    "message": "Off-by-one: range(len(amounts) + 1) reads past the end and raises IndexError.",
    "fix": {"start_line": 8, "end_line": 8, "replacement": "    for i in range(len(amounts)):\n"},
}
SQL = {
    "start_line": 14,
    "end_line": 14,
    "severity": "error",
    "category": "security",
    "message": "SQL injection: owner is interpolated into the query.",
}


def ledger_request(first: int = 1, last: int | None = None) -> ReviewRequest:
    return ReviewRequest(
        document=SourceDocument(path="examples/ledger.py", text=LEDGER), start_line=first, end_line=last
    )


async def test_three_seats_agree_and_disagree(model_server: FakeModelServer) -> None:
    model_server.script("claude", "Sure!\n```json\n" + findings(OFF_BY_ONE, SQL) + "\n```", latency=0.1)
    model_server.script("codex", findings({**OFF_BY_ONE, "message": "IndexError when i == len(amounts)"}))
    gemini_style = {
        "line": 19,
        "severity": "low",
        "category": "bug",
        "message": "Division by zero on empty list",
    }
    model_server.script("gemini", findings({**OFF_BY_ONE, "severity": "high"}, gemini_style), latency=0.2)
    config = make_config(model_server, ["claude", "codex", "gemini"])

    result = await review_selection(ledger_request(), config)

    assert [m.status for m in result.models] == ["ok", "ok", "ok"]
    by_line = {f.start_line: f for f in result.findings}
    assert by_line[8].votes == 3 and by_line[8].panel == 3
    assert by_line[8].severity.value == "error"
    assert sorted(by_line[8].models) == ["claude", "codex", "gemini"]
    assert by_line[8].fixes[0].votes >= 2
    assert (
        by_line[14].votes == 1 and by_line[14].severity.value == "info"
    )  # below min_agreement: kept, downgraded
    assert by_line[19].votes == 1


async def test_partial_results_stream_before_the_slowest_seat(model_server: FakeModelServer) -> None:
    model_server.script("fast", findings(OFF_BY_ONE), latency=0.05)
    model_server.script("slow", findings(OFF_BY_ONE), latency=1.0)
    config = make_config(model_server, ["fast", "slow"])
    started = time.monotonic()
    seen: list[tuple[str, float, object]] = []
    async with stream_review(ledger_request(), config) as events:
        async for event in events:
            seen.append((event.kind, time.monotonic() - started, event))
    kinds = [kind for kind, _t, _e in seen]
    assert kinds.count("seat_started") == 2
    partial = [
        (t, e) for kind, t, e in seen if kind == "result" and isinstance(e, ResultUpdate) and not e.final
    ]
    assert partial, kinds
    first_partial_time, first_partial = partial[0]
    assert first_partial_time < 0.9
    assert isinstance(first_partial, ResultUpdate)
    assert first_partial.result.findings[0].start_line == 8
    last = seen[-1][2]
    assert isinstance(last, ResultUpdate) and last.final
    assert last.result.findings[0].votes == 2


async def test_failing_seats_give_a_partial_result(model_server: FakeModelServer) -> None:
    model_server.script("good", findings(OFF_BY_ONE), latency=0.05)
    model_server.script("broken", status=500)
    model_server.script("babbler", "I think the code is fine, mostly.")
    model_server.script("sleepy", findings(OFF_BY_ONE), latency=5)
    config = make_config(model_server, {"good": {}, "broken": {}, "babbler": {}, "sleepy": {"timeout": 0.5}})
    events: list[object] = []

    async def record(event: object) -> None:
        events.append(event)

    started = time.monotonic()
    result = await review_selection(ledger_request(), config, on_event=record)
    elapsed = time.monotonic() - started

    statuses = {m.name: m.status for m in result.models}
    assert statuses == {"good": "ok", "broken": "error", "babbler": "invalid", "sleepy": "timeout"}
    assert elapsed < 2.5
    assert result.findings[0].votes == 1 and result.findings[0].panel == 1
    assert sum(isinstance(e, SeatStarted) for e in events) == 4
    assert sum(isinstance(e, SeatFinished) for e in events) == 4


async def test_lines_outside_the_selection_are_dropped(model_server: FakeModelServer) -> None:
    model_server.script("a", findings(OFF_BY_ONE, SQL))
    config = make_config(model_server, ["a"])
    result = await review_selection(ledger_request(12, 16), config)
    assert [f.start_line for f in result.findings] == [14]
    prompt = model_server.requests_for("a")[0].prompt
    assert "14 |" in prompt or "14|" in prompt


async def test_arbiter_rewrites_messages(model_server: FakeModelServer) -> None:
    model_server.script("a", findings(OFF_BY_ONE))
    model_server.script("b", findings({**OFF_BY_ONE, "message": "loop goes one past the end"}))

    def arbiter_answer(body: dict[str, object]) -> str:
        prompt = json.dumps(body["messages"])
        assert "[1] line 8, reported by 2/2 models" in prompt, prompt
        return json.dumps({"clusters": [{"id": 1, "message": "ARBITER: off-by-one in total_balance"}]})

    model_server.script("judge", arbiter_answer)
    config = make_config(model_server, ["a", "b", "judge"], panels={"review": ["a", "b"], "arbiter": "judge"})
    result = await review_selection(ledger_request(), config)
    assert result.arbiter is not None and result.arbiter.status == "ok"
    assert len(model_server.requests_for("judge")) == 1
    assert result.findings[0].votes == 2
    assert result.findings[0].message.startswith("ARBITER")


async def test_arbiter_failure_keeps_the_merge(model_server: FakeModelServer) -> None:
    model_server.script("a", findings(OFF_BY_ONE))
    model_server.script("judge", status=503)
    config = make_config(model_server, ["a", "judge"], panels={"review": ["a"], "arbiter": "judge"})
    result = await review_selection(ledger_request(), config)
    assert result.arbiter is not None and result.arbiter.status == "error"
    assert result.findings[0].message == OFF_BY_ONE["message"]


async def test_excluded_files_send_nothing(model_server: FakeModelServer) -> None:
    model_server.script("a", findings())
    config = make_config(model_server, ["a"])
    request = ReviewRequest(document=SourceDocument(path="deploy/.env.production", text="TOKEN=1\n"))
    with pytest.raises(ExcludedFileError):
        await review_selection(request, config)
    assert model_server.requests == []


async def test_secrets_never_reach_a_model(model_server: FakeModelServer) -> None:
    model_server.script("a", findings())
    config = make_config(model_server, ["a"])
    aws = "AKIA" + "IOSFODNN7EXAMPLE"
    text = f'import boto3\nKEY = "{aws}"\npassword = "hunter2-very-secret"\nprint(KEY)\n'
    request = ReviewRequest(document=SourceDocument(path="app/settings.py", text=text))
    await review_selection(request, config)
    sent = model_server.requests_for("a")[0].prompt
    assert aws not in sent and "hunter2-very-secret" not in sent
    assert "print(KEY)" in sent and "4 |" in sent.replace("   4 |", "4 |")


async def test_local_only_files_skip_cloud_seats(model_server: FakeModelServer) -> None:
    model_server.script("a", findings(OFF_BY_ONE))
    config = make_config(model_server, {"a": {}, "cloud": {"api_base": "https://api.example.invalid/v1"}})
    config.policy.local_only = ["**/internal/**"]
    request = ReviewRequest(document=SourceDocument(path="src/internal/ledger.py", text=LEDGER))
    result = await review_selection(request, config)
    assert {m.name: m.status for m in result.models} == {"a": "ok", "cloud": "skipped"}
    assert result.findings[0].panel == 1


async def test_no_models_is_a_clear_error(model_server: FakeModelServer) -> None:
    config = make_config(model_server, [])
    with pytest.raises(NoPanelError, match="no models are configured"):
        await review_selection(ledger_request(), config)


async def test_a_fix_without_indentation_is_indented_like_the_original(model_server: FakeModelServer) -> None:
    bare_fix = {"start_line": 8, "end_line": 8, "replacement": "for i in range(len(amounts)):"}
    unindented = {**OFF_BY_ONE, "fix": bare_fix}
    model_server.script("small", findings(unindented))
    config = make_config(model_server, ["small"])
    result = await review_selection(ledger_request(), config)
    assert result.findings[0].fixes[0].fix.replacement == "    for i in range(len(amounts)):"


async def test_the_arbiter_stops_at_the_request_deadline(model_server: FakeModelServer) -> None:
    """Issue 13 item 9: the seats' time counts against the deadline, so the arbiter gets only the rest."""
    model_server.script("a", findings(OFF_BY_ONE), latency=1.0)
    model_server.script("judge", json.dumps({"clusters": []}), latency=10.0)
    config = make_config(
        model_server,
        {"a": {}, "judge": {"timeout": 30}},
        panels={"review": ["a"], "arbiter": "judge"},
        policy={"deadline": 2.0},
    )
    await ensure_litellm()  # The one-time import is outside the deadline, as in the fan-out.
    started = time.monotonic()
    result = await review_selection(ledger_request(), config)
    elapsed = time.monotonic() - started
    assert elapsed < 2.6, f"the request took {elapsed:.1f} s with a 2 s deadline"
    assert result.arbiter is not None and result.arbiter.status == "timeout"
    assert result.findings[0].message == OFF_BY_ONE["message"]
