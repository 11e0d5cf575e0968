"""Logging for the language server: stderr always, `window/logMessage` once a client is connected.

stdout belongs to JSON-RPC. Chorus's own loggers (`server`, `orchestration`) go
to the client's output panel once a client is connected, and to stderr before
that (and errors always): editors show the server's stderr too, so a line on both
would appear twice, the stderr copy marked as an error. pygls's and litellm's
chatter goes to stderr only, and only at warning level unless `CHORUS_LOG_LEVEL`
says otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

FORWARDED_LOGGERS = ("server", "orchestration")

LSP_LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
    logging.DEBUG: types.MessageType.Log,
}


def message_type_for(level: int) -> types.MessageType:
    """The `window/logMessage` type for a logging level."""
    for threshold in (logging.ERROR, logging.WARNING, logging.INFO):
        if level >= threshold:
            return LSP_LEVELS[threshold]
    return types.MessageType.Log


class ClientLogHandler(logging.Handler):
    """Forwards records to the client as `window/logMessage`, always from the event loop's thread."""

    def __init__(self, server: LanguageServer) -> None:
        super().__init__(level=logging.INFO)
        self.server = server
        self.loop: asyncio.AbstractEventLoop | None = None
        self._sending = threading.local()

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start forwarding: records from other threads are handed to `loop`."""
        self.loop = loop

    def forwarding(self) -> bool:
        """True while records reach the client."""
        return self.loop is not None and not self.loop.is_closed()

    def emit(self, record: logging.LogRecord) -> None:
        """Send one record, unless no client is connected or this is a nested call."""
        loop = self.loop
        if loop is None or not self.forwarding() or getattr(self._sending, "active", False):
            return
        params = types.LogMessageParams(type=message_type_for(record.levelno), message=self.format(record))
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._send(params)
        else:
            loop.call_soon_threadsafe(self._send, params)

    def _send(self, params: types.LogMessageParams) -> None:
        self._sending.active = True
        try:
            self.server.window_log_message(params)
        except Exception:  # A log line must never take the server down.
            pass
        finally:
            self._sending.active = False


class WithoutTraceback(logging.Formatter):
    """'name: message', without the record's traceback (errors keep theirs in the stderr log)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's logger name and message only."""
        return f"{record.name}: {record.getMessage()}"


class NotSentToClient(logging.Filter):
    """For stderr: drops records the client already receives as `window/logMessage` (errors stay)."""

    def __init__(self, client: ClientLogHandler) -> None:
        super().__init__()
        self.client = client

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record unless the client handler sends it (forwarded logger, level, connected)."""
        if record.levelno >= logging.ERROR or record.levelno < self.client.level:
            return True
        return not (record.name.split(".")[0] in FORWARDED_LOGGERS and self.client.forwarding())


def configure_logging(server: LanguageServer) -> ClientLogHandler:
    """Route logs to stderr and the client; returns the client handler (attach its loop later)."""
    level_name = os.environ.get("CHORUS_LOG_LEVEL", "INFO").upper()
    level = (
        logging.getLevelName(level_name)
        if isinstance(logging.getLevelName(level_name), int)
        else logging.INFO
    )
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [stderr]
    root.setLevel(logging.WARNING if level > logging.DEBUG else logging.DEBUG)
    client = ClientLogHandler(server)
    client.setFormatter(WithoutTraceback())
    stderr.addFilter(NotSentToClient(client))
    for name in FORWARDED_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(client)
    return client
