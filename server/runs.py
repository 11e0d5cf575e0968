"""Running a panel request: the one run block review, implement and explain share, and their replies.

`DocumentRun.run` takes a request built from a document snapshot, runs the task's pipeline
on it (with the server's memory, which records the run) under progress while edits to the
document are logged, and turns the final result into the reply (its ranges moved to the
current text) before the log closes. Partial results can be applied as they arrive (review
publishes them). When every seat failed, the user gets one message saying why, on either
path below. Progress starts at the seats a request plans to ask (`planned_seats`: an automatic
panel's `panels.auto.size`, at most its candidates); the fan-out's events then give the real count.

A custom request turns a `ChorusError` (excluded file, no panel, no stub) into a
JSON-RPC RequestFailed error for the client to show (an `InputError`, a request that
cannot be served as asked, into InvalidParams); a command (run from a code
action, where the reply is rarely shown) tells the user with `window/showMessage`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from orchestration.learning.routing import planned_seats
from orchestration.panel.fanout import take_turn
from orchestration.panel.seats import EventHandler, all_failed, failure_summary
from orchestration.providers.agents.scope import agent_scope
from orchestration.types.config import ChorusConfig, Task
from orchestration.types.errors import ChorusError, InputError
from orchestration.types.requests import ExplainRequest, ImplementRequest, ReviewRequest
from orchestration.types.results import ExplainResult, ImplementResult, PanelEvent, ResultUpdate, ReviewResult
from server.commands import one_line
from server.document_state import Snapshot
from server.features.progress import PanelProgress
from server.messages import CommandFailure
from server.workspaces import workspace_for

if TYPE_CHECKING:
    from orchestration.memory.writer import StoreWriter
    from server.language_server import ChorusLanguageServer

logger = logging.getLogger(__name__)

Q = TypeVar("Q", ReviewRequest, ImplementRequest, ExplainRequest)
R = TypeVar("R", ReviewResult, ImplementResult, ExplainResult)
A = TypeVar("A")
T = TypeVar("T")
Q_contra = TypeVar("Q_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)

VERBS: dict[Task, str] = {"review": "reviewing", "implement": "implementing", "explain": "explaining"}
"""What progress and messages say a run of each task is doing."""


class Pipeline(Protocol[Q_contra, R_co]):
    """A task's pipeline: `review_selection`, `implement_stub` or `explain_diagnostics`."""

    def __call__(
        self,
        request: Q_contra,
        config: ChorusConfig,
        *,
        workspace: Path | None = ...,
        on_event: EventHandler | None = ...,
        memory: StoreWriter | None = ...,
    ) -> Awaitable[R_co]: ...


@dataclass(frozen=True, slots=True)
class DocumentRun:
    """One panel request on a document: the snapshot it reads, its task and the lines it is about."""

    ls: ChorusLanguageServer
    snapshot: Snapshot
    task: Task
    lines: str
    """The lines after the file's name in the progress title: "3-9", or "12"."""
    token: types.ProgressToken | None

    async def run(
        self,
        pipeline: Pipeline[Q, R],
        request: Q,
        answer: Callable[[R], A],
        on_result: Callable[[R], Awaitable[None]] | None = None,
    ) -> A:
        """Run `pipeline` on `request`; `answer` makes the reply from the final result.

        `on_result` sees every partial result and may see the final one; `answer` runs
        while edits are still logged, so it can move the result's ranges to the current text.
        """
        ls, uri = self.ls, self.snapshot.uri

        async def ask(config: ChorusConfig, on_event: EventHandler) -> R:
            memory = await ls.memory.current()
            workspace = workspace_for(ls, uri)
            with agent_scope(workspace, config.policy, trusted=ls.settings.workspace_trusted):
                return await pipeline(request, config, workspace=workspace, on_event=on_event, memory=memory)

        with ls.documents.watching(self.snapshot.log):
            result = await self.run_panel(ask, on_result)
            return answer(result)

    async def run_panel(
        self,
        ask: Callable[[ChorusConfig, EventHandler], Awaitable[R]],
        on_result: Callable[[R], Awaitable[None]] | None,
    ) -> R:
        """Ask the panel under progress; the notice in force is added, and a panel that all failed is said."""
        ls, verb = self.ls, VERBS[self.task]
        config = ls.settings.require_config()
        name = self.snapshot.document.path.rsplit("/", 1)[-1]
        title = f"Chorus: {verb} {name}:{self.lines}"
        async with PanelProgress(ls, verb, title, planned_seats(config, self.task), self.token) as progress:

            async def on_event(event: PanelEvent) -> None:
                await progress.observe(event)
                if on_result is not None and isinstance(event, ResultUpdate):
                    await on_result(cast(R, event.result))  # A pipeline streams its own kind of result.

            await take_turn()  # When many requests arrive at once, their set-up is spread over loop turns.
            result = await ask(config, on_event)
            if result.notice is None and ls.settings.notice:
                result = result.model_copy(update={"notice": ls.settings.notice})
            if result.models and all_failed(result.models):
                reason = failure_summary(result.models)
                progress.fail(f"no model answered: {reason}")
                ls.show_message(f"Chorus ({verb}): no model answered — {reason}", types.MessageType.Error)
        return result


def request_failed(error: ChorusError) -> JsonRpcException:
    """The JSON-RPC error for a request Chorus could not carry out: InvalidParams for an `InputError`."""
    if isinstance(error, InputError):
        return JsonRpcInvalidParams(one_line(str(error)))
    return JsonRpcException(code=types.LSPErrorCodes.RequestFailed, message=one_line(str(error)))


async def as_request(work: Awaitable[T]) -> T:
    """Await a custom request's work; a `ChorusError` becomes an InvalidParams or RequestFailed reply."""
    try:
        return await work
    except ChorusError as error:
        logger.info("request failed: %s", one_line(str(error)))
        raise request_failed(error) from None


async def as_command(ls: ChorusLanguageServer, work: Awaitable[T]) -> T | CommandFailure:
    """Await a command's work, cancellable by `$/cancelRequest`; a `ChorusError` is shown to the user."""
    with ls.protocol.cancellable_command():
        try:
            return await work
        except ChorusError as error:
            reason = one_line(str(error))
            logger.info("command failed: %s", reason)
            ls.show_message(f"Chorus: {reason}", types.MessageType.Warning)
            return {"error": reason}
