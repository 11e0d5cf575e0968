"""What every panel request shares: configuration, progress, failures, and error replies.

A custom request turns a `ChorusError` (excluded file, no panel, no stub) into a
JSON-RPC RequestFailed error for the client to show (an `InputError`, a request that
cannot be served as asked, into InvalidParams); a command (run from a code
action, where the reply is rarely shown) tells the user with `window/showMessage`.
When every seat failed, the user gets one message saying why, on either path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from orchestration.panel.fanout import take_turn
from orchestration.panel.seats import EventHandler, all_failed, failure_summary
from orchestration.types.config import ChorusConfig, Task
from orchestration.types.errors import ChorusError, InputError
from orchestration.types.results import ExplainResult, ImplementResult, PanelEvent, ResultUpdate, ReviewResult
from server.commands import one_line
from server.features.progress import PanelProgress

if TYPE_CHECKING:
    from server.app import ChorusLanguageServer

logger = logging.getLogger(__name__)

R = TypeVar("R", ReviewResult, ImplementResult, ExplainResult)
T = TypeVar("T")


async def run_panel(
    ls: ChorusLanguageServer,
    *,
    task: Task,
    verb: str,
    title: str,
    token: types.ProgressToken | None,
    pipeline: Callable[[ChorusConfig, EventHandler], Awaitable[R]],
    on_result: Callable[[Any], Awaitable[None]] | None = None,
) -> R:
    """Run one pipeline under progress; `on_result` sees every partial and the final result."""
    config = ls.settings.require_config()
    async with PanelProgress(ls, verb, title, len(config.panel_for(task)), token) as progress:

        async def on_event(event: PanelEvent) -> None:
            await progress.observe(event)
            if on_result is not None and isinstance(event, ResultUpdate):
                await on_result(event.result)

        await take_turn()  # When many requests arrive at once, their set-up is spread over loop turns.
        result = await pipeline(config, on_event)
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


async def as_command(ls: ChorusLanguageServer, work: Awaitable[T]) -> T | dict[str, str]:
    """Await a command's work, cancellable by `$/cancelRequest`; a `ChorusError` is shown to the user."""
    with ls.protocol.cancellable_command():
        try:
            return await work
        except ChorusError as error:
            reason = one_line(str(error))
            logger.info("command failed: %s", reason)
            ls.show_message(f"Chorus: {reason}", types.MessageType.Warning)
            return {"error": reason}
