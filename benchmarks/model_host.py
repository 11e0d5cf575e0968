"""The fake model server in its own process, scripted over a line protocol on stdin/stdout.

Running `tests.fake_models.FakeModelServer` in a separate process keeps its threads (one per
connection, hundreds under load) from competing for the GIL with the benchmark's client, whose
timestamps are the measurements. The parent (`ModelHost`) sends one JSON command per line and reads
one JSON reply per line:

    {"op": "script", "model": "fast", "text": "...", "latency": 0.2}   → {"ok": true}
    {"op": "requests"}                                                   → {"requests": [...]}
    {"op": "reset"}                                                      → {"ok": true}

On start the child prints {"port": N}.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def summarize(request: Any) -> dict[str, Any]:
    """What the parent needs to know about one recorded request."""
    return {
        "model": request.model,
        "received_at": request.received_at,
        "finished_at": request.finished_at,
        "status": request.status,
        "disconnected": request.disconnected,
    }


def serve() -> int:
    """Child side: run the fake server and obey commands until stdin closes."""
    sys.path.insert(0, str(REPO_ROOT))
    from tests.fake_models import FakeModelServer

    with FakeModelServer() as server:
        print(json.dumps({"port": server.port}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            operation = command.pop("op")
            reply: dict[str, Any]
            if operation == "script":
                server.script(command.pop("model"), command.pop("text"), **command)
                reply = {"ok": True}
            elif operation == "requests":
                reply = {"requests": [summarize(request) for request in server.requests]}
            elif operation == "reset":
                server.reset()
                reply = {"ok": True}
            else:
                reply = {"error": f"unknown op {operation}"}
            print(json.dumps(reply), flush=True)
    return 0


class ModelHost:
    """Parent side: start the child, script models, read what they were asked."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.model_host"],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.port = int(self._read()["port"])

    @property
    def base_url(self) -> str:
        """The `api_base` of every seat: http://127.0.0.1:PORT/v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the fake model server process exited")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def _call(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def script(self, model: str, text: str, latency: float) -> None:
        """Make `model` answer `text` after `latency` seconds."""
        self._call(op="script", model=model, text=text, latency=latency)

    def requests(self) -> list[dict[str, Any]]:
        """Every request received since the last reset."""
        requests: list[dict[str, Any]] = self._call(op="requests")["requests"]
        return requests

    def reset(self) -> None:
        """Forget the recorded requests."""
        self._call(op="reset")

    def close(self) -> None:
        """Stop the child."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> ModelHost:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(serve())
