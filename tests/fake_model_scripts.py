"""What the fake model server is told to answer (`Script`), and what it records (`RecordedRequest`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

UNREADABLE_BODY = "\x00fake-model:unreadable-body"
"""Answer text that makes the server reply 200 with a JSON body cut off in the middle."""
CLOSE_CONNECTION = "\x00fake-model:close-connection"
"""Answer text that makes the server close the connection without answering (an EOF)."""
HEADERS_KEY = "__headers__"
"""Key of a JSON payload (e.g. an `error_body`) holding extra response headers, not sent in the body."""

AnswerText = str | Callable[[dict[str, Any]], str]
"""A fixed answer, or a function of the request's JSON body returning the answer."""


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
