"""JSON-RPC over stdio, read straight from the pipe on the event loop.

pygls's stdio reader fetches every header line and every body through a thread
pool, so each message costs several trips between a worker thread and the event
loop. While hundreds of model calls keep the loop busy, each trip waits for a
whole loop iteration, and an editor's `didChange` or `codeAction` sits in the
pipe behind the replies to Chorus's own progress requests for a second or more.

`serve_stdio` instead connects stdin to an asyncio `StreamReader`: everything the
client has written is taken in one go and each message is dispatched as soon as
it is complete. Regular files and terminals (which an asyncio pipe transport
cannot or should not take over) are read by a thread that feeds the same reader.
Framing is `server.framing`'s, which recovers from malformed headers; message
handling itself is pygls's own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
from typing import TYPE_CHECKING, BinaryIO

from pygls.io_ import StdoutWriter

from server.framing import CHUNK, FrameReader, decode_message

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer
    from pygls.protocol import JsonRPCProtocol

logger = logging.getLogger(__name__)

READ_LIMIT = 2**24
"""Longest header line the pipe reader accepts (bodies are read by length)."""


def is_pipe(stream: BinaryIO) -> bool:
    """True for a pipe or socket, which an asyncio read transport can take over."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def feed_from_thread(stdin: BinaryIO, stream: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
    """Feed `stream` from a daemon thread that reads `stdin` (a regular file or a terminal)."""

    read = getattr(stdin, "read1", stdin.read)  # read1: whatever is there, without waiting for CHUNK bytes.

    def pump() -> None:
        while True:
            try:
                chunk = read(CHUNK)
            except (OSError, ValueError):
                chunk = b""
            try:
                if chunk:
                    loop.call_soon_threadsafe(stream.feed_data, chunk)
                else:
                    loop.call_soon_threadsafe(stream.feed_eof)
                    return
            except RuntimeError:  # The loop is closed: the server is gone.
                return

    threading.Thread(target=pump, name="chorus-stdin", daemon=True).start()


async def open_stream(stdin: BinaryIO) -> asyncio.StreamReader:
    """A `StreamReader` over stdin: an asyncio pipe transport when it is a pipe, a reader thread otherwise."""
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader(limit=READ_LIMIT)
    if is_pipe(stdin):
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), stdin)
    else:
        logger.info("stdin is not a pipe: reading it from a thread")
        feed_from_thread(stdin, stream, loop)
    return stream


def deliver(protocol: JsonRPCProtocol, body: bytes) -> None:
    """Structure one message body and hand it to the protocol; failures are logged on one line."""
    data = decode_message(body)
    if data is None:
        return
    try:
        protocol.handle_message(protocol.structure_message(data))
    except Exception as error:
        logger.error("could not handle a message (%s): %s", type(error).__name__, str(error).split("\n")[0])
        logger.debug("handling a message failed", exc_info=error)


async def read_messages(server: LanguageServer, stdin: BinaryIO, stop: threading.Event) -> None:
    """Hand every message on stdin to the server's protocol until end of input or `stop`."""
    reader = FrameReader(await open_stream(stdin), READ_LIMIT)
    while not stop.is_set():
        body = await reader.next_body()
        if body is None:
            break
        deliver(server.protocol, body)


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
        server.shutdown()  # type: ignore[no-untyped-call]  # pygls leaves it unannotated
