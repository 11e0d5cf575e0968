"""The Chorus language server: `ChorusLanguageServer`, `create_server()` and `run_server()`.

`chorus serve` calls `run_server()`: JSON-RPC on stdio (fd 1 is reserved for it;
anything else that prints goes to stderr) or on TCP for debugging. The server's
state lives in three objects (`settings`, `documents`, `activity`); the handlers
live in `server.features`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer

from orchestration.providers.chat import close_clients
from server import __version__
from server.features.configuration import SettingsState
from server.features.documents import DocumentState
from server.features.progress import Activity
from server.logs import ClientLogHandler, configure_logging
from server.protocol import ChorusProtocol
from server.stdio import serve_stdio

logger = logging.getLogger(__name__)

DEFAULT_TCP_PORT = 2087


class ChorusLanguageServer(LanguageServer):
    """A pygls server that puts a panel of models behind LSP."""

    protocol: ChorusProtocol

    def __init__(self) -> None:
        super().__init__(
            name="chorus",
            version=__version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=ChorusProtocol,
        )
        self.settings = SettingsState()
        self.documents = DocumentState()
        self.activity = Activity()
        self.log_handler: ClientLogHandler | None = None
        self._background: set[asyncio.Task[Any]] = set()

    def attach_client_logging(self) -> None:
        """Forward Chorus's logs to the client from now on (call on the event loop)."""
        if self.log_handler is not None:
            self.log_handler.attach_loop(asyncio.get_running_loop())

    def supports(self, capability: str) -> bool:
        """Whether the client declared a capability, e.g. `"window.work_done_progress"`."""
        capabilities = getattr(self.protocol, "client_capabilities", None)
        if capabilities is None:
            return False
        return bool(get_capability(capabilities, capability, False))

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        """Tell the user something with `window/showMessage` (and log it)."""
        logger.log(logging.WARNING if kind <= types.MessageType.Warning else logging.INFO, "%s", message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def run_in_background(self, work: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        """Run `work` after the current request has answered; failures are logged, not lost."""
        task = asyncio.ensure_future(work)
        self._background.add(task)

        def finished(done: asyncio.Task[Any]) -> None:
            self._background.discard(done)
            if not done.cancelled() and (error := done.exception()) is not None:
                logger.error("%s failed: %s", what, error, exc_info=error)

        task.add_done_callback(finished)
        return task

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log errors outside any request (e.g. a malformed notification) instead of alerting the user."""
        logger.error("%s: %s", getattr(source, "__name__", source), error)


async def shutdown(ls: ChorusLanguageServer, params: None) -> None:
    """Cancel background offers and close the model clients' connections."""
    for task in list(ls._background):
        task.cancel()
    await close_clients()


async def exit_server(ls: ChorusLanguageServer, params: None) -> None:
    """Leave at once, skipping interpreter teardown.

    The client has its shutdown reply and the model clients were closed then;
    litellm's exit hooks would spend seconds opening a fresh event loop to close
    them again, and the stdin reader thread cannot be joined while the client
    keeps the pipe open.
    """
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0 if ls.protocol._shutdown else 1)


def create_server() -> ChorusLanguageServer:
    """A server with every feature registered."""
    from server.features import (
        code_actions,
        configuration,
        documents,
        explain,
        hover,
        implement,
        models,
        progress,
        review,
    )

    server = ChorusLanguageServer()
    server.feature(types.SHUTDOWN)(shutdown)
    server.feature(types.EXIT)(exit_server)
    for feature in (
        configuration,
        documents,
        progress,
        review,
        implement,
        explain,
        code_actions,
        models,
        hover,
    ):
        feature.register(server)
    return server


def claim_stdout() -> BinaryIO:
    """Reserve fd 1 for JSON-RPC: returns a private handle on it and points fd 1 at stderr.

    Whatever else prints to stdout (a library's print, a C extension) then lands on
    stderr instead of corrupting the protocol stream.
    """
    sys.stdout.flush()
    rpc_fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(rpc_fd, "wb")


def run_server(transport: str = "stdio", host: str | None = None, port: int | None = None) -> None:
    """Serve until the client exits: `transport` is "stdio" or "tcp" (on host:port)."""
    server = create_server()
    server.log_handler = configure_logging(server)
    if transport == "tcp":
        server.start_tcp(host or "127.0.0.1", port or DEFAULT_TCP_PORT)
    elif transport == "stdio":
        serve_stdio(server, sys.stdin.buffer, claim_stdout())
    else:
        raise ValueError(f"unknown transport {transport!r} (expected 'stdio' or 'tcp')")
