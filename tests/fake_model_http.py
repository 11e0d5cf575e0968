"""The HTTP side of the fake model server: routing, OpenAI-shaped bodies, SSE streaming.

`tests.fake_models.FakeModelServer` decides what a model answers; this module puts it on the wire
exactly as OpenAI's chat completions API does (JSON completions, `text/event-stream` chunks ending
in `data: [DONE]`, and error bodies with `message`, `type` and `code`).
"""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from tests.fake_model_scripts import CLOSE_CONNECTION, HEADERS_KEY, UNREADABLE_BODY

WILDCARD = "*"
"""Script name that answers every model without a script of its own."""

ERROR_DEFAULTS: dict[int, tuple[str, str, str]] = {
    400: ("Invalid request.", "invalid_request_error", "invalid_request"),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to use this model.", "permission_error", "forbidden"),
    404: ("The model does not exist.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests.", "rate_limit_error", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", "server_error"),
    503: ("The engine is currently overloaded.", "server_error", "overloaded"),
}
"""HTTP status → OpenAI's (message, type, code) for it."""


class ChatBackend(Protocol):
    """What the HTTP layer needs from the server deciding the answers."""

    def models(self) -> list[str]:
        """Names of the scripted models."""
        ...

    def track_connection(self, connection: socket.socket, *, add: bool) -> None:
        """Remember (or forget) an open client connection, to close it on stop."""
        ...

    def answer_chat(self, handler: ChatHandler, body: dict[str, Any]) -> None:
        """Answer one chat completion request whose JSON body is `body`."""
        ...


class ChatHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server (one daemon thread per connection) serving a `ChatBackend`."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], backend: ChatBackend) -> None:
        self.backend = backend
        super().__init__(address, ChatHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up is normal here (cancellation tests); report anything else on stderr."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class ChatHandler(BaseHTTPRequestHandler):
    """Routes `GET /v1/models` and `POST /v1/chat/completions`; anything else is a 404."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: ChatHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: stdout and stderr belong to the test or the editor."""

    def setup(self) -> None:
        super().setup()
        self.server.backend.track_connection(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.backend.track_connection(self.connection, add=False)

    def do_GET(self) -> None:
        if self.path.split("?")[0].rstrip("/") in ("/v1/models", "/models"):
            names = [name for name in self.server.backend.models() if name != WILDCARD]
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "fake"} for name in names]
            self.send_json(200, {"object": "list", "data": data})
        else:
            self.send_json(404, error_body(404, f"no route {self.path}"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.split("?")[0].rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self.send_json(404, error_body(404, f"no route {self.path}"))
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError as error:
            self.send_json(400, error_body(400, f"invalid JSON body: {error}"))
            return
        self.server.backend.answer_chat(self, body)

    def send_json(self, status: int, payload: Any) -> None:
        """Write `payload` as a complete JSON response (its `HEADERS_KEY` entry, if any, as headers)."""
        headers: dict[str, str] = {}
        if isinstance(payload, dict) and HEADERS_KEY in payload:
            payload = dict(payload)
            headers = payload.pop(HEADERS_KEY)
        if isinstance(payload, dict) and payload.get(CLOSE_CONNECTION):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = json.dumps(payload).encode()
        if isinstance(payload, dict) and UNREADABLE_BODY in payload:
            data = payload[UNREADABLE_BODY].encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def send_error_payload(self, status: int, payload: dict[str, Any] | str) -> None:
        """Write an error: a JSON body, or a string sent as is in a text/plain body."""
        if not isinstance(payload, str):
            self.send_json(status, payload)
            return
        data = payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """OpenAI's error body for `status`, with `message` instead of the default one if given."""
    default_message, error_type, code = ERROR_DEFAULTS.get(
        status, (f"HTTP {status}", "server_error", "error")
    )
    return {"error": {"message": message or default_message, "type": error_type, "param": None, "code": code}}


def chunks(text: str, size: int = 24) -> Iterator[str]:
    """`text` in pieces of `size` characters, as a streaming model sends it."""
    for start in range(0, len(text), size):
        yield text[start : start + size]


def completion_body(identifier: str, model: str, text: str, body: dict[str, Any]) -> dict[str, Any]:
    """A `chat.completion` answering `body` with `text`, with word counts as token usage.

    The texts `UNREADABLE_BODY` and `CLOSE_CONNECTION` make `send_json` write a body cut off in
    the middle, or close the connection without an answer.
    """
    if text == UNREADABLE_BODY:
        return {UNREADABLE_BODY: '{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"mess'}
    if text == CLOSE_CONNECTION:
        return {CLOSE_CONNECTION: True}
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
    completion_tokens = len(text.split())
    return {
        "id": identifier,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def send_stream(handler: ChatHandler, identifier: str, model: str, text: str, chunk_delay: float) -> None:
    """Send `text` as `chat.completion.chunk` SSE events, `chunk_delay` seconds apart, then [DONE]."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.close_connection = True
    created = int(time.time())

    def event(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        chunk = {
            "id": identifier,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        return f"data: {json.dumps(chunk)}\n\n".encode()

    handler.wfile.write(event({"role": "assistant", "content": ""}))
    for piece in chunks(text):
        if chunk_delay > 0:
            time.sleep(chunk_delay)
        handler.wfile.write(event({"content": piece}))
        handler.wfile.flush()
    handler.wfile.write(event({}, "stop"))
    handler.wfile.write(b"data: [DONE]\n\n")
    handler.wfile.flush()


def sleep_watching(connection: socket.socket, seconds: float, stopping: threading.Event) -> bool:
    """Sleep `seconds`, returning True early if the client closes the connection (or `stopping` is set)."""
    poller = select.poll()
    poller.register(connection, select.POLLIN | select.POLLHUP | select.POLLERR)
    end = time.monotonic() + seconds
    while (remaining := end - time.monotonic()) > 0:
        if stopping.is_set():
            return True
        if not poller.poll(min(remaining, 0.1) * 1000):
            continue
        try:
            peeked = connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except OSError:
            return True
        if not peeked:
            return True
        time.sleep(min(remaining, 0.01))  # Unexpected early bytes (pipelining): keep waiting.
    return stopping.is_set()
