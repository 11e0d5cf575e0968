"""The circuit breaker, through real reviews of a fake model that flaps between HTTP 500 and OK.

The seat "flaky" answers 500, OK, 500, OK, … With the default `[failover]` (window 10, min_calls 4,
error_rate 0.5, cooldown 30 s) its fourth call makes its window 2 failures of 4: the fifth review
finds it benched, skips it and asks its fallback "spare" instead, and the fake server receives
nothing more for flaky. The breaker's clock is a fake one the tests move on, so the cooldown takes
no time; everything else (the reviews, the HTTP calls, the failures) is real.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from orchestration.learning.settings import LearningConfig
from orchestration.panel import breaker
from orchestration.panel.selection import Candidate, Selection, SelectionContext, select_seats
from orchestration.pipelines.review import review_selection
from orchestration.privacy.gate import OPEN_GATE
from orchestration.providers.chat import complete_chat
from orchestration.providers.endpoints import CIRCUITS, seat_key
from orchestration.types.config import ChorusConfig, FailoverConfig
from orchestration.types.errors import ProviderError
from orchestration.types.requests import ReviewRequest, SourceDocument
from orchestration.types.results import ModelStatus, ReviewResult
from tests.conftest import FakeClock
from tests.fake_models import FakeModelServer, Script, make_config

CODE = (
    "def total(items):\n"
    "    result = 0\n"
    "    for i in range(len(items) + 1):\n"
    "        result += items[i]\n"
    "    return result\n"
)
FINDING = {
    "start_line": 3,
    "end_line": 3,
    "severity": "error",
    "category": "bug",
    "message": "Off-by-one: range(len(items) + 1) reads past the end.",
}
ANSWER = json.dumps({"findings": [FINDING]})
FLAPPING = [Script(status=500), Script(ANSWER)]
MESSAGES = [{"role": "user", "content": "ping"}]
LAST_500 = " (last: HTTP 500 from flaky: The server had an error while processing your request.)"


def request() -> ReviewRequest:
    return ReviewRequest(document=SourceDocument(path="src/total.py", text=CODE))


def flaky_config(server: FakeModelServer, **updates: Any) -> ChorusConfig:
    """flaky (falling back to spare) and steady on the review panel; spare waits on the bench."""
    config = make_config(
        server,
        {"flaky": {"fallbacks": ["spare"]}, "steady": {}, "spare": {}},
        panels={"review": ["flaky", "steady"]},
    )
    return config.model_copy(update=updates)


def statuses(result: ReviewResult) -> dict[str, ModelStatus]:
    return {status.name: status for status in result.models}


async def bench_flaky(server: FakeModelServer, config: ChorusConfig) -> None:
    """Four reviews: flaky fails, answers, fails, answers (2 of 4 failed: the threshold)."""
    for expected in ("error", "ok", "error", "ok"):
        result = await review_selection(request(), config)
        assert statuses(result)["flaky"].status == expected
        assert result.notice is None
    assert len(server.requests_for("flaky")) == 4


async def test_a_flapping_seat_is_benched_and_its_fallback_asked(
    model_server: FakeModelServer, clock: FakeClock
) -> None:
    model_server.script("flaky", FLAPPING, cycle=True)
    model_server.script("steady", ANSWER)
    model_server.script("spare", ANSWER)
    config = flaky_config(model_server)
    await bench_flaky(model_server, config)
    assert not model_server.requests_for("spare")

    result = await review_selection(request(), config)

    seats = statuses(result)
    assert seats["flaky"].status == "skipped"
    assert seats["flaky"].error == "benched: 2 of its last 4 calls failed; retried in 30 s" + LAST_500
    assert seats["spare"].status == "ok" and seats["steady"].status == "ok"
    assert result.notice == (
        "flaky is benched (2 of its last 4 calls failed; retried in 30 s): spare is asked instead."
    )
    assert len(model_server.requests_for("flaky")) == 4, "nothing was sent to the benched seat"
    assert len(model_server.requests_for("spare")) == 1
    assert result.findings[0].votes == 2 and sorted(result.findings[0].models) == ["spare", "steady"]

    clock.advance(29.2)
    later = await review_selection(request(), config)
    assert (
        statuses(later)["flaky"].error == "benched: 2 of its last 4 calls failed; retried in 1 s" + LAST_500
    )
    assert len(model_server.requests_for("flaky")) == 4


async def test_after_the_cooldown_one_probe_goes_and_a_good_one_closes_the_breaker(
    model_server: FakeModelServer, clock: FakeClock
) -> None:
    model_server.script("flaky", FLAPPING, cycle=True)
    model_server.script("steady", ANSWER)
    model_server.script("spare", ANSWER)
    config = flaky_config(model_server)
    await bench_flaky(model_server, config)
    clock.advance(30)
    model_server.script("flaky", ANSWER, latency=1.0)  # The probe is still in flight when the other asks.

    results: list[ReviewResult] = []

    async def review() -> None:
        results.append(await review_selection(request(), config))

    async with anyio.create_task_group() as group:
        group.start_soon(review)
        group.start_soon(review)

    assert len(model_server.requests_for("flaky")) == 5, "exactly one probe went through"
    probed, refused = sorted(results, key=lambda result: statuses(result)["flaky"].status)
    assert statuses(probed)["flaky"].status == "ok" and probed.notice is None
    assert statuses(refused)["flaky"].status == "skipped"
    assert (
        statuses(refused)["flaky"].error
        == "benched: 2 of its last 4 calls failed; a probe call is under way" + LAST_500
    )
    assert statuses(refused)["spare"].status == "ok"
    assert refused.notice is not None and "spare is asked instead" in refused.notice

    after = await review_selection(request(), config)  # Closed: asked again, with a fresh window.
    assert statuses(after)["flaky"].status == "ok" and "spare" not in statuses(after)
    assert after.notice is None
    assert CIRCUITS.view(seat_key(config.models["flaky"])).calls == 2


async def test_a_bad_probe_benches_the_seat_for_another_cooldown(
    model_server: FakeModelServer, clock: FakeClock
) -> None:
    model_server.script("flaky", FLAPPING, cycle=True)
    model_server.script("steady", ANSWER)
    model_server.script("spare", ANSWER)
    config = flaky_config(model_server)
    await bench_flaky(model_server, config)
    clock.advance(31)
    model_server.script("flaky", status=503)

    probe = await review_selection(request(), config)
    assert statuses(probe)["flaky"].status == "error" and "spare" not in statuses(probe)
    assert len(model_server.requests_for("flaky")) == 5

    clock.advance(20)  # The new cooldown runs from the failed probe, not from the first bench.
    benched = await review_selection(request(), config)
    assert statuses(benched)["flaky"].error == (
        "benched: 3 of its last 5 calls failed; retried in 10 s"
        " (last: HTTP 503 from flaky: The engine is currently overloaded.)"
    )
    assert len(model_server.requests_for("flaky")) == 5

    clock.advance(10)
    model_server.script("flaky", ANSWER)
    back = await review_selection(request(), config)
    assert statuses(back)["flaky"].status == "ok" and back.notice is None
    assert len(model_server.requests_for("flaky")) == 6


@pytest.mark.parametrize(
    "updates",
    [{"failover": FailoverConfig(enabled=False)}, {"learning": LearningConfig(enabled=False)}],
    ids=["failover-off", "learning-off"],
)
async def test_with_the_breaker_off_a_failing_seat_is_always_asked(
    model_server: FakeModelServer, clock: FakeClock, updates: dict[str, Any]
) -> None:
    model_server.script("flaky", status=500)
    model_server.script("steady", ANSWER)
    config = flaky_config(model_server, **updates)
    for _ in range(7):
        result = await review_selection(request(), config)
        assert statuses(result)["flaky"].status == "error"
        assert "spare" not in statuses(result) and result.notice is None
    assert len(model_server.requests_for("flaky")) == 7


async def test_a_panel_without_trouble_is_unchanged(model_server: FakeModelServer, clock: FakeClock) -> None:
    for name in ("a", "b", "c"):
        model_server.script(name, ANSWER)
    config = make_config(
        model_server, {"a": {"fallbacks": ["c"]}, "b": {}, "c": {}}, panels={"review": ["a", "b"]}
    )
    for _ in range(6):
        result = await review_selection(request(), config)
        assert [(status.name, status.status) for status in result.models] == [("a", "ok"), ("b", "ok")]
        assert result.notice is None
    selection = await select_seats(SelectionContext(config, "review", OPEN_GATE))
    assert [candidate.name for candidate in selection.asked] == ["a", "b"]
    assert selection.skipped == [] and selection.notices == []


async def test_answers_that_cannot_be_parsed_are_not_failures(
    model_server: FakeModelServer, clock: FakeClock
) -> None:
    model_server.script("flaky", "I looked at it and it seems fine to me.")
    model_server.script("steady", ANSWER)
    config = flaky_config(model_server)
    for _ in range(6):
        result = await review_selection(request(), config)
        assert statuses(result)["flaky"].status == "invalid" and result.notice is None
    assert len(model_server.requests_for("flaky")) == 6


async def test_a_benched_fallback_is_passed_over_and_without_one_the_notice_says_so(
    model_server: FakeModelServer, clock: FakeClock
) -> None:
    model_server.script("flaky", status=500)
    model_server.script("down", status=500)
    model_server.script("spare", ANSWER)
    seats = {"flaky": {"fallbacks": ["down", "spare"]}, "down": {"fallbacks": []}, "spare": {}}
    config = make_config(model_server, seats, panels={"review": ["flaky", "down"]})
    for _ in range(4):
        await review_selection(request(), config)

    result = await review_selection(request(), config)
    seats_now = statuses(result)
    assert seats_now["flaky"].status == "skipped" and seats_now["down"].status == "skipped"
    assert seats_now["spare"].status == "ok"
    assert result.notice == (
        "flaky is benched (4 of its last 4 calls failed; retried in 30 s): spare is asked instead. "
        "down is benched (4 of its last 4 calls failed; retried in 30 s) and has no fallback to ask instead."
    )
    assert len(model_server.requests_for("flaky")) == len(model_server.requests_for("down")) == 4


async def test_an_automatic_panel_picks_from_the_seats_left(
    model_server: FakeModelServer, clock: FakeClock
) -> None:
    model_server.script("flaky", status=500)
    model_server.script("b", ANSWER)
    model_server.script("c", ANSWER)
    config = make_config(
        model_server,
        ["flaky", "b", "c"],
        panels={"review": "auto", "auto": {"size": 2, "from": ["flaky", "b", "c"]}},
    )
    for _ in range(4):  # Its failures, whoever makes them, count: here direct calls.
        with pytest.raises(ProviderError):
            await complete_chat("flaky", config.models["flaky"], MESSAGES, gate=OPEN_GATE)

    result = await review_selection(request(), config)
    seats = statuses(result)
    assert seats["flaky"].status == "skipped" and seats["flaky"].error.startswith("benched: ")
    assert seats["b"].status == "ok" and seats["c"].status == "ok"
    assert result.notice is not None and "the automatic panel picks from the other seats" in result.notice
    assert len(model_server.requests_for("flaky")) == 4


async def test_a_probe_left_unused_by_a_later_step_is_handed_back(
    model_server: FakeModelServer, clock: FakeClock
) -> None:
    model_server.script("flaky", FLAPPING, cycle=True)
    model_server.script("steady", ANSWER)
    model_server.script("spare", ANSWER)
    config = flaky_config(model_server)
    await bench_flaky(model_server, config)
    clock.advance(30)
    key = seat_key(config.models["flaky"])
    context = SelectionContext(config, "review", OPEN_GATE)

    selection = Selection(asked=[Candidate(name, config.models[name]) for name in ("flaky", "steady")])
    await breaker.admit(context, selection)
    assert [candidate.name for candidate in selection.asked] == ["flaky", "steady"]
    assert CIRCUITS.probe_granted_at(key) == clock.now
    selection.asked = selection.asked[1:]  # A later step (the gate, the budget) left flaky out.
    await breaker.settle(context, selection)
    assert CIRCUITS.probe_granted_at(key) is None

    again = Selection(asked=[Candidate("flaky", config.models["flaky"])])
    await breaker.admit(context, again)
    assert [candidate.name for candidate in again.asked] == ["flaky"], "the next request may probe"
    assert again.reasons["flaky"].startswith("probe")
