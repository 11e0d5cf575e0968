"""A hermetic, scriptable OpenAI-compatible model server on 127.0.0.1, for tests, demos and benchmarks.

The server runs in background threads (one per connection), so it works alongside any event loop
and alongside a language server running in a subprocess. Each model name gets a script: the text it
answers (or a callable computing it from the request), a latency, an HTTP status, streaming or not.
Every request is recorded, including whether the client hung up before the answer was written.

    with FakeModelServer() as server:
        server.script("claude", text='{"findings": []}', latency=0.2)
        server.script("codex", status=500)
        config = make_config(server, {"claude": {}, "codex": {"timeout": 1}})

Command line (for Node, Lua and demo use; prints only "listening on URL" on stdout):

    python -m tests.fake_models --port 0 --script models.json --port-file /tmp/port

where models.json maps a model name to {"text", "latency", "status", "stream"} (or a list of them).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from orchestration.config import ChorusConfig, ModelConfig, PanelsConfig, PolicyConfig

AnswerText = str | Callable[[dict[str, Any]], str]
"""A fixed answer, or a function of the request's JSON body returning the answer."""

REPO_ROOT_HINT = Path(__file__).resolve().parent.parent
"""The repository root: the working directory for `python -m tests.fake_models`."""

WILDCARD = "*"
"""Script name that answers every model without a script of its own."""

