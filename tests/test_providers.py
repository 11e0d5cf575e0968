"""complete_chat over real HTTP against the fake model server: answers, failures, keys, cancellation."""

from __future__ import annotations

import subprocess
import sys
import time

import anyio
import pytest

from orchestration.privacy.gate import OPEN_GATE
from orchestration.providers.chat import complete_chat, ensure_litellm, litellm_loaded
from orchestration.types.config import ModelConfig
from orchestration.types.errors import ProviderError
from tests.fake_model_http import error_body
from tests.fake_model_scripts import CLOSE_CONNECTION, HEADERS_KEY, UNREADABLE_BODY
from tests.fake_models import REPO_ROOT_HINT, FakeModelServer, Script, seat_config

MESSAGES = [{"role": "system", "content": "You review code."}, {"role": "user", "content": "def f(): pass"}]


async def test_ensure_litellm_is_idempotent_and_concurrent_callers_share_it() -> None:
    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(ensure_litellm)
    assert litellm_loaded()
    assert "litellm" in sys.modules


async def test_ok_answer_sends_the_seat_settings(model_server: FakeModelServer) -> None:
    model_server.script("claude", text='{"findings": []}')
    seat = seat_config(model_server, "claude", temperature=0.1, max_tokens=321)
    answer = await complete_chat("claude", seat, MESSAGES, gate=OPEN_GATE)
    assert answer == '{"findings": []}'
    (request,) = model_server.requests_for("claude")
    assert request.messages == MESSAGES
    assert request.body["temperature"] == 0.1
    assert request.body["max_tokens"] == 321
    assert request.headers["authorization"] == "Bearer chorus-no-key"


