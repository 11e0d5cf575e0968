"""The learning benchmark's fake model host: each planted model answers each case as its quality says.

An OpenAI-compatible chat server on 127.0.0.1 (the HTTP layer of `tests.fake_model_http`, as the
tests' `FakeModelServer` uses it) whose answers are computed, not scripted: the request's model
names the planted model, the case id in the prompt's file text (`# review case c000042`) names the
case, and `learning_cases.answer_text` gives the answer, after the model's latency. A flaky model's
failing requests get HTTP 503, or hang (watching the connection) until the client gives up.

Token usage is counted as the tests' server counts it (words of the prompt and of the answer), so
a seat's cost is its planted prices times those counts. `calls` counts the requests per model.
"""

from __future__ import annotations

import re
import socket
import threading
from collections import Counter
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final

from benchmarks.learning_cases import Case, PlantedModel, answer_text, failure
from tests.fake_model_http import ChatHandler, ChatHTTPServer, completion_body, error_body, sleep_watching

CASE_ID: Final = re.compile(r"# review case c(\d{6})")
HANG_FACTOR: Final = 4.0
"""A hanging request sleeps this many times its seat's timeout (the client gives up first)."""


class LearningHost:
    """Serves the planted models over HTTP; `cases` maps a case index to its case."""

    def __init__(self, models: Mapping[str, PlantedModel], cases: Mapping[int, Case], seed: int = 0) -> None:
        self.planted = dict(models)
        self.cases = cases
        self.seed = seed
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd = ChatHTTPServer(("127.0.0.1", 0), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="learning-host",
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        """The seats' `api_base`."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # -- ChatBackend ---------------------------------------------------------------------------
    def models(self) -> list[str]:
        """The planted models' names."""
        return list(self.planted)

    def track_connection(self, connection: socket.socket, *, add: bool) -> None:
        """Remember open connections, to close them on stop."""
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def answer_chat(self, handler: ChatHandler, body: dict[str, Any]) -> None:
        """Answer as the planted model would answer the case the prompt shows."""
        name = str(body.get("model", ""))
        model = self.planted.get(name)
        prompt = "\n".join(str(message.get("content", "")) for message in body.get("messages") or [])
        found = CASE_ID.search(prompt)
        case = self.cases.get(int(found.group(1))) if found else None
        if model is None or case is None:
            what = f"model {name!r}" if model is None else "a prompt without a known case id"
            handler.send_json(404, error_body(404, f"the learning host does not know {what}"))
            return
        with self._lock:
            self.calls[name] += 1
        failing = failure(model, case, self.seed)
        delay = model.timeout_s * HANG_FACTOR if failing == "timeout" else model.latency_s
        if sleep_watching(handler.connection, delay, self._stopping):
            handler.close_connection = True
            return
        if failing == "error":
            handler.send_json(503, error_body(503))
            return
        text = answer_text(model, case, self.seed)
        try:
            handler.send_json(200, completion_body(f"chatcmpl-learning-{case.index}", name, text, body))
        except OSError:
            handler.close_connection = True

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> LearningHost:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
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
        self._thread.join(timeout=5)
