"""pygls's LSP protocol, extended with Chorus's methods and robustness fixes.

- Chorus's custom requests are structured into attrs types (`server.messages`),
  so their params arrive typed and validated.
- A request whose params cannot be structured is answered with an InvalidParams
  error naming the problem (pygls alone drops it and the client waits forever);
  a request for a notification-only method gets MethodNotFound. Either leaves one
  log line (method and reason), not pygls's validation traceback; so does a
  notification with bad params. An unexpected failure to structure keeps its traceback.
- Every error reply is one line without a traceback (pygls sends an unexpected
  exception's traceback, with the server's file paths, in the error's `data`).
- `$/cancelRequest` for a `workspace/executeCommand` also cancels the command's
  task: pygls runs commands behind a generator and would only cancel the wrapper.
- `notify_json` sends a notification whose params are already JSON, skipping the
  JSON → lsprotocol → JSON round trip (diagnostics are published many times per review).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import attrs
import cattrs
from cattrs.v import format_exception
from lsprotocol.types import ResponseError
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcMethodNotFound,
)
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, LanguageServerProtocol

from server.commands import one_line
from server.memory_messages import InvalidValue
from server.messages import MESSAGE_TYPES

if TYPE_CHECKING:
    from cattrs import Converter
    from pygls.lsp.server import LanguageServer

logger = logging.getLogger(__name__)

MsgId = int | str

SERVER_PATH = re.compile(r"(?:/|[A-Za-z]:\\)[^\s'\"]*\.py\b")
"""A source file path, as it may appear in an exception's text."""


def is_message_id(value: Any) -> bool:
    """True for a JSON-RPC request id (a string or an integer)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


@attrs.define
class MalformedRequest:
    """A request that could not be structured: answered with `error`, never handled."""

    id: MsgId
    method: str
    error: JsonRpcException
    jsonrpc: str = "2.0"


def explain_value(error: BaseException, kind: type | None) -> str:
    """cattrs's wording for a value that did not fit, except a validator's own reason (`InvalidValue`)."""
    if isinstance(error, InvalidValue):
        return str(error)
    return format_exception(error, kind)


def describe_structure_error(method: str, error: BaseException | None) -> str:
    """A short, readable, one-line reason for an InvalidParams error."""
    if isinstance(error, cattrs.BaseValidationError):
        found = cattrs.transform_error(error, path="$", format_exception=explain_value)
        reasons = [reason.replace("@ $.", "@ ") for reason in found]
        return one_line(f"invalid params for {method}: " + "; ".join(reasons))
    return one_line(f"invalid params for {method}: {error}" if error else f"invalid params for {method}")


def safe_error(error: ResponseError) -> ResponseError:
    """An error reply as the client may see it: one line, no traceback, no server file paths.

    pygls puts the traceback of an unexpected exception in the error's `data`; it
    goes to the server's stderr log instead.
    """
    data = error.data
    if isinstance(data, dict) and "traceback" in data:
        data = None
    message = one_line(error.message or "")
    if error.code == JsonRpcInternalError.CODE:
        message = SERVER_PATH.sub("<server>", message)
    return ResponseError(code=error.code, message=message, data=data)


class ChorusProtocol(LanguageServerProtocol):
    """The LSP protocol with Chorus's message types, InvalidParams replies and command cancellation."""

    def __init__(self, server: LanguageServer, converter: Converter) -> None:
        super().__init__(server, converter)
        self.command_tasks: dict[MsgId, asyncio.Task[Any]] = {}

    def get_message_type(self, method: str) -> type[Any] | None:  # type: ignore[override]  # pygls caches it
        """Chorus's envelope types first, then lsprotocol's."""
        return MESSAGE_TYPES.get(method) or super().get_message_type(method)

    def structure_message(self, data: dict[str, Any]) -> Any:
        """Structure a message; a request with bad params becomes a `MalformedRequest`.

        So does a request for a method that is only a notification (`chorus/status`,
        `textDocument/didOpen`, …), which pygls would take for a notification and
        never answer. A notification with bad params raises `JsonRpcInvalidParams`
        naming the problem. Either is logged on one line: pygls would log the whole
        validation traceback. Responses, and requests whose id is not a valid id, are
        left to pygls.
        """
        method = data.get("method")
        if "jsonrpc" not in data or "error" in data or not isinstance(method, str):
            return super().structure_message(data)
        is_request = "id" in data
        if is_request and not is_message_id(data["id"]):
            return super().structure_message(data)
        fallback = JsonRPCRequestMessage if is_request else JsonRPCNotification
        try:
            message = self._converter.structure(data, self.get_message_type(method) or fallback)
        except Exception as error:
            if not isinstance(error, cattrs.BaseValidationError):
                logger.exception("structuring a %s message failed unexpectedly", method)
            invalid = JsonRpcInvalidParams(describe_structure_error(method, error))
            if not is_request:
                raise invalid from None
            return MalformedRequest(id=data["id"], method=method, error=invalid)
        if is_request and not hasattr(message, "id"):
            refusal = JsonRpcMethodNotFound(f"{method} is a notification, not a request")
            return MalformedRequest(id=data["id"], method=method, error=refusal)
        return message

    def handle_message(self, message: Any) -> None:
        """Answer malformed requests with their error; hand everything else to pygls."""
        if isinstance(message, MalformedRequest):
            logger.warning("rejected %s request %r: %s", message.method, message.id, message.error.message)
            self._send_response(message.id, error=message.error.to_response_error())
            return
        super().handle_message(message)

    def _send_response(
        self, msg_id: MsgId, result: Any | None = None, error: ResponseError | None = None
    ) -> None:
        """Send a reply; an error goes out as `safe_error` makes it (one line, no traceback)."""
        super()._send_response(msg_id, result=result, error=None if error is None else safe_error(error))

    def _send_handler_result(self, future: Any, *, msg_id: MsgId) -> None:
        """Send a handler's reply; an expected JSON-RPC error is logged on one line, not as a traceback."""
        if not future.cancelled() and isinstance(error := future.exception(), JsonRpcException):
            self._request_futures.pop(msg_id, None)
            logger.info("request %r answered with error %d: %s", msg_id, error.code, one_line(error.message))
            self._send_response(msg_id, error=error.to_response_error())
            return
        super()._send_handler_result(future, msg_id=msg_id)

    def _handle_cancel_notification(self, msg_id: MsgId) -> None:
        """Cancel the command task registered for `msg_id`, then let pygls cancel the request."""
        task = self.command_tasks.pop(msg_id, None)
        if task is not None:
            logger.info("cancelling command request %r", msg_id)
            task.cancel()
        super()._handle_cancel_notification(msg_id)

    def notify_json(self, method: str, params: dict[str, Any]) -> None:
        """Send a notification whose params are plain JSON, as they are."""
        self._send_data({"jsonrpc": self.VERSION, "method": method, "params": params})

    @contextmanager
    def cancellable_command(self) -> Iterator[None]:
        """Within a command handler: let `$/cancelRequest` for this request cancel the current task."""
        msg_id = self.msg_id
        task = asyncio.current_task()
        if msg_id is None or task is None:
            yield
            return
        self.command_tasks[msg_id] = task
        try:
            yield
        finally:
            self.command_tasks.pop(msg_id, None)
