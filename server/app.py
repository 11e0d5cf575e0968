"""Building and running the Chorus language server: `create_server()` and `run_server()`.

`chorus serve` calls `run_server()`: JSON-RPC on stdio (fd 1 is reserved for it;
anything else that prints goes to stderr) or on TCP for debugging. The server object
is `server.language_server.ChorusLanguageServer`; `create_server()` registers every
module of `server.features` on it, plus shutdown and exit.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import BinaryIO

from lsprotocol import types

from orchestration.providers.chat import close_clients
from server.features import (
    code_actions,
    configuration,
    documents,
    explain,
    feedback,
    hover,
    implement,
    models,
    progress,
    review,
    stats,
)
from server.language_server import ChorusLanguageServer
from server.logs import configure_logging
from server.stdio import serve_stdio

logger = logging.getLogger(__name__)

DEFAULT_TCP_PORT = 2087
EXIT_FLUSH_S = 2.0
"""How long an exit without shutdown waits for the memory to write what it has queued."""
FEATURES = (
    configuration,
    documents,
    progress,
    review,
    implement,
    explain,
    code_actions,
    feedback,
    stats,
    models,
    hover,
)
"""Every feature module, in the order their handlers are registered."""


async def shutdown(ls: ChorusLanguageServer, params: None) -> None:
    """Write what the memory has queued and close it, cancel background offers, close the model clients."""
    await ls.memory.close()
    ls.cancel_background()
    await close_clients()


async def exit_server(ls: ChorusLanguageServer, params: None) -> None:
    """Leave at once, skipping interpreter teardown.

    The client has its shutdown reply and the model clients were closed then;
    litellm's exit hooks would spend seconds opening a fresh event loop to close
    them again, and the stdin reader thread cannot be joined while the client
    keeps the pipe open.
    """
    if (writer := ls.memory.writer) is not None:  # An exit without shutdown: keep what is queued.
        writer.close(timeout=EXIT_FLUSH_S)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0 if ls.protocol._shutdown else 1)


def create_server() -> ChorusLanguageServer:
    """A server with every feature registered."""
    server = ChorusLanguageServer()
    server.feature(types.SHUTDOWN)(shutdown)
    server.feature(types.EXIT)(exit_server)
    for feature in FEATURES:
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
