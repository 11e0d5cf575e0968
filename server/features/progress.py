"""Work-done progress, `chorus/status` and cancellation for every panel run.

Each run reports through `$/progress` ("2/3 models answered — claude 1.2 s,
codex timed out") with a token the client passed (`workDoneToken`) or one the
server created (`window/workDoneProgress/create`, when the client supports it).
The progress is cancellable: `window/workDoneProgress/cancel` cancels the run's
task, which cancels the model calls and closes their connections.

`chorus/status` also carries the budget's state (`budget`: "budget: $4.62 of $5.00 today") once a
`[budget]` daily or monthly limit is near or reached. It is read from the memory's ledger after each
run, in the background (`refresh_budget`: what the run just recorded is flushed first, and the read
is bounded), and the last status is sent again when it changes; every later status carries it too.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
from lsprotocol import types

from orchestration.learning.budget import budget_status
from orchestration.types.results import ModelStatus, PanelEvent, SeatFinished, SeatStarted
from server.messages import STATUS, StatusParams

if TYPE_CHECKING:
    from server.language_server import ChorusLanguageServer

logger = logging.getLogger(__name__)

CREATE_TIMEOUT = 5.0
"""Seconds to wait for the client to accept a server-created progress token."""


def progress_line(answered: int, total: int, statuses: list[ModelStatus]) -> str:
    """'2/3 models answered — claude 1.2 s, codex timed out'."""
    line = f"{answered}/{total} models answered"
    if statuses:
        line += " — " + ", ".join(status.describe() for status in statuses)
    return line


BUDGET_FLUSH_S = 1.0
"""How long the budget's read waits for the run just finished to be written."""
BUDGET_READ_S = 5.0
"""How long the budget's read of the ledger may take (in the background: no request waits for it)."""


@dataclass(slots=True)
class StatusLine:
    """The last `chorus/status` sent, and the budget line every status carries."""

    state: str = "idle"
    message: str = "ready"
    budget: str | None = None


_status_lines: weakref.WeakKeyDictionary[ChorusLanguageServer, StatusLine] = weakref.WeakKeyDictionary()


def status_line(ls: ChorusLanguageServer) -> StatusLine:
    """The server's status line (made on first use)."""
    line = _status_lines.get(ls)
    if line is None:
        line = _status_lines[ls] = StatusLine()
    return line


def send_status(ls: ChorusLanguageServer, state: str, message: str) -> None:
    """Send `chorus/status` with the number of running requests and the budget line."""
    line = status_line(ls)
    line.state, line.message = state, message
    active = len(ls.activity.running)
    params = StatusParams(state=state, message=message, active=active, budget=line.budget)
    ls.protocol.notify(STATUS, params)


async def refresh_budget(ls: ChorusLanguageServer) -> None:
    """Read the budget's state from the ledger; when it changed, send the last status again with it."""
    config = ls.settings.config
    writer = await ls.memory.current()
    text: str | None = None
    if config is not None and writer is not None:
        if config.budget.daily_usd is not None or config.budget.monthly_usd is not None:
            await anyio.to_thread.run_sync(writer.flush, BUDGET_FLUSH_S)  # Count the run just recorded.
        text = await budget_status(config.budget, writer, wait=BUDGET_READ_S)
    line = status_line(ls)
    if text != line.budget:
        line.budget = text
        send_status(ls, line.state, line.message)


