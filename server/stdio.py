"""JSON-RPC over stdio, read straight from the pipe on the event loop.

pygls's stdio reader fetches every header line and every body through a thread
pool, so each message costs several trips between a worker thread and the event
loop. While hundreds of model calls keep the loop busy, each trip waits for a
whole loop iteration, and an editor's `didChange` or `codeAction` sits in the
pipe behind the replies to Chorus's own progress requests for a second or more.

`serve_stdio` instead connects stdin to an asyncio `StreamReader`: everything the
client has written is taken in one go and each message is dispatched as soon as
it is complete. Regular files and terminals (which an asyncio pipe transport
cannot or should not take over) keep pygls's reader. Message handling itself is
pygls's own (`pygls.io_.run_async`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
from typing import TYPE_CHECKING, BinaryIO, Protocol

from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

logger = logging.getLogger(__name__)

READ_LIMIT = 2**24
"""Longest header line the pipe reader accepts (bodies are read by length)."""


class MessageReader(Protocol):
    """What pygls's message loop reads from."""

    async def readline(self) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...


class PipeReader:
    """Reads from an asyncio `StreamReader`; at end of input returns what is left instead of raising."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream

    async def readline(self) -> bytes:
        """One line including its newline; b"" at end of input."""
        return await self.stream.readline()

    async def readexactly(self, n: int) -> bytes:
        """`n` bytes, or fewer at end of input."""
        try:
            return await self.stream.readexactly(n)
        except asyncio.IncompleteReadError as error:
            return error.partial


def is_pipe(stream: BinaryIO) -> bool:
    """True for a pipe or socket, which an asyncio read transport can take over."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def open_reader(stdin: BinaryIO, server: LanguageServer) -> MessageReader:
    """A pipe reader on the event loop when stdin is a pipe, pygls's thread-pool reader otherwise."""
    if is_pipe(stdin):
        loop = asyncio.get_running_loop()
        stream = asyncio.StreamReader(limit=READ_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), stdin)
        return PipeReader(stream)
    logger.info("stdin is not a pipe: reading it through a thread pool")
    return StdinAsyncReader(stdin, server.thread_pool)


async def read_messages(server: LanguageServer, stdin: BinaryIO, stop: threading.Event) -> None:
    """Hand every message on stdin to the server's protocol until end of input or `stop`."""
    reader = await open_reader(stdin, server)
    await run_async(
        stop_event=stop,
        reader=reader,
        protocol=server.protocol,
        logger=logger,
        error_handler=server.report_server_error,
    )


def serve_stdio(server: LanguageServer, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Serve JSON-RPC on `stdin`/`stdout` until the client goes away (pygls's `start_io`, faster reads)."""
    stop = threading.Event()
    server._stop_event = stop
    server.protocol.set_writer(StdoutWriter(stdout))
    try:
        asyncio.run(read_messages(server, stdin, stop))
    except BrokenPipeError:
        logger.error("the connection to the client was lost; shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()
