"""Failures users feel: models failing, requests Chorus refuses, malformed params."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from tests.fake_models import FakeModelServer
from tests.lsp_client import ChorusLauncher, ChorusTestClient, lsp_range, review_answer, wait_until

SOURCE = "def total(prices):\n    return sum(prices) + 1\n"
REQUEST_FAILED = -32803


def send_raw_request(client: ChorusTestClient, method: str, params: Any, msg_id: str) -> asyncio.Future[Any]:
    """Send a request exactly as given (the typed client would refuse malformed params)."""
    protocol = client.protocol
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    protocol._request_futures[msg_id] = future
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    assert protocol.writer is not None
    protocol.writer.write(f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
    return asyncio.wrap_future(future)


async def test_one_failing_model_is_named_and_the_rest_answer(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", review_answer())
    model_server.script("codex", "Looks fine to me!")
    model_server.script("gemini", review_answer(), latency=5)
    async with chorus({"claude": {}, "codex": {}, "gemini": {"timeout": 0.5}}) as client:
        uri = client.open_document("prices.py", SOURCE)
        answer = await client.review_selection(uri, 0, 2)
        statuses = {m["name"]: m["status"] for m in answer["models"]}
        assert statuses == {"claude": "ok", "codex": "invalid", "gemini": "timeout"}
        [token] = list(client.progress_reports)
        last_report = [
            r for r in client.progress_reports[token] if isinstance(r, types.WorkDoneProgressReport)
        ][-1]
        assert (
            "codex gave no usable answer" in last_report.message and "gemini timed out" in last_report.message
        )
        assert not [m for m in client.messages if m.type == types.MessageType.Error], "one seat answered"


async def test_all_models_failing_gives_one_message_saying_why(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", status=401)
    async with chorus({"claude": {}, "offline": {"api_base": "http://127.0.0.1:9/v1"}}) as client:
        uri = client.open_document("prices.py", SOURCE)
        answer = await client.review_selection(uri, 0, 2)
        assert answer["diagnostics"] == []
        assert {m["name"]: m["status"] for m in answer["models"]} == {"claude": "error", "offline": "error"}
        [message] = await wait_until(
            lambda: [m for m in client.messages if m.type == types.MessageType.Error]
        )
        assert "no model answered" in message.message
        assert "claude" in message.message and "offline" in message.message
        status = await wait_until(lambda: [s for s in client.statuses if s["state"] == "error"])
        assert "no model answered" in status[-1]["message"]


async def test_refused_requests_and_malformed_params_get_errors_and_the_server_keeps_serving(
    chorus: ChorusLauncher, model_server: FakeModelServer, tmp_path: Path
) -> None:
    async with chorus(["claude"]) as client:
        uri = client.open_document("prices.py", SOURCE)
        secret = client.open_document(".env", "API_KEY=abc\n", language="dotenv")

        with pytest.raises(JsonRpcInvalidParams) as bad_review:
            await client.request("chorus/reviewSelection", {"textDocument": {}, "range": lsp_range(0, 1)})
        assert "uri" in bad_review.value.message
        with pytest.raises(JsonRpcInvalidParams):
            await send_raw_request(client, "textDocument/codeAction", {"textDocument": {"uri": uri}}, "raw-1")
        with pytest.raises(JsonRpcInvalidParams):
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="chorus.implementStub", arguments=[uri])
            )
        with pytest.raises(JsonRpcInvalidParams):
            await client.review_selection((tmp_path / "missing.py").as_uri(), 0, 1)

        with pytest.raises(JsonRpcException) as excluded:
            await client.review_selection(secret, 0, 1)
        assert excluded.value.code == REQUEST_FAILED and ".env" in excluded.value.message
        with pytest.raises(JsonRpcException) as no_stub:
            position = {"line": 0, "character": 0}
            await client.request("chorus/implementStub", {"textDocument": {"uri": uri}, "position": position})
        assert no_stub.value.code == REQUEST_FAILED and "stub" in no_stub.value.message

        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="chorus.implementStub", arguments=[uri, {"line": 0, "character": 0}]
            )
        )
        assert "stub" in result["error"]
        [warning] = await wait_until(
            lambda: [m for m in client.messages if m.type == types.MessageType.Warning]
        )
        assert "stub" in warning.message

        assert (await client.request("chorus/models", {}))["models"][0]["name"] == "claude"
        assert model_server.requests == [], "nothing reached a model"
