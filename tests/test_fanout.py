"""fan_out over real HTTP: finishing order, partial results, deadline, quorum, cancellation, limits."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import anyio
import pytest

from orchestration.panel.fanout import Seat, SeatAnswer, fan_out
from orchestration.privacy.gate import OPEN_GATE, register_secret
from orchestration.providers.chat import ensure_litellm
from orchestration.types.config import PolicyConfig
from orchestration.types.errors import UnusableAnswer
from orchestration.types.results import SeatStarted
from tests.fake_models import FakeModelServer, seat_config

PROMPT = [{"role": "user", "content": "review: def f(): pass"}]


def parse_json(raw: str, seat: Seat) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise UnusableAnswer(f"{seat.name} did not answer JSON") from None
    if not isinstance(value, dict):
        raise UnusableAnswer(f"{seat.name} answered {type(value).__name__}, not an object")
    return value


def seats(server: FakeModelServer, **timeouts: float) -> list[Seat]:
    return [
        Seat(name, seat_config(server, name, timeout=timeout), PROMPT, OPEN_GATE)
        for name, timeout in timeouts.items()
    ]


async def collect(
    panel: list[Seat], policy: PolicyConfig
) -> tuple[list[SeatStarted], list[SeatAnswer[dict[str, Any]]], float]:
    started: list[SeatStarted] = []
    answers: list[SeatAnswer[dict[str, Any]]] = []
    await ensure_litellm()  # The one-time import is not what these tests time.
    begin = time.monotonic()
    async with fan_out(panel, parse_json, policy) as events:
        async for event in events:
            if isinstance(event, SeatStarted):
                started.append(event)
            else:
                answers.append(event)
    return started, answers, time.monotonic() - begin


async def test_answers_arrive_in_finishing_order_with_latencies(model_server: FakeModelServer) -> None:
    for name, latency in (("slow", 0.45), ("fast", 0.05), ("medium", 0.25)):
        model_server.script(name, text=json.dumps({"seat": name}), latency=latency)
    started, answers, elapsed = await collect(
        seats(model_server, slow=5, fast=5, medium=5), PolicyConfig(deadline=10)
    )
    assert sorted(event.name for event in started) == ["fast", "medium", "slow"]
    assert [answer.status.name for answer in answers] == ["fast", "medium", "slow"]
    assert all(answer.status.status == "ok" for answer in answers)
    assert [answer.value for answer in answers] == [{"seat": "fast"}, {"seat": "medium"}, {"seat": "slow"}]
    assert answers[0].status.model == "openai/fast"
    fast_ms, slow_ms = answers[0].status.latency_ms, answers[2].status.latency_ms
    assert fast_ms is not None and 50 <= fast_ms < 300
    assert slow_ms is not None and 450 <= slow_ms < 800
    assert elapsed < 0.8  # Parallel: the sum would be 0.75 s plus overhead per call.


async def test_failures_give_a_partial_result_in_about_the_timeout(model_server: FakeModelServer) -> None:
    model_server.script("good", text='{"findings": []}', latency=0.1)
    model_server.script("broken", status=500, latency=0.1)
    model_server.script("stuck", text="{}", latency=10)
    model_server.script("chatty", text="Sure! Here is my review: looks fine.", latency=0.1)
    _, answers, elapsed = await collect(
        seats(model_server, good=5, broken=5, stuck=0.6, chatty=5), PolicyConfig(deadline=10)
    )
    by_name = {answer.status.name: answer for answer in answers}
    assert by_name["good"].status.status == "ok" and by_name["good"].value == {"findings": []}
    assert by_name["broken"].status.status == "error"
    assert (by_name["broken"].status.error or "").startswith("HTTP 500 from broken")
    assert by_name["stuck"].status.status == "timeout"
    assert by_name["chatty"].status.status == "invalid"
    assert by_name["chatty"].status.error == "chatty did not answer JSON"
    assert by_name["chatty"].raw == "Sure! Here is my review: looks fine." and by_name["chatty"].value is None
    assert answers[-1].status.name == "stuck"
    assert 0.6 <= elapsed < 1.2  # About the stuck seat's timeout, not the sum of latencies.


async def test_deadline_times_out_unfinished_seats_and_closes_their_connections(
    model_server: FakeModelServer,
) -> None:
    model_server.script("quick", text="{}", latency=0.05)
    model_server.script("slow", text="{}", latency=10)
    _, answers, elapsed = await collect(seats(model_server, quick=30, slow=30), PolicyConfig(deadline=0.5))
    assert [(answer.status.name, answer.status.status) for answer in answers] == [
        ("quick", "ok"),
        ("slow", "timeout"),
    ]
    assert answers[1].status.error == "deadline of 0.5 s reached"
    assert answers[1].status.latency_ms is not None and answers[1].status.latency_ms >= 450
    assert 0.5 <= elapsed < 0.9
    await model_server.wait_for_disconnect("slow", timeout=2.0)


async def test_quorum_cuts_off_a_straggler_after_the_grace(model_server: FakeModelServer) -> None:
    model_server.script("a", text="{}", latency=0.05)
    model_server.script("b", text="{}", latency=0.1)
    model_server.script("straggler", text="{}", latency=10)
    _, answers, elapsed = await collect(
        seats(model_server, a=30, b=30, straggler=30), PolicyConfig(deadline=30, quorum=2, grace=0.2)
    )
    last = answers[-1]
    assert last.status.name == "straggler"
    assert last.status.status == "cancelled"
    assert last.status.error == "cut off: quorum of 2 reached"
    assert 0.3 <= elapsed < 0.7  # b at 0.1 s, then 0.2 s of grace.
    record = await model_server.wait_for_disconnect("straggler", timeout=2.0)
    assert record.answer is None


async def test_a_straggler_within_the_grace_still_counts(model_server: FakeModelServer) -> None:
    model_server.script("a", text="{}", latency=0.05)
    model_server.script("b", text="{}", latency=0.05)
    model_server.script("c", text="{}", latency=0.25)
    _, answers, elapsed = await collect(
        seats(model_server, a=30, b=30, c=30), PolicyConfig(quorum=2, grace=1.0)
    )
    assert [answer.status.status for answer in answers] == ["ok", "ok", "ok"]
    assert elapsed < 0.7  # Done when the last seat answers, not when the grace runs out.


async def test_consumer_cancellation_closes_every_connection(model_server: FakeModelServer) -> None:
    names = ("x", "y", "z")
    for name in names:
        model_server.script(name, text="{}", latency=10)
    received: list[object] = []
    with anyio.move_on_after(0.4) as scope:
        async with fan_out(seats(model_server, x=30, y=30, z=30), parse_json, PolicyConfig()) as events:
            async for event in events:
                received.append(event)
    assert scope.cancelled_caught
    assert all(isinstance(event, SeatStarted) for event in received)
    for name in names:
        await model_server.wait_for_disconnect(name, timeout=2.0)


async def test_leaving_the_block_early_cancels_the_rest(model_server: FakeModelServer) -> None:
    model_server.script("first", text='{"n": 1}', latency=0.05)
    model_server.script("later", text='{"n": 2}', latency=10)
    begin = time.monotonic()
    async with fan_out(seats(model_server, first=30, later=30), parse_json, PolicyConfig()) as events:
        async for event in events:
            if isinstance(event, SeatAnswer):
                assert event.value == {"n": 1}
                break
    assert time.monotonic() - begin < 1.0
    await model_server.wait_for_disconnect("later", timeout=2.0)


async def test_max_parallel_calls_bounds_calls_in_flight(model_server: FakeModelServer) -> None:
    model_server.script("*", text="{}", latency=0.15)
    _, answers, elapsed = await collect(
        seats(model_server, p=5, q=5, r=5), PolicyConfig(max_parallel_calls=1)
    )
    assert [answer.status.status for answer in answers] == ["ok", "ok", "ok"]
    assert elapsed >= 0.45
    spans = sorted((record.received_at, record.finished_at or 0.0) for record in model_server.requests)
    assert all(spans[index][1] <= spans[index + 1][0] for index in range(len(spans) - 1))


async def test_ten_seats_take_about_as_long_as_one(model_server: FakeModelServer) -> None:
    """A smoke check that survives a loaded CI machine; benchmarks/ measures the overhead precisely."""
    model_server.script("*", text="{}", latency=0.2)
    panel = seats(model_server, **{f"seat{index}": 5 for index in range(10)})
    await collect(panel[:1], PolicyConfig())  # Warm the HTTP clients.
    _, answers, elapsed = await collect(panel, PolicyConfig())
    assert [answer.status.status for answer in answers] == ["ok"] * 10
    assert elapsed < 0.2 + 0.5  # In sequence: 2 s.


async def test_an_unexpected_parser_exception_is_logged_with_its_traceback(
    model_server: FakeModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    model_server.script("a", '{"findings": []}')

    def broken_parser(raw: str, seat: Seat) -> dict[str, Any]:
        return {"depth": json.loads(raw)["no such key"]}

    with caplog.at_level(logging.ERROR):
        async with fan_out(seats(model_server, a=5), broken_parser, PolicyConfig()) as events:
            answers = [event async for event in events if isinstance(event, SeatAnswer)]
    [answer] = answers
    assert answer.status.status == "invalid"
    assert answer.status.error is not None and "\n" not in answer.status.error  # A one-line status...
    [record] = [r for r in caplog.records if "seat a" in r.getMessage()]
    logged = record.getMessage()
    assert "Traceback (most recent call last)" in logged and "broken_parser" in logged  # ...and a trace.
    assert "KeyError: 'no such key'" in logged


async def test_a_large_answer_is_parsed_off_the_event_loop(model_server: FakeModelServer) -> None:
    model_server.script("a", json.dumps({"padding": "x" * 50_000}))
    loop_thread = threading.get_ident()
    parsed_on: list[int] = []

    def parse(raw: str, seat: Seat) -> dict[str, Any]:
        parsed_on.append(threading.get_ident())
        return parse_json(raw, seat)

    async with fan_out(seats(model_server, a=5), parse, PolicyConfig()) as events:
        [answer] = [event async for event in events if isinstance(event, SeatAnswer)]
    assert answer.status.status == "ok"
    assert parsed_on and parsed_on[0] != loop_thread


async def test_statuses_never_carry_a_registered_secret(model_server: FakeModelServer) -> None:
    register_secret("fanout-held-secret-value")

    def leaky_parser(raw: str, seat: Seat) -> dict[str, Any]:
        raise UnusableAnswer("the answer quoted fanout-held-secret-value back")

    model_server.script("a", "{}")
    async with fan_out(seats(model_server, a=5), leaky_parser, PolicyConfig()) as events:
        [answer] = [event async for event in events if isinstance(event, SeatAnswer)]
    assert answer.status.error == "the answer quoted <redacted:api-key> back"
