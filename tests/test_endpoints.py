"""Several endpoints for one model (`api_base = [...]`), over real HTTP to two fake model servers.

Calls are split by least calls in flight (ties: the least recently used), an endpoint that refuses
connections is passed over for the other within the same call and, once its circuit opens, not tried
at all until its cooldown is over; a cancelled call frees its slot. Also: `reasoning_effort` reaches
the server in the request body.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import anyio
import pytest

from orchestration.privacy.gate import OPEN_GATE
from orchestration.providers.base import CallUsage
from orchestration.providers.chat import complete_chat
from orchestration.providers.endpoints import CIRCUITS, endpoint_key, seat_key
from orchestration.types.config import FailoverConfig, ModelConfig
from orchestration.types.errors import ProviderError
from tests.conftest import FakeClock
from tests.fake_models import FakeModelServer

MESSAGES = [{"role": "user", "content": "review: def f(): pass"}]


@pytest.fixture
def second_server() -> Iterator[FakeModelServer]:
    """Another fake server: the same model's second endpoint."""
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def refused_url() -> str:
    """An endpoint nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def balanced_seat(*urls: str, **fields: object) -> ModelConfig:
    return ModelConfig.model_validate({"model": "openai/m", "api_base": list(urls), "timeout": 10, **fields})


async def ask(seat: ModelConfig) -> CallUsage:
    usage = CallUsage()
    await complete_chat("m", seat, MESSAGES, gate=OPEN_GATE, usage=usage)
    return usage


async def test_concurrent_calls_are_split_between_the_endpoints(
    model_server: FakeModelServer, second_server: FakeModelServer, clock: FakeClock
) -> None:
    for server in (model_server, second_server):
        server.script("m", "OK", latency=0.4)
    seat = balanced_seat(model_server.base_url, second_server.base_url)
    usages: list[CallUsage] = []

    async def one() -> None:
        usages.append(await ask(seat))

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(one)

    assert len(model_server.requests_for("m")) == 3 and len(second_server.requests_for("m")) == 3
    endpoints = sorted(usage.endpoint or "" for usage in usages)
    assert endpoints == sorted([model_server.base_url] * 3 + [second_server.base_url] * 3)
    for url in seat.endpoints:
        assert CIRCUITS.view(endpoint_key("openai/m", url)).in_flight == 0


async def test_a_busy_endpoint_is_passed_over_while_it_has_a_call_in_flight(
    model_server: FakeModelServer, second_server: FakeModelServer, clock: FakeClock
) -> None:
    model_server.script("m", "slow", latency=5)
    second_server.script("m", "fast")
    seat = balanced_seat(model_server.base_url, second_server.base_url)
    async with anyio.create_task_group() as group:
        group.start_soon(ask, seat)  # Ties go to the first endpoint: the slow one.
        await model_server.wait_for_requests(1, "m")
        for _ in range(4):  # Round robin would send two of these to the slow endpoint.
            assert (await ask(seat)).endpoint == second_server.base_url
        assert CIRCUITS.view(endpoint_key("openai/m", model_server.base_url)).in_flight == 1
        group.cancel_scope.cancel()
    assert len(model_server.requests_for("m")) == 1 and len(second_server.requests_for("m")) == 4


async def test_an_endpoint_that_refuses_connections_is_skipped_for_the_other(
    second_server: FakeModelServer, refused_url: str, clock: FakeClock
) -> None:
    second_server.script("m", "OK")
    seat = balanced_seat(refused_url, second_server.base_url)
    down = endpoint_key("openai/m", refused_url)
    for _ in range(7):
        assert (await ask(seat)).endpoint == second_server.base_url
    assert len(second_server.requests_for("m")) == 7
    view = CIRCUITS.view(down)
    assert (view.state, view.failed, view.calls) == ("open", 4, 4), "tried until its circuit opened"
    assert CIRCUITS.view(seat_key(seat)).failed == 0, "the seat itself never failed"

    clock.advance(30)  # Cooled down: one call probes it again, fails over, and it opens again.
    assert (await ask(seat)).endpoint == second_server.base_url
    assert (CIRCUITS.view(down).state, CIRCUITS.view(down).calls) == ("open", 5)
    assert (await ask(seat)).endpoint == second_server.base_url  # Open for another cooldown: skipped.
    assert (CIRCUITS.view(down).state, CIRCUITS.view(down).calls) == ("open", 5)
    assert len(second_server.requests_for("m")) == 9


async def test_a_retry_goes_to_the_other_endpoint(
    model_server: FakeModelServer, second_server: FakeModelServer, clock: FakeClock
) -> None:
    model_server.script("m", status=500)
    second_server.script("m", "OK")
    seat = balanced_seat(model_server.base_url, second_server.base_url, retries=1)
    assert (await ask(seat)).endpoint == second_server.base_url
    assert len(model_server.requests_for("m")) == 1 and len(second_server.requests_for("m")) == 1
    assert CIRCUITS.view(endpoint_key("openai/m", model_server.base_url)).failed == 1
    assert CIRCUITS.view(seat_key(seat)).failed == 0


async def test_with_failover_off_a_refusing_endpoint_is_tried_but_the_call_still_succeeds(
    second_server: FakeModelServer, refused_url: str, clock: FakeClock
) -> None:
    CIRCUITS.configure(FailoverConfig(enabled=False), enabled=False)
    second_server.script("m", "OK")
    seat = balanced_seat(refused_url, second_server.base_url)
    for _ in range(6):
        assert (await ask(seat)).endpoint == second_server.base_url
    assert CIRCUITS.view(endpoint_key("openai/m", refused_url)).calls == 6


async def test_every_endpoint_refusing_is_one_short_error(refused_url: str, clock: FakeClock) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        second = f"http://127.0.0.1:{other.getsockname()[1]}/v1"
    seat = balanced_seat(refused_url, second)
    with pytest.raises(ProviderError, match=r"^m: cannot connect to http://127\.0\.0\.1:\d+/v1$"):
        await ask(seat)
    assert CIRCUITS.view(endpoint_key("openai/m", refused_url)).calls == 1
    assert CIRCUITS.view(endpoint_key("openai/m", second)).calls == 1
    assert CIRCUITS.view(seat_key(seat)).failed == 1


async def test_a_cancelled_call_frees_its_slot_and_is_not_counted(
    model_server: FakeModelServer, second_server: FakeModelServer, clock: FakeClock
) -> None:
    model_server.script("m", "never read", latency=10)
    seat = balanced_seat(model_server.base_url, second_server.base_url)
    slot = endpoint_key("openai/m", model_server.base_url)
    async with anyio.create_task_group() as group:
        group.start_soon(ask, seat)
        await model_server.wait_for_requests(1, "m")
        assert CIRCUITS.view(slot).in_flight == 1
        group.cancel_scope.cancel()
    assert CIRCUITS.view(slot).in_flight == 0
    assert CIRCUITS.view(slot).calls == 0 and CIRCUITS.view(seat_key(seat)).calls == 0
    record = await model_server.wait_for_disconnect("m", timeout=2.0)
    assert record.answer is None


@pytest.mark.parametrize("effort", ["low", "medium", "high"])
async def test_reasoning_effort_reaches_the_server(
    model_server: FakeModelServer, clock: FakeClock, effort: str
) -> None:
    model_server.script("m", "OK")
    await ask(balanced_seat(model_server.base_url, reasoning_effort=effort))
    await ask(balanced_seat(model_server.base_url))
    with_effort, without = model_server.requests_for("m")
    assert with_effort.body["reasoning_effort"] == effort
    assert "reasoning_effort" not in without.body
