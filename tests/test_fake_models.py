"""The fake model server answers as scripted, over real HTTP, and records what clients did."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from tests.fake_models import REPO_ROOT_HINT, FakeModelServer, Script, make_config


def chat(model: str, content: str = "hi", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


async def test_scripted_answer_is_an_openai_chat_completion(model_server: FakeModelServer) -> None:
    model_server.script("claude", text="looks fine")
    async with httpx.AsyncClient(base_url=model_server.base_url) as client:
        response = await client.post("/chat/completions", json=chat("claude"))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "claude"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "looks fine"}
    assert (
        body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


async def test_callable_scripts_see_the_prompt_and_lists_run_in_order(model_server: FakeModelServer) -> None:
    model_server.script("echo", text=lambda request: request["messages"][-1]["content"].upper())
    model_server.script("seq", ["first", Script("second", status=200), "last"])
    async with httpx.AsyncClient(base_url=model_server.base_url) as client:
        echoed = await client.post("/chat/completions", json=chat("echo", "shout this"))
        answers = [
            (await client.post("/chat/completions", json=chat("seq"))).json()["choices"][0]["message"][
                "content"
            ]
            for _ in range(4)
        ]
    assert echoed.json()["choices"][0]["message"]["content"] == "SHOUT THIS"
    assert answers == ["first", "second", "last", "last"]


async def test_latency_delays_the_answer(model_server: FakeModelServer) -> None:
    model_server.script("slow", text="done", latency=0.3)
    async with httpx.AsyncClient(base_url=model_server.base_url) as client:
        started = time.monotonic()
        response = await client.post("/chat/completions", json=chat("slow"))
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert 0.3 <= elapsed < 3.0
    (record,) = model_server.requests_for("slow")
    for _ in range(100):  # The server thread records the finish just after writing the answer.
        if record.finished_at is not None:
            break
        await anyio.sleep(0.01)
    assert record.finished_at is not None and record.finished_at - record.received_at >= 0.3


@pytest.mark.parametrize(("status", "error_type"), [(429, "rate_limit_error"), (500, "server_error")])
async def test_error_statuses_carry_openai_error_bodies(
    model_server: FakeModelServer, status: int, error_type: str
) -> None:
    model_server.script("flaky", status=status)
    async with httpx.AsyncClient(base_url=model_server.base_url) as client:
        response = await client.post("/chat/completions", json=chat("flaky"))
    assert response.status_code == status
    assert response.json()["error"]["type"] == error_type
    (record,) = model_server.requests_for("flaky")
    for _ in range(100):  # The server thread records the status just after writing the answer.
        if record.status is not None:
            break
        await anyio.sleep(0.01)
    assert record.status == status


async def test_custom_error_body_and_unknown_model(model_server: FakeModelServer) -> None:
    model_server.script("teapot", status=418, error_body={"error": {"message": "short and stout"}})
    async with httpx.AsyncClient(base_url=model_server.base_url) as client:
        teapot = await client.post("/chat/completions", json=chat("teapot"))
        unknown = await client.post("/chat/completions", json=chat("nobody"))
    assert teapot.status_code == 418 and teapot.json()["error"]["message"] == "short and stout"
    assert unknown.status_code == 404
    assert "nobody" in unknown.json()["error"]["message"]


async def test_wildcard_script_answers_any_model_and_models_are_listed(model_server: FakeModelServer) -> None:
    model_server.script("*", text="anyone")
    model_server.script("named", text="me")
    async with httpx.AsyncClient(base_url=model_server.base_url) as client:
        anyone = await client.post("/chat/completions", json=chat("whoever"))
        listing = await client.get("/models")
    assert anyone.json()["choices"][0]["message"]["content"] == "anyone"
    assert [entry["id"] for entry in listing.json()["data"]] == ["named"]


async def test_streaming_sends_sse_chunks_that_rebuild_the_text(model_server: FakeModelServer) -> None:
    text = "a fairly long answer that will be split over several chunks of the stream"
    model_server.script("streamer", text=text)
    async with (
        httpx.AsyncClient(base_url=model_server.base_url) as client,
        client.stream("POST", "/chat/completions", json=chat("streamer", stream=True)) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream"
        lines = [line async for line in response.aiter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert len(chunks) > 3
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks) == text
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_stream_can_be_forced_off(model_server: FakeModelServer) -> None:
    model_server.script("plain", text="whole", stream=False)
    async with httpx.AsyncClient(base_url=model_server.base_url) as client:
        response = await client.post("/chat/completions", json=chat("plain", stream=True))
    assert response.json()["choices"][0]["message"]["content"] == "whole"


async def test_requests_are_recorded_with_body_and_headers(model_server: FakeModelServer) -> None:
    model_server.script("claude", text="ok")
    async with httpx.AsyncClient(base_url=model_server.base_url) as client:
        await client.post(
            "/chat/completions",
            json=chat("claude", "review this", temperature=0.1),
            headers={"Authorization": "Bearer test-key"},
        )
    (record,) = model_server.requests
    assert record.model == "claude"
    assert record.messages == [{"role": "user", "content": "review this"}]
    assert record.body["temperature"] == 0.1
    assert record.headers["authorization"] == "Bearer test-key"
    assert record.prompt == "review this"
    assert record.disconnected is False and record.answer == "ok"
    model_server.reset()
    assert model_server.requests == []


async def test_client_hanging_up_during_latency_is_recorded_promptly(model_server: FakeModelServer) -> None:
    model_server.script("sleepy", text="too late", latency=5.0)
    async with httpx.AsyncClient(base_url=model_server.base_url) as client:
        with anyio.move_on_after(0.2):
            await client.post("/chat/completions", json=chat("sleepy"))
    hung_up_at = time.monotonic()
    record = await model_server.wait_for_disconnect("sleepy", timeout=2.0)
    assert record.disconnected is True
    assert record.status is None and record.answer is None
    assert record.finished_at is not None and record.finished_at - hung_up_at < 0.5


async def test_600_concurrent_connections_are_served_in_parallel(model_server: FakeModelServer) -> None:
    """Raw HTTP/1.1 over anyio sockets: measures the server, not a client's connection pool."""
    model_server.script("*", text=lambda request: str(request["model"]), latency=0.3)
    answers: list[str] = []

    async def one(index: int) -> None:
        body = json.dumps(chat(f"m{index}")).encode()
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: fake\r\nContent-Type: application/json\r\n"
            f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        async with await anyio.connect_tcp("127.0.0.1", model_server.port) as stream:
            await stream.send(head.encode() + body)
            received = b""
            with contextlib.suppress(anyio.EndOfStream):
                while True:
                    received += await stream.receive()
        answers.append(json.loads(received.split(b"\r\n\r\n", 1)[1])["choices"][0]["message"]["content"])

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        for index in range(600):
            group.start_soon(one, index)
    elapsed = time.monotonic() - started
    assert sorted(answers) == sorted(f"m{index}" for index in range(600))
    assert elapsed < 6.0  # Concurrent: 600 × 0.3 s in sequence would take three minutes.


