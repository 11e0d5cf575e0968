"""A minimal JSON-RPC-over-stdio LSP client that timestamps everything, and the server session.

pytest-lsp's client (pygls) structures every message into lsprotocol types, which costs client-side
time that would be counted as Chorus's; this client keeps messages as JSON and reads one frame at a
time on an asyncio stream, so a reply is timestamped the moment its bytes are parsed. It answers the
server's own requests the way an editor would (progress tokens, configuration, registrations).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER_COMMAND = [sys.executable, "-m", "server", "serve"]
PROVIDER_KEY_WORDS = ("API_KEY", "_TOKEN", "ANTHROPIC", "OPENAI", "GEMINI", "MISTRAL", "AZURE", "COHERE")


@dataclass(frozen=True)
class Reply:
    """A response with the moments its request left and its answer arrived (perf_counter)."""

    result: Any
    error: dict[str, Any] | None
    sent: float
    received: float

    @property
    def seconds(self) -> float:
        """Round-trip time."""
        return self.received - self.sent


@dataclass(frozen=True)
class Publish:
    """One textDocument/publishDiagnostics, timestamped."""

    at: float
    uri: str
    count: int


def vscode_capabilities() -> dict[str, Any]:
    """VS Code's real client capabilities, as pytest-lsp recorded them (a small fallback otherwise)."""
    try:
        from lsprotocol.converters import get_converter
        from pytest_lsp import client_capabilities

        capabilities: dict[str, Any] = get_converter().unstructure(client_capabilities("visual-studio-code"))
        return capabilities
    except ImportError:
        return {"window": {"workDoneProgress": True}, "workspace": {"configuration": True}}


def server_env(cache_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's environment: this one without provider keys, with private cache and data directories."""
    env = {key: value for key, value in os.environ.items() if not any(w in key for w in PROVIDER_KEY_WORDS)}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            "XDG_CACHE_HOME": str(cache_dir),
            "XDG_DATA_HOME": str(cache_dir.parent / ".data"),  # The memory's store, private to the run.
            "CHORUS_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra or {})
    return env


class LspClient:
    """JSON-RPC over a child's stdio: requests, notifications, recorded publishes."""

    def __init__(self, process: asyncio.subprocess.Process, spawned_at: float) -> None:
        self.process = process
        self.spawned_at = spawned_at
        self.publishes: list[Publish] = []
        self.server_requests: list[str] = []
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future[Reply], float]] = {}
        self._reader = asyncio.ensure_future(self._read_loop())

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def rss_mb(self) -> float:
        """The server's resident set size in MiB (from /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server has used so far, from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _write(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        body = json.dumps(message, separators=(",", ":")).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def send_request(self, method: str, params: Any) -> asyncio.Future[Reply]:
        """Send a request now; the future resolves to its Reply."""
        msg_id = next(self._ids)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        self._pending[msg_id] = (future, sent)
        self._write({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return future

    async def request(self, method: str, params: Any, within: float = 60.0) -> Reply:
        """Send a request and wait (at most `within` seconds) for its reply."""
        future = self.send_request(method, params)
        assert self.process.stdin is not None
        await self.process.stdin.drain()
        return await asyncio.wait_for(future, within)

    def notify(self, method: str, params: Any) -> None:
        """Send a notification."""
        self._write({"jsonrpc": "2.0", "method": method, "params": params})

    async def _read_loop(self) -> None:
        assert self.process.stdout is not None
        stream = self.process.stdout
        while True:
            try:
                header = await stream.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            length = 0
            for line in header.decode("ascii").split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            body = await stream.readexactly(length)
            now = time.perf_counter()
            self._dispatch(json.loads(body), now)
        for future, _sent in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the language server exited"))

    def _dispatch(self, message: dict[str, Any], now: float) -> None:
        if "method" not in message:
            pending = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
            if pending is not None and not pending[0].done():
                pending[0].set_result(Reply(message.get("result"), message.get("error"), pending[1], now))
            return
        method, params = message["method"], message.get("params") or {}
        if method == "textDocument/publishDiagnostics":
            self.publishes.append(Publish(now, params["uri"], len(params.get("diagnostics") or [])))
        if "id" in message:
            self.server_requests.append(method)
            self._write({"jsonrpc": "2.0", "id": message["id"], "result": self._answer(method, params)})

    @staticmethod
    def _answer(method: str, params: Any) -> Any:
        """What an editor answers to the server's requests."""
        if method == "workspace/configuration":
            return [None for _item in params.get("items", [])]
        if method == "workspace/applyEdit":
            return {"applied": True}
        return None

    def first_publish(self, uri: str, after: float) -> Publish | None:
        """The first publish for `uri` received after `after` (perf_counter)."""
        return next((p for p in self.publishes if p.uri == uri and p.at > after), None)

    def open_document(self, path: Path, text: str) -> str:
        """didOpen a Python document; returns its URI."""
        uri = path.as_uri()
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )
        return uri

    async def close(self) -> None:
        """shutdown, exit, and wait for the process (killing it if it lingers)."""
        with contextlib.suppress(Exception):
            await self.request("shutdown", None, within=10)
            self.notify("exit", None)
            assert self.process.stdin is not None
            await self.process.stdin.drain()
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@dataclass
class Session:
    """A started and initialized server: the client, the workspace, start-up timings."""

    client: LspClient
    workspace: Path
    initialize_seconds: float
    """Process spawn to the `initialize` result."""


@contextlib.asynccontextmanager
async def chorus_server(
    init_options: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    stderr_path: Path | None = None,
) -> AsyncIterator[Session]:
    """Spawn `python -m server serve`, initialize it like VS Code, shut it down afterwards."""
    capabilities = vscode_capabilities()
    with tempfile.TemporaryDirectory(prefix="chorus-bench-") as folder:
        workspace = Path(folder)
        stderr = (stderr_path or workspace / "server.log").open("wb")
        spawned_at = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *SERVER_COMMAND,
            cwd=workspace,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=server_env(workspace / ".cache", env),
            limit=2**24,
        )
        client = LspClient(process, spawned_at)
        try:
            reply = await client.request(
                "initialize",
                {
                    "processId": os.getpid(),
                    "rootUri": workspace.as_uri(),
                    "workspaceFolders": [{"uri": workspace.as_uri(), "name": workspace.name}],
                    "capabilities": capabilities,
                    "initializationOptions": dict(init_options),
                },
            )
            if reply.error is not None:
                raise RuntimeError(f"initialize failed: {reply.error}")
            initialize_seconds = reply.received - spawned_at
            client.notify("initialized", {})
            yield Session(client, workspace, initialize_seconds)
        finally:
            await client.close()
            stderr.close()
