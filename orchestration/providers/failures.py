"""What went wrong with a model call, in a few secret-free words, and whether to try again.

`describe_failure` turns a litellm, openai or httpx exception into a short, scrubbed
`ProviderError` ("rate limited (HTTP 429)", "cannot connect to …"); `retry_wait` says how long to
wait before a retry (the server's Retry-After, else a growing backoff) or that a retry is not worth
it; `nothing_sent` says whether the request never reached the server (another endpoint may be
tried at once); `log_unexpected` logs what no provider should raise, with its traceback, scrubbed.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Final, cast

from orchestration.privacy.gate import scrub_secrets
from orchestration.providers.loading import loaded_litellm
from orchestration.types.config import ModelConfig
from orchestration.types.errors import FailureKind, ProviderError

logger = logging.getLogger(__name__)

_CONNECTION_FAILURES: Final = frozenset({"ConnectError", "ClientConnectorError", "ClientConnectorDNSError"})
_HANG_UPS: Final = frozenset(
    {"ServerDisconnectedError", "RemoteProtocolError", "ReadError", "ClientPayloadError", "IncompleteRead"}
)
RETRYABLE_STATUSES: Final = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF: Final = 8.0
"""Longest wait between retries when the server does not say (Retry-After) how long to wait."""


def _short(text: str, limit: int = 200) -> str:
    """First line of a provider message without litellm's 'litellm.X: X: OpenAIException - ' prefixes."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    for separator in ("Exception - ", "Error: "):
        if separator in line:
            line = line.rsplit(separator, 1)[1]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _chain(error: BaseException) -> list[BaseException]:
    """`error` and every exception it was raised from, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _is_connection_failure(error: BaseException) -> bool:
    return any(
        type(seen).__name__ in _CONNECTION_FAILURES or isinstance(seen, ConnectionRefusedError)
        for seen in _chain(error)
    )


def nothing_sent(error: BaseException) -> bool:
    """True when the request never reached the server (the connection could not be made)."""
    return _is_connection_failure(error)


def _hung_up(error: BaseException) -> bool:
    """True when the server closed the connection before a whole answer arrived (an EOF)."""
    return any(type(seen).__name__ in _HANG_UPS for seen in _chain(error))


def _unreadable(error: BaseException) -> bool:
    """True when an answer arrived but its body could not be read (broken JSON)."""
    return any(type(seen).__name__ == "JSONDecodeError" for seen in _chain(error))


def _response_headers(error: BaseException) -> Mapping[str, str]:
    for seen in _chain(error):
        headers = getattr(seen, "litellm_response_headers", None)
        if headers is None:
            headers = getattr(getattr(seen, "response", None), "headers", None)
        if headers is not None:
            return cast(Mapping[str, str], headers)
    return {}


def retry_after(error: BaseException) -> float | None:
    """Seconds the server asked to wait before a retry (Retry-After / retry-after-ms), if it said."""
    headers = _response_headers(error)
    try:
        if (milliseconds := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(milliseconds) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, AttributeError):
        return None


def retry_wait(error: BaseException, attempt: int) -> float | None:
    """How long to wait before retrying after `error`, or None when it is not worth a retry."""
    status = getattr(error, "status_code", None)
    retryable = status in RETRYABLE_STATUSES or _is_connection_failure(error) or _hung_up(error)
    if not retryable or _unreadable(error):
        return None
    asked = retry_after(error)
    return asked if asked is not None else min(MAX_BACKOFF, 0.5 * 2**attempt)


def describe_failure(
    seat_name: str, seat: ModelConfig, model: str, api_base: str | None, error: Exception
) -> ProviderError:
    """Turn a litellm/openai/httpx exception into a short, scrubbed `ProviderError`.

    An exception of a kind no provider raises (a bug somewhere) is also logged with its traceback.
    """
    exceptions = loaded_litellm().exceptions
    status = getattr(error, "status_code", None)
    detail = _short(str(getattr(error, "message", None) or error))
    kind: FailureKind = "error"
    if isinstance(error, exceptions.Timeout):
        message, kind = f"{seat_name} timed out after {seat.timeout:g} s", "timeout"
    elif isinstance(error, exceptions.RateLimitError):
        message = f"{seat_name} is rate limited (HTTP 429): {detail}"
    elif isinstance(error, exceptions.AuthenticationError):
        message = f"{seat_name} rejected the API key (HTTP 401): {detail}"
    elif _is_connection_failure(error):
        message = f"{seat_name}: cannot connect to {api_base or model}"
    elif _unreadable(error):
        message = f"{seat_name} returned an unreadable response: {detail}"
    elif _hung_up(error):
        message = f"{seat_name}: {api_base or model} closed the connection before answering"
    elif isinstance(status, int) and status >= 400:
        message = f"HTTP {status} from {seat_name}: {detail}"
    else:
        message = f"{seat_name} failed: {type(error).__name__}: {detail}"
        if not isinstance(error, exceptions.APIError | exceptions.OpenAIError):
            log_unexpected(f"seat {seat_name}: unexpected {type(error).__name__} from the model call", error)
    return ProviderError(scrub_secrets(message), kind)


def log_unexpected(what: str, error: BaseException) -> None:
    """Log an unexpected exception with its traceback (scrubbed), for the server log or stderr."""
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    logger.error("%s\n%s", scrub_secrets(what), scrub_secrets(trace.rstrip()))
