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
The pieces live beside this module: `tests.fake_model_scripts` (Script, RecordedRequest),
`tests.fake_model_http` (routing and OpenAI-shaped bodies) and `tests.fake_models_cli` (the command
line); every name they export that tests use is importable from here.
"""

from __future__ import annotations

import itertools
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from orchestration.types.config import ChorusConfig, ModelConfig, PanelsConfig, PolicyConfig
from tests.fake_model_http import (
    WILDCARD,
    ChatHandler,
    ChatHTTPServer,
    completion_body,
    error_body,
    send_stream,
    sleep_watching,
)
from tests.fake_model_scripts import AnswerText, RecordedRequest, Script, ScriptLike

__all__ = [
    "REPO_ROOT_HINT",
    "WILDCARD",
    "AnswerText",
    "FakeModelServer",
    "RecordedRequest",
    "Script",
    "ScriptLike",
    "make_config",
    "seat_config",
]

REPO_ROOT_HINT = Path(__file__).resolve().parent.parent
"""The repository root: the working directory for `python -m tests.fake_models`."""


class FakeModelServer:
    """An OpenAI-compatible chat server with scripted answers per model name."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._scripts: dict[str, list[Script]] = {}
        self._cycling: set[str] = set()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Condition()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: ChatHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeModelServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = ChatHTTPServer(self._address, self)
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
        cycle: bool = False,
    ) -> None:
        """Script `model` ("*" for any model). A list of scripts is consumed in order; the last repeats.

        `text` may be a string, a callable of the request body, a `Script`, or a list of those (list
        items that are not `Script`s take the keyword settings). With `cycle`, the list is answered
        in turn forever (a model flapping between 500 and OK: `[Script(status=500), Script("OK")]`).
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
            if cycle:
                self._cycling.add(model)
            else:
                self._cycling.discard(model)

    def models(self) -> list[str]:
        """Names of the scripted models."""
        with self._lock:
            return list(self._scripts)

    def _next_script(self, model: str) -> Script | None:
        with self._lock:
            name = model if self._scripts.get(model) else WILDCARD
            scripts = self._scripts.get(name)
            if not scripts:
                return None
            if name in self._cycling:
                scripts.append(scripts.pop(0))
                return scripts[-1]
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
                self._cycling.clear()

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

    def track_connection(self, connection: socket.socket, *, add: bool) -> None:
        """Remember (or forget) an open client connection, so that `stop` can close it."""
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
    def answer_chat(self, handler: ChatHandler, body: dict[str, Any]) -> None:
        """Record a chat request and answer it as the model's next script says."""
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
            self._send_error(handler, record, 404, error_body(404, f"The model `{model}` does not exist."))
            return
        if script.latency > 0 and sleep_watching(handler.connection, script.latency, self._stopping):
            handler.close_connection = True
            self._finish(record, None, disconnected=not self._stopping.is_set())
            return
        try:
            text = script.text(body) if callable(script.text) else script.text
        except Exception as error:
            self._send_error(handler, record, 500, error_body(500, f"script for {model} raised {error!r}"))
            return
        if script.status != 200:
            payload = script.error_body if script.error_body is not None else error_body(script.status)
            self._send_error(handler, record, script.status, payload)
            return
        record.answer = text
        streaming = script.stream if script.stream is not None else bool(body.get("stream"))
        identifier = f"chatcmpl-fake-{next(self._ids)}"
        try:
            if streaming:
                send_stream(handler, identifier, model, text, script.chunk_delay)
            else:
                handler.send_json(200, completion_body(identifier, model, text, body))
        except OSError:
            handler.close_connection = True
            self._finish(record, 200, disconnected=True)
            return
        self._finish(record, 200)

    def _send_error(
        self, handler: ChatHandler, record: RecordedRequest, status: int, payload: dict[str, Any] | str
    ) -> None:
        try:
            handler.send_error_payload(status, payload)
        except OSError:
            handler.close_connection = True
            self._finish(record, status, disconnected=True)
            return
        self._finish(record, status)


# -- configuration helpers shared by every test ------------------------------------------------
def outward_address() -> str | None:
    """This machine's address on its network (not loopback), or None when it has none: a fake server
    bound there is, to the privacy gate, a remote (cloud) model."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # No packet is sent: this only picks the outgoing interface.
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


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


def __getattr__(name: str) -> Any:
    """`main` and `load_script_file` moved to tests.fake_models_cli; they stay importable from here."""
    if name in ("main", "load_script_file"):
        from tests import fake_models_cli

        return getattr(fake_models_cli, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    from tests.fake_models_cli import main

    sys.exit(main())
