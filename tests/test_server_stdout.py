"""stdout carries JSON-RPC frames and nothing else, even when something in the process prints.

A raw client (no pygls) drives `chorus serve`, answers whatever the server asks, and
parses every byte of stdout as `Content-Length` frames. A thread in the server's
process prints to stdout (Python's print and a raw write to fd 1) mid-session: that
must land on stderr.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
from lsprotocol.converters import get_converter
from pytest_lsp import client_capabilities

from tests.fake_models import FakeModelServer, make_config
from tests.lsp_client import config_options, lsp_range, review_answer, server_env

NOISY_SERVER = """
import os, sys, threading, time
def noise():
    while not os.path.exists(os.environ["CHORUS_TEST_TRIGGER"]):
        time.sleep(0.02)
    print("NOISE-FROM-PRINT", flush=True)
    os.write(1, b"NOISE-FROM-FD1\\n")
    open(os.environ["CHORUS_TEST_TRIGGER"] + ".done", "w").close()
threading.Thread(target=noise, daemon=True).start()
from server.__main__ import main
main(["serve"])
"""


def parse_frames(data: bytes) -> list[dict[str, Any]]:
    """Split stdout into JSON-RPC messages; fail on any byte that is not part of a frame."""
    messages = []
    while data:
        header, separator, rest = data.partition(b"\r\n\r\n")
        assert separator, f"stray bytes on stdout: {data[:80]!r}"
        fields = dict(line.split(": ", 1) for line in header.decode("ascii").split("\r\n"))
        length = int(fields["Content-Length"])
        body, data = rest[:length], rest[length:]
        assert len(body) == length, "truncated frame"
        message = json.loads(body)
        assert message["jsonrpc"] == "2.0"
        messages.append(message)
    return messages


class RawClient:
    """Just enough of an LSP client: frames out, frames in, every server request answered."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stdout = b""
        self.buffer = b""
        self.received: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def read_until(self, predicate: Any) -> dict[str, Any]:
        assert self.process.stdout is not None
        with anyio.fail_after(60):
            while True:
                for message in self._take_frames():
                    self.received.append(message)
                    if "method" in message and "id" in message:
                        answer = [None] if message["method"] == "workspace/configuration" else None
                        self.send({"id": message["id"], "result": answer})
                    if predicate(message):
                        return message
                chunk = await self.process.stdout.read(65536)
                assert chunk, "the server closed stdout"
                self.stdout += chunk
                self.buffer += chunk

    def _take_frames(self) -> list[dict[str, Any]]:
        messages = []
        while b"\r\n\r\n" in self.buffer:
            header, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            if len(rest) < length:
                break
            messages.append(json.loads(rest[:length]))
            self.buffer = rest[length:]
        return messages


async def test_stdout_holds_nothing_but_json_rpc_frames(
    profile: str, tmp_path: Path, model_server: FakeModelServer
) -> None:
    model_server.script("claude", review_answer())
    trigger = tmp_path / "print-now"
    env = server_env(tmp_path / "cache", {"CHORUS_TEST_TRIGGER": str(trigger)})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        NOISY_SERVER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    client = RawClient(process)
    try:
        capabilities = get_converter().unstructure(client_capabilities(profile))
        options = config_options(make_config(model_server, ["claude"]))
        client.send(
            {
                "id": 1,
                "method": "initialize",
                "params": {
                    "processId": None,
                    "rootUri": tmp_path.as_uri(),
                    "capabilities": capabilities,
                    "initializationOptions": options,
                },
            }
        )
        await client.read_until(lambda m: m.get("id") == 1)
        client.send({"method": "initialized", "params": {}})
        uri = (tmp_path / "a.py").as_uri()
        document = {"uri": uri, "languageId": "python", "version": 1, "text": "x = 1\ny = x / 0\n"}
        client.send({"method": "textDocument/didOpen", "params": {"textDocument": document}})
        await anyio.Path(trigger).touch()
        with anyio.fail_after(30):
            while not await anyio.Path(f"{trigger}.done").exists():  # noqa: ASYNC110 - another process
                await anyio.sleep(0.02)
        review = {"textDocument": {"uri": uri}, "range": lsp_range(0, 2)}
        client.send({"id": 2, "method": "chorus/reviewSelection", "params": review})
        answer = await client.read_until(lambda m: m.get("id") == 2)
        assert answer["result"]["models"][0]["status"] == "ok"
        client.send({"id": 3, "method": "shutdown"})
        await client.read_until(lambda m: m.get("id") == 3)
        client.send({"method": "exit"})
        assert process.stdout is not None and process.stderr is not None
        with anyio.fail_after(15):
            client.stdout += await process.stdout.read()
            stderr = await process.stderr.read()
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    messages = parse_frames(client.stdout)
    assert b"NOISE" not in client.stdout
    assert b"NOISE-FROM-PRINT" in stderr and b"NOISE-FROM-FD1" in stderr
    assert any(m.get("method") == "textDocument/publishDiagnostics" for m in messages)
    assert any(m.get("method") == "chorus/status" for m in messages)
    logged = [
        m["params"]["message"]
        for m in messages
        if m.get("method") == "window/logMessage" and m["params"]["type"] > 1  # Below error.
    ]
    assert logged, "Chorus's log lines reach the client"
    doubled = [line for line in logged if line.encode() in stderr]
    assert not doubled, f"also on stderr (editors would show them twice): {doubled}"


async def test_tcp_transport_for_debugging(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "serve",
        "--tcp",
        f"127.0.0.1:{port}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=server_env(tmp_path / "cache"),
        cwd=tmp_path,
    )
    try:
        with anyio.fail_after(30):
            while True:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    break
                except OSError:
                    await anyio.sleep(0.1)
            body = json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {"processId": None, "capabilities": {}},
                }
            ).encode()
            writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            answer: dict[str, Any] = {}
            while answer.get("id") != 1:  # Notifications (logMessage, ...) may come first.
                header = await reader.readuntil(b"\r\n\r\n")
                length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                answer = json.loads(await reader.readexactly(length))
        assert answer["result"]["serverInfo"]["name"] == "chorus"
        writer.close()
    finally:
        process.kill()
        await process.wait()