async def test_api_key_comes_from_the_named_environment_variable(
    model_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHORUS_TEST_KEY", "test-key-value-123")
    model_server.script("claude", text="ok")
    seat = seat_config(model_server, "claude", api_key_env="CHORUS_TEST_KEY")
    assert await complete_chat("claude", seat, MESSAGES, gate=OPEN_GATE) == "ok"
    assert model_server.requests[0].headers["authorization"] == "Bearer test-key-value-123"


async def test_http_500_becomes_an_error(model_server: FakeModelServer) -> None:
    model_server.script("claude", status=500)
    with pytest.raises(ProviderError) as raised:
        await complete_chat("claude", seat_config(model_server, "claude"), MESSAGES, gate=OPEN_GATE)
    assert raised.value.kind == "error"
    assert str(raised.value).startswith("HTTP 500 from claude")


async def test_rate_limit_becomes_a_rate_limited_error(model_server: FakeModelServer) -> None:
    model_server.script("codex", status=429)
    with pytest.raises(ProviderError) as raised:
        await complete_chat("codex", seat_config(model_server, "codex"), MESSAGES, gate=OPEN_GATE)
    assert raised.value.kind == "error"
    assert "rate limited" in str(raised.value)
    assert len(model_server.requests_for("codex")) == 1  # retries=0 means one call


async def test_retries_are_honoured(model_server: FakeModelServer) -> None:
    model_server.script("flaky", [Script(status=500), Script(text="second time lucky")])
    answer = await complete_chat(
        "flaky", seat_config(model_server, "flaky", retries=1), MESSAGES, gate=OPEN_GATE
    )
    assert answer == "second time lucky"
    assert len(model_server.requests_for("flaky")) == 2


async def test_timeout_is_reported_as_timeout_after_the_seat_timeout(model_server: FakeModelServer) -> None:
    model_server.script("slow", text="too late", latency=5.0)
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        await complete_chat("slow", seat_config(model_server, "slow", timeout=0.5), MESSAGES, gate=OPEN_GATE)
    elapsed = time.monotonic() - started
    assert raised.value.kind == "timeout"
    assert "timed out after 0.5 s" in str(raised.value)
    assert 0.45 <= elapsed < 1.5
    assert (await model_server.wait_for_disconnect("slow", timeout=2.0)).answer is None


async def test_missing_key_variable_fails_before_any_request(
    model_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHORUS_MISSING_KEY", raising=False)
    model_server.script("claude", text="ok")
    seat = seat_config(model_server, "claude", api_key_env="CHORUS_MISSING_KEY")
    with pytest.raises(ProviderError, match=r"^CHORUS_MISSING_KEY is not set"):
        await complete_chat("claude", seat, MESSAGES, gate=OPEN_GATE)
    assert model_server.requests == []


async def test_provider_default_key_is_checked_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    seat = ModelConfig(model="anthropic/claude-sonnet-4-5", timeout=2)
    with pytest.raises(ProviderError, match="ANTHROPIC_API_KEY is not set"):
        await complete_chat("claude", seat, MESSAGES, gate=OPEN_GATE)


async def test_secrets_in_error_messages_are_scrubbed(
    model_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaked = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    monkeypatch.setenv("CHORUS_LEAKY_KEY", "plain-secret-value-42")
    body = {"error": {"message": f"Incorrect API key provided: {leaked} (also plain-secret-value-42)"}}
    model_server.script("claude", status=400, error_body=body)
    seat = seat_config(model_server, "claude", api_key_env="CHORUS_LEAKY_KEY")
    with pytest.raises(ProviderError) as raised:
        await complete_chat("claude", seat, MESSAGES, gate=OPEN_GATE)
    message = str(raised.value)
    assert message.startswith("HTTP 400 from claude")
    assert leaked not in message and "plain-secret-value-42" not in message
    assert "<redacted:" in message


async def test_unreachable_server_is_a_short_connection_error() -> None:
    seat = ModelConfig(model="openai/claude", api_base="http://127.0.0.1:1/v1", timeout=5)
    with pytest.raises(ProviderError) as raised:
        await complete_chat("claude", seat, MESSAGES, gate=OPEN_GATE)
    assert raised.value.kind == "error"
    assert str(raised.value) == "claude: cannot connect to http://127.0.0.1:1/v1"


async def test_json_schema_is_not_forced_on_servers_that_do_not_declare_support(
    model_server: FakeModelServer,
) -> None:
    model_server.script("claude", text="{}")
    schema = {"type": "object", "properties": {"findings": {"type": "array"}}}
    await complete_chat(
        "claude", seat_config(model_server, "claude"), MESSAGES, json_schema=schema, gate=OPEN_GATE
    )
    assert "response_format" not in model_server.requests[0].body


async def test_cancelling_the_caller_closes_the_http_connection(model_server: FakeModelServer) -> None:
    model_server.script("slow", text="never read", latency=10.0)
    with anyio.move_on_after(0.3) as scope:
        await complete_chat("slow", seat_config(model_server, "slow", timeout=30), MESSAGES, gate=OPEN_GATE)
    assert scope.cancelled_caught
    cancelled_at = time.monotonic()
    record = await model_server.wait_for_disconnect("slow", timeout=2.0)
    assert record.finished_at is not None and record.finished_at - cancelled_at < 0.5
    assert record.answer is None


def test_nothing_reaches_stdout_when_calls_fail() -> None:
    script = """
import anyio
from orchestration.types.config import ModelConfig
from orchestration.types.errors import ProviderError
from orchestration.privacy.gate import OPEN_GATE
from orchestration.providers.chat import complete_chat, close_clients

async def main():
    for base in ("http://127.0.0.1:1/v1", None):
        seat = ModelConfig(model="openai/gpt-4o-mini", api_base=base, timeout=3)
        try:
            await complete_chat("gpt", seat, [{"role": "user", "content": "hi"}], gate=OPEN_GATE)
        except ProviderError as error:
            import sys
            print("caught:", error, file=sys.stderr)
    await close_clients()

anyio.run(main)
"""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT_HINT), "LITELLM_LOG": "DEBUG"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO_ROOT_HINT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == ""
    assert "caught: gpt: cannot connect to http://127.0.0.1:1/v1" in result.stderr
    assert "caught: OPENAI_API_KEY is not set" in result.stderr


# -- honest failure labels (issue 13, item 11) ----------------------------------------------------


def rate_limited(retry_after: str) -> Script:
    """A 429 whose Retry-After header asks the client to wait `retry_after` seconds."""
    return Script(status=429, error_body={HEADERS_KEY: {"Retry-After": retry_after}, **error_body(429)})


async def test_a_retry_after_beyond_the_timeout_is_reported_as_rate_limited(
    model_server: FakeModelServer,
) -> None:
    model_server.script("busy", [rate_limited("30"), Script(text="too late")])
    seat = seat_config(model_server, "busy", retries=2, timeout=3)
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        await complete_chat("busy", seat, MESSAGES, gate=OPEN_GATE)
    assert time.monotonic() - started < 1.5  # It does not sit out the timeout waiting for nothing.
    assert raised.value.kind == "error"
    message = str(raised.value)
    assert message.startswith("busy is rate limited (HTTP 429)")
    assert "30 s" in message and "timed out" not in message
    assert len(model_server.requests_for("busy")) == 1


async def test_a_retry_after_within_the_timeout_is_waited_for(model_server: FakeModelServer) -> None:
    model_server.script("busy", [rate_limited("1"), Script(text="answer after the wait")])
    seat = seat_config(model_server, "busy", retries=1, timeout=5)
    started = time.monotonic()
    assert await complete_chat("busy", seat, MESSAGES, gate=OPEN_GATE) == "answer after the wait"
    first, second = model_server.requests_for("busy")
    assert 0.9 <= second.received_at - first.received_at < 2.5
    assert time.monotonic() - started < 3


async def test_a_200_with_a_broken_body_is_not_called_http_500(model_server: FakeModelServer) -> None:
    model_server.script("garbled", UNREADABLE_BODY)
    with pytest.raises(ProviderError) as raised:
        await complete_chat("garbled", seat_config(model_server, "garbled"), MESSAGES, gate=OPEN_GATE)
    message = str(raised.value)
    assert message.startswith("garbled returned an unreadable response")
    assert "500" not in message
    assert model_server.requests_for("garbled")[0].status == 200


async def test_a_connection_closed_without_an_answer_is_not_called_http_500(
    model_server: FakeModelServer,
) -> None:
    model_server.script("dropper", CLOSE_CONNECTION)
    seat = seat_config(model_server, "dropper")
    with pytest.raises(ProviderError) as raised:
        await complete_chat("dropper", seat, MESSAGES, gate=OPEN_GATE)
    assert str(raised.value) == f"dropper: {model_server.base_url} closed the connection before answering"


def test_the_local_server_key_is_random_per_process_and_never_printed() -> None:
    from orchestration.privacy.secrets import scrub_secrets

    local_runtime = pytest.importorskip("orchestration.providers.local_runtime")
    key = local_runtime.local_api_key()
    assert len(key) >= 32
    assert key not in scrub_secrets(f"local server answered 401 for key {key}")
    script = "from orchestration.providers.local_runtime import local_api_key; print(local_api_key())"
    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT_HINT
    )
    assert other.returncode == 0, other.stderr[-2000:]
    assert other.stdout.strip() not in ("", key)