class PanelProgress:
    """`async with PanelProgress(ls, "reviewing", title, total, token) as progress:` around one run."""

    def __init__(
        self,
        ls: ChorusLanguageServer,
        verb: str,
        title: str,
        total: int,
        token: types.ProgressToken | None = None,
    ) -> None:
        self.ls = ls
        self.verb = verb
        self.title = title
        self.total = total
        self.token = token
        self.run_id = str(uuid.uuid4())
        self.statuses: list[ModelStatus] = []
        self.failure: str | None = None
        self.working: set[str] = set()
        """Seats asked and not finished yet."""
        self.owner: asyncio.Task[object] | None = None
        self.creating: asyncio.Task[object] | None = None
        """The background request for a server-created token, while it is pending."""

    async def __aenter__(self) -> PanelProgress:
        self.owner = asyncio.current_task()
        if self.token is not None:
            self._begin(self.token)
        elif self.ls.supports("window.work_done_progress"):
            self.creating = self.ls.run_in_background(self._create_then_begin(), "creating a progress token")
        self.ls.activity.running[self.run_id] = f"{self.verb}: 0 of {self.total} models"
        send_status(self.ls, "busy", self.ls.activity.running[self.run_id])
        return self

    def _begin(self, token: types.ProgressToken) -> None:
        """Start reporting under `token`; cancelling it from the client cancels the run's task."""
        self.token = token
        if self.owner is not None:
            self.ls.activity.tasks_by_token[token] = self.owner
        begin = types.WorkDoneProgressBegin(
            title=self.title, message=f"asking {self.total} models", percentage=0, cancellable=True
        )
        self.ls.work_done_progress.begin(token, begin)

    async def _create_then_begin(self) -> None:
        """Ask the client for a token while the run already works; begin (and catch up) once it agrees.

        The run does not wait for this round trip: the models are asked at once.
        """
        token = f"chorus-{uuid.uuid4()}"
        try:
            with anyio.fail_after(CREATE_TIMEOUT):
                await self.ls.work_done_progress.create_async(token)
        except Exception as error:
            logger.info("no progress for this request: %s", error)
            return
        self._begin(token)
        if self.statuses:
            self._report()

    def summary(self) -> str:
        """'2/3 models answered — …' for this run so far."""
        return progress_line(len(self.statuses), self.total, self.statuses)

    def _report(self) -> None:
        """Send the latest state as a `$/progress` report."""
        if self.token is None:
            return
        percentage = int(100 * len(self.statuses) / max(self.total, 1))
        report = types.WorkDoneProgressReport(message=self.summary(), percentage=percentage, cancellable=True)
        self.ls.work_done_progress.report(self.token, report)

    async def observe(self, event: PanelEvent) -> None:
        """Report a finished seat: to `$/progress`, `chorus/status` and the seat's last status."""
        if isinstance(event, SeatStarted):
            self.working.add(event.name)
        if not isinstance(event, SeatFinished):
            return
        self.working.discard(event.status.name)
        self.statuses.append(event.status)
        self.total = event.total
        self.ls.activity.last_status[event.status.name] = event.status
        self._report()
        self.ls.activity.running[self.run_id] = f"{self.verb}: {event.answered} of {event.total} models"
        send_status(self.ls, "busy", self.ls.activity.running[self.run_id])

    def record_cancelled_seats(self) -> None:
        """The run was cancelled: seats still working get "cancelled" as their last status."""
        config = self.ls.settings.config
        for name in sorted(self.working):
            seat = config.models.get(name) if config is not None else None
            model = seat.model if seat is not None else ""
            reason = "the request was cancelled"
            self.ls.activity.last_status[name] = ModelStatus(
                name=name, model=model, status="cancelled", error=reason
            )
        self.working.clear()

    def fail(self, reason: str) -> None:
        """Mark the run as failed; the final status says why."""
        self.failure = reason

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        cancelled = kind is not None and issubclass(kind, asyncio.CancelledError)
        if cancelled:
            self.record_cancelled_seats()
        if self.creating is not None and not self.creating.done():
            if cancelled:
                self.creating.cancel()
            else:
                await self.creating  # A run faster than the client's reply still shows its progress.
        if self.token is not None:
            self.ls.activity.tasks_by_token.pop(self.token, None)
            summary = self.summary()
            if cancelled:
                summary = f"cancelled after {summary}"
            elif error is not None:
                summary = f"failed: {error}"
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=summary))
            self.ls.work_done_progress.tokens.pop(self.token, None)
        self.ls.activity.running.pop(self.run_id, None)
        if error is not None and not cancelled:
            self.failure = self.failure or str(error)
        if self.ls.activity.running:
            send_status(self.ls, "busy", next(iter(self.ls.activity.running.values())))
        elif self.failure:
            send_status(self.ls, "error", self.failure)
        else:
            send_status(self.ls, "idle", "cancelled" if cancelled else "ready")
        self.ls.run_in_background(refresh_budget(self.ls), "reading the budget")


async def window_work_done_progress_cancel(
    ls: ChorusLanguageServer, params: types.WorkDoneProgressCancelParams
) -> None:
    """The user pressed cancel on a progress notification: cancel that run."""
    if ls.activity.cancel(params.token):
        logger.info("cancelled the run reporting under progress token %r", params.token)


def register(server: ChorusLanguageServer) -> None:
    """Register the progress cancellation handler."""
    server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)(window_work_done_progress_cancel)
