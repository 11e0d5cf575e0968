"""Bad framing on stdin: the server logs one line and resynchronises (issue 13 item 6).

These tests write raw bytes to `chorus serve`'s stdin in a subprocess, as a broken client would:
a malformed `Content-Length`, junk between messages, lengths too short or too long, bodies that
are not JSON. After each, the next well-framed request must be answered.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lsp_client import SERVER_COMMAND, server_env


def frame(message: dict[str, Any], *, length: int | None = None, header: bytes | None = None) -> bytes:
    """One message as a client writes it; `length` or `header` override what is declared."""
    body = json.dumps(message).encode()
    declared = (
        header
        if header is not None
        else f"Content-Length: {len(body) if length is None else length}".encode()
    )
    return declared + b"\r\n\r\n" + body


def request(msg_id: int, method: str, params: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}


class RawServer:
    """`chorus serve` on pipes, read and written byte by byte."""

    def __init__(self, workspace: Path) -> None:
        self.process = subprocess.Popen(
            SERVER_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=server_env(workspace / ".cache"),
            cwd=workspace,
        )
        self.buffer = b""

    def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def _read_message(self, deadline: float) -> dict[str, Any] | None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while True:
            head, separator, rest = self.buffer.partition(b"\r\n\r\n")
            if separator:
                length = int(
                    next(h for h in head.split(b"\r\n") if h.startswith(b"Content-Length")).split(b":")[1]
                )
                if len(rest) >= length:
                    self.buffer = rest[length:]
                    message: dict[str, Any] = json.loads(rest[:length])
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk

    def response(self, msg_id: int, within: float = 10.0) -> dict[str, Any]:
        """The response to `msg_id` (notifications and server requests on the way are skipped)."""
        deadline = time.monotonic() + within
        while (message := self._read_message(deadline)) is not None:
            if message.get("id") == msg_id and "method" not in message:
                return message
        raise AssertionError(f"no response to request {msg_id} within {within} s")

    def messages_until(self, within: float) -> list[dict[str, Any]]:
        """Everything the server sends for `within` seconds."""
        deadline = time.monotonic() + within
        found = []
        while (message := self._read_message(deadline)) is not None:
            found.append(message)
        return found

    def close(self) -> str:
        """Shut the server down; returns its stderr."""
        try:
            self.write(frame(request(9999, "shutdown")))
            self.write(frame({"jsonrpc": "2.0", "method": "exit"}))
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace")


@pytest.fixture
def raw_server(tmp_path: Path) -> Iterator[RawServer]:
    server = RawServer(tmp_path)
    try:
        server.write(frame(request(1, "initialize", {"capabilities": {}, "rootUri": tmp_path.as_uri()})))
        assert "result" in server.response(1, within=30)
        server.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        yield server
    finally:
        server.close()


def models_request(msg_id: int) -> bytes:
    return frame(request(msg_id, "chorus/models", {}))


BAD_FRAMES = {
    "malformed length": frame(request(100, "chorus/models", {}), header=b"Content-Length: abc"),
    "negative length": frame(request(100, "chorus/models", {}), header=b"Content-Length: -5"),
    "huge length": frame(request(100, "chorus/models", {}), header=b"Content-Length: 99999999999999999999"),
    "no length": frame(request(100, "chorus/models", {}), header=b"Content-Type: application/json"),
    "junk line": b"hello there\r\n",
    "length too short": frame(request(100, "chorus/models", {}), length=10),
    "not json": b"Content-Length: 9\r\n\r\nnot json!",
    "json array": b"Content-Length: 6\r\n\r\n[1, 2]",
}


@pytest.mark.parametrize("bad", list(BAD_FRAMES), ids=list(BAD_FRAMES))
def test_bad_framing_is_logged_and_the_next_request_is_answered(raw_server: RawServer, bad: str) -> None:
    raw_server.write(BAD_FRAMES[bad] + models_request(2))
    answer = raw_server.response(2)
    assert "models" in answer["result"], answer
    raw_server.write(models_request(3))
    assert "models" in raw_server.response(3)["result"]
    stderr = raw_server.close()
    assert "Traceback" not in stderr, stderr


def test_a_length_too_long_is_recovered_when_the_body_stalls(raw_server: RawServer) -> None:
    raw_server.write(frame(request(2, "chorus/models", {}), length=500))
    answer = raw_server.response(2, within=10)
    assert "models" in answer["result"], "the complete JSON value was taken once the body stalled"
    raw_server.write(models_request(3))
    assert "models" in raw_server.response(3)["result"]


def test_a_length_too_long_that_swallows_the_next_message_gives_it_back(raw_server: RawServer) -> None:
    body_length = len(json.dumps(request(2, "chorus/models", {})))
    first = frame(request(2, "chorus/models", {}), length=body_length + 30)
    raw_server.write(first + models_request(3) + models_request(4))
    answers = {raw_server.response(msg_id)["id"] for msg_id in (2, 3, 4)}
    assert answers == {2, 3, 4}


def test_framing_errors_are_one_log_line_for_the_client(raw_server: RawServer) -> None:
    raw_server.write(BAD_FRAMES["malformed length"] + models_request(2))
    messages = [raw_server.response(2)]
    messages += raw_server.messages_until(0.5)
    logs = [
        m["params"]["message"]
        for m in raw_server.messages_until(0.5)
        if m.get("method") == "window/logMessage"
    ]
    stderr = raw_server.close()
    assert "malformed Content-Length header 'abc': skipping to the next message" in stderr + " ".join(logs)
    assert all("\n" not in line for line in logs)