def test_make_config_points_every_seat_at_the_server(model_server: FakeModelServer) -> None:
    config = make_config(model_server, {"claude": {"timeout": 2}, "codex": {}}, policy={"quorum": 2})
    assert config.models["claude"].model == "openai/claude"
    assert config.models["claude"].api_base == model_server.base_url
    assert config.models["claude"].timeout == 2
    assert config.policy.quorum == 2
    assert config.panel_for("review") == ["claude", "codex"]


def test_command_line_serves_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "models.json"
    script.write_text(
        json.dumps({"claude": {"text": "from file", "latency": 0.01}, "broken": {"status": 500}})
    )
    port_file = tmp_path / "port"
    with subprocess.Popen(
        [sys.executable, "-m", "tests.fake_models", "--script", str(script), "--port-file", str(port_file)],
        cwd=REPO_ROOT_HINT,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        try:
            first_line = process.stdout.readline().strip()
            port = int(port_file.read_text())
            assert first_line == f"listening on http://127.0.0.1:{port}/v1"
            ok = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=chat("claude"))
            broken = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=chat("broken"))
            assert ok.json()["choices"][0]["message"]["content"] == "from file"
            assert broken.status_code == 500
        finally:
            process.terminate()
        assert process.wait(timeout=5) == 0
        assert process.stdout.read() == ""
