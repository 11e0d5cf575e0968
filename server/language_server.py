"""`ChorusLanguageServer`: the pygls server object every handler receives, and the state it carries.

The server's state lives in four objects: `settings` (the configuration in force,
`server.settings`), `documents` (snapshots and stored diagnostics, `server.document_state`),
`activity` (running requests, each seat's last status, progress tokens) and `memory` (the
store's writer for the configuration in force, `server.memory`). This module
imports no feature: the features import it (for their handlers' type hints, which pygls
reads at run time), and `server.app` registers them on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer

from orchestration.types.results import ModelStatus
from server import __version__
from server.document_state import DocumentState
from server.logs import ClientLogHandler
from server.memory import ServerMemory
from server.protocol import ChorusProtocol
from server.settings import SettingsState

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Activity:
    """Running panel requests, the last status of each seat, and progress tokens → tasks."""

    running: dict[str, str] = field(default_factory=dict)
    last_status: dict[str, ModelStatus] = field(default_factory=dict)
    tasks_by_token: dict[types.ProgressToken, asyncio.Task[object]] = field(default_factory=dict)

    def cancel(self, token: types.ProgressToken) -> bool:
        """Cancel the run reporting under `token`; False when no run uses it."""
        task = self.tasks_by_token.get(token)
        if task is None:
            return False
        task.cancel()
        return True


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
        self.memory = ServerMemory()
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

    def cancel_background(self) -> None:
        """Cancel every background task still running (at shutdown)."""
        for task in list(self._background):
            task.cancel()

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log errors outside any request (e.g. a malformed notification) instead of alerting the user."""
        logger.error("%s: %s", getattr(source, "__name__", source), error)