_ERROR_DEFAULTS: dict[int, tuple[str, str, str]] = {
    400: ("Invalid request.", "invalid_request_error", "invalid_request"),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to use this model.", "permission_error", "forbidden"),
    404: ("The model does not exist.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests.", "rate_limit_error", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", "server_error"),
    503: ("The engine is currently overloaded.", "server_error", "overloaded"),
}


@dataclass(frozen=True)
class Script:
    """How a model answers one request."""

    text: AnswerText = "OK"
    latency: float = 0.0
    status: int = 200
    stream: bool | None = None
    """None: stream when the request asks for it; True/False: force SSE or plain JSON."""
    error_body: dict[str, Any] | str | None = None
    chunk_delay: float = 0.0
    """Seconds between SSE chunks when streaming."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Script:
        """Build from the command line's JSON form ({"text", "latency", "status", "stream", ...})."""
        if isinstance(data, str):
            return cls(text=data)
        known = {"text", "latency", "status", "stream", "error_body", "chunk_delay"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown script keys: {sorted(unknown)}")
        text = data.get("text", "OK")
        return cls(**{**data, "text": text if isinstance(text, str) else json.dumps(text)})


ScriptLike = Script | AnswerText


@dataclass
class RecordedRequest:
    """One request the server received."""

    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    headers: dict[str, str]
    path: str
    received_at: float
    """time.monotonic() when the body had been read."""
    finished_at: float | None = None
    status: int | None = None
    disconnected: bool = False
    """The client closed the connection before the answer was written."""
    answer: str | None = None

    @property
    def prompt(self) -> str:
        """All message contents joined, handy for asserting on prompts."""
        return "\n".join(str(message.get("content", "")) for message in self.messages)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeModelServer) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up is normal here (cancellation tests); report anything else on stderr."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: stdout and stderr belong to the test or the editor."""

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._track(self.connection, add=False)

    def do_GET(self) -> None:
        if self.path.split("?")[0].rstrip("/") in ("/v1/models", "/models"):
            names = [name for name in self.server.fake.models() if name != WILDCARD]
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "fake"} for name in names]
            self.send_json(200, {"object": "list", "data": data})
        else:
            self.send_json(404, _error_body(404, f"no route {self.path}"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.split("?")[0].rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self.send_json(404, _error_body(404, f"no route {self.path}"))
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError as error:
            self.send_json(400, _error_body(400, f"invalid JSON body: {error}"))
            return
        self.server.fake._answer_chat(self, body)

    def send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _error_body(status: int, message: str | None = None) -> dict[str, Any]:
    default_message, error_type, code = _ERROR_DEFAULTS.get(
        status, (f"HTTP {status}", "server_error", "error")
    )
    return {"error": {"message": message or default_message, "type": error_type, "param": None, "code": code}}


def _chunks(text: str, size: int = 24) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


class FakeModelServer:
    """An OpenAI-compatible chat server with scripted answers per model name."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._scripts: dict[str, list[Script]] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Condition()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeModelServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer(self._address, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-models", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection (sleeping answers are abandoned)."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (the server must be started)."""
        if self._httpd is None:
            raise RuntimeError("the fake model server is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """What to pass as `api_base`: http://127.0.0.1:PORT/v1."""
        return f"http://{self._address[0]}:{self.port}/v1"

    # -- scripting -----------------------------------------------------------------------------
    def script(
        self,
        model: str,
        text: ScriptLike | list[ScriptLike] = "OK",
        *,
        latency: float = 0.0,
        status: int = 200,
        stream: bool | None = None,
        error_body: dict[str, Any] | str | None = None,
        chunk_delay: float = 0.0,
    ) -> None:
        """Script `model` ("*" for any model). A list of scripts is consumed in order; the last repeats.

        `text` may be a string, a callable of the request body, a `Script`, or a list of those (list
        items that are not `Script`s take the keyword settings).
        """
        items = text if isinstance(text, list) else [text]
        if not items:
            raise ValueError("a script list needs at least one entry")
        scripts = [
            item
            if isinstance(item, Script)
            else Script(item, latency, status, stream, error_body, chunk_delay)
            for item in items
        ]
        with self._lock:
            self._scripts[model] = scripts

    def models(self) -> list[str]:
        """Names of the scripted models."""
        with self._lock:
            return list(self._scripts)

    def _next_script(self, model: str) -> Script | None:
        with self._lock:
            scripts = self._scripts.get(model) or self._scripts.get(WILDCARD)
            if not scripts:
                return None
            return scripts.pop(0) if len(scripts) > 1 else scripts[0]

    # -- recording -----------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every chat request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, model: str) -> list[RecordedRequest]:
        """The chat requests addressed to `model`."""
        return [request for request in self.requests if request.model == model]

    def reset(self, *, scripts: bool = False) -> None:
        """Forget recorded requests (and the scripts too when asked)."""
        with self._lock:
            self._requests.clear()
            if scripts:
                self._scripts.clear()

    async def wait_for_disconnect(
        self,
        model: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> RecordedRequest:
        """Wait, off the event loop, until a request to `model` (any, if None) saw its client hang up.

        Raises TimeoutError after `timeout` seconds.
        """
        return await anyio.to_thread.run_sync(
            self.wait_for_disconnect_blocking, model, timeout, abandon_on_cancel=True
        )

    async def wait_for_requests(
        self,
        count: int,
        model: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[RecordedRequest]:
        """Wait, off the event loop, until `count` requests (to `model`, if given) have arrived."""
        return await anyio.to_thread.run_sync(
            self.wait_for_requests_blocking, count, model, timeout, abandon_on_cancel=True
        )

    def wait_for_disconnect_blocking(self, model: str | None = None, timeout: float = 5.0) -> RecordedRequest:
        """Blocking form of `wait_for_disconnect`, for threads and synchronous tests."""
        found = self._wait_until(
            lambda: [r for r in self._requests if r.disconnected and model in (None, r.model)],
            timeout,
            f"no client disconnected from {model or 'any model'}",
        )
        return found[0]

    def wait_for_requests_blocking(
        self, count: int, model: str | None = None, timeout: float = 5.0
    ) -> list[RecordedRequest]:
        """Blocking form of `wait_for_requests`; returns the matching requests."""

        def matching() -> list[RecordedRequest] | None:
            found = [r for r in self._requests if model in (None, r.model)]
            return found if len(found) >= count else None

        return self._wait_until(matching, timeout, f"fewer than {count} requests to {model or 'any model'}")

    def _wait_until(
        self, probe: Callable[[], list[RecordedRequest] | None], timeout: float, failure: str
    ) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not (found := probe()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{failure} within {timeout} s")
                self._lock.wait(remaining)
            return found

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _finish(self, record: RecordedRequest, status: int | None, disconnected: bool = False) -> None:
        with self._lock:
            record.status = status
            record.disconnected = disconnected
            record.finished_at = time.monotonic()
            self._lock.notify_all()

    # -- answering -----------------------------------------------------------------------------
    def _sleep_watching(self, connection: socket.socket, seconds: float) -> bool:
        """Sleep `seconds`, returning True early if the client closes the connection (or we stop)."""
        poller = select.poll()
        poller.register(connection, select.POLLIN | select.POLLHUP | select.POLLERR)
        end = time.monotonic() + seconds
        while (remaining := end - time.monotonic()) > 0:
            if self._stopping.is_set():
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
        return self._stopping.is_set()

    def _answer_chat(self, handler: _Handler, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        messages = body.get("messages")
        record = RecordedRequest(
            model=model,
            messages=list(messages) if isinstance(messages, list) else [],
            body=body,
            headers={key.lower(): value for key, value in handler.headers.items()},
            path=handler.path,
            received_at=time.monotonic(),
        )
        with self._lock:
            self._requests.append(record)
            self._lock.notify_all()
        script = self._next_script(model)
        if script is None:
            self._send_error(handler, record, 404, _error_body(404, f"The model `{model}` does not exist."))
            return
        if script.latency > 0 and self._sleep_watching(handler.connection, script.latency):
            handler.close_connection = True
            self._finish(record, None, disconnected=not self._stopping.is_set())
            return
        try:
            text = script.text(body) if callable(script.text) else script.text
        except Exception as error:
            self._send_error(handler, record, 500, _error_body(500, f"script for {model} raised {error!r}"))
            return
        if script.status != 200:
            error_body = script.error_body if script.error_body is not None else _error_body(script.status)
            self._send_error(handler, record, script.status, error_body)
            return
        record.answer = text
        streaming = script.stream if script.stream is not None else bool(body.get("stream"))
        try:
            if streaming:
                self._send_stream(handler, model, text, body, script.chunk_delay)
            else:
                handler.send_json(200, self._completion(model, text, body))
        except OSError:
            handler.close_connection = True
            self._finish(record, 200, disconnected=True)
            return
        self._finish(record, 200)

    def _send_error(
        self, handler: _Handler, record: RecordedRequest, status: int, payload: dict[str, Any] | str
    ) -> None:
        try:
            if isinstance(payload, str):
                data = payload.encode()
                handler.send_response(status)
                handler.send_header("Content-Type", "text/plain")
                handler.send_header("Content-Length", str(len(data)))
                handler.end_headers()
                handler.wfile.write(data)
            else:
                handler.send_json(status, payload)
        except OSError:
            handler.close_connection = True
            self._finish(record, status, disconnected=True)
            return
        self._finish(record, status)

    def _completion(self, model: str, text: str, body: dict[str, Any]) -> dict[str, Any]:
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        completion_tokens = len(text.split())
        return {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _send_stream(
        self, handler: _Handler, model: str, text: str, body: dict[str, Any], chunk_delay: float
    ) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        identifier, created = f"chatcmpl-fake-{next(self._ids)}", int(time.time())

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
        for piece in _chunks(text):
            if chunk_delay > 0:
                time.sleep(chunk_delay)
            handler.wfile.write(event({"content": piece}))
            handler.wfile.flush()
        handler.wfile.write(event({}, "stop"))
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()


# -- configuration helpers shared by every test ------------------------------------------------
def seat_config(server: FakeModelServer, name: str, **overrides: Any) -> ModelConfig:
    """A seat reaching `name` on the fake server: model `openai/<name>`, `api_base` the server's."""
    fields: dict[str, Any] = {"model": f"openai/{name}", "api_base": server.base_url, "timeout": 10.0}
    fields.update(overrides)
    return ModelConfig.model_validate(fields)


def make_config(
    server: FakeModelServer,
    seats: Mapping[str, Mapping[str, Any]] | list[str],
    *,
    panels: PanelsConfig | Mapping[str, Any] | None = None,
    policy: PolicyConfig | Mapping[str, Any] | None = None,
) -> ChorusConfig:
    """A ChorusConfig whose seats all live on the fake server.

    `seats` maps seat name → ModelConfig overrides (e.g. {"timeout": 1}); a plain list means no
    overrides. The seat named "claude" calls model "claude" on the server.
    """
    seat_map = {name: {} for name in seats} if isinstance(seats, list) else seats
    models = {name: seat_config(server, name, **dict(overrides)) for name, overrides in seat_map.items()}
    return ChorusConfig(
        models=models,
        panels=panels if isinstance(panels, PanelsConfig) else PanelsConfig.model_validate(panels or {}),
        policy=policy if isinstance(policy, PolicyConfig) else PolicyConfig.model_validate(policy or {}),
    )


# -- command line ------------------------------------------------------------------------------
def load_script_file(server: FakeModelServer, path: Path) -> None:
    """Apply a JSON file mapping model name → script object (or list of script objects)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object mapping model names to scripts")
    for model, spec in data.items():
        specs = spec if isinstance(spec, list) else [spec]
        server.script(model, [Script.from_json(item) for item in specs])


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_models", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", type=Path, help="JSON: model name → {text, latency, status, stream}")
    parser.add_argument("--port-file", type=Path, help="write the bound port number to this file")
    parser.add_argument("--quiet", action="store_true", help="do not print 'listening on URL'")
    args = parser.parse_args(argv)
    server = FakeModelServer(args.host, args.port)
    if args.script is not None:
        load_script_file(server, args.script)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with server:
        if args.port_file is not None:
            partial = args.port_file.with_name(args.port_file.name + ".tmp")
            partial.write_text(str(server.port), encoding="utf-8")
            os.replace(partial, args.port_file)
        if not args.quiet:
            print(f"listening on {server.base_url}", flush=True)
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
