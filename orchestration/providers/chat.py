"""The one door to litellm: a lazy, quiet import and a single chat call per seat.

litellm takes seconds and hundreds of megabytes to import, so it is imported on first use, in a
worker thread, never at module import time. Once loaded it is made silent on stdout (which belongs
to the language server's JSON-RPC stream), telemetry is off, and its cost map is the bundled one.
`complete_chat` turns every failure into a short, secret-free `ProviderError`; cancellation is never
caught, so cancelling the caller's scope aborts the HTTP request.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
import traceback
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Final, cast

import anyio

from orchestration.offload import off_loop
from orchestration.privacy.gate import LOCAL_PREFIX, PrivacyGate, register_secret, scrub_secrets
from orchestration.types.config import ModelConfig
from orchestration.types.errors import ProviderError

logger = logging.getLogger(__name__)

NO_KEY_NEEDED: Final = "chorus-no-key"
"""Placeholder key for local OpenAI-compatible servers, which ignore it (the client insists on one)."""

LITELLM_LOGGERS: Final = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm")

_litellm: Any = None
_import_lock = anyio.Lock()
_thread_lock = threading.Lock()


def litellm_loaded() -> bool:
    """True once litellm has been imported and configured."""
    return _litellm is not None


def loaded_litellm() -> Any:
    """The configured litellm module, for its token counter and model map; after `ensure_litellm()`."""
    if _litellm is None:
        raise RuntimeError("litellm is not loaded yet: await ensure_litellm() first")
    return _litellm


def _quiet_loggers() -> None:
    """Keep litellm's loggers off stdout: no handlers of their own, warnings and up, to the app's root."""
    for name in LITELLM_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.addHandler(logging.NullHandler())
        logger.setLevel(logging.WARNING)
        logger.propagate = True


WARM_UP_MODULES: Final = (
    "openai.resources",
    "openai.lib.streaming.chat",
    "litellm._service_logger",
    "litellm.llms.openai_like.dynamic_config",
    "litellm.llms.litellm_proxy.chat.transformation",
    "litellm.llms.openai.chat.gpt_audio_transformation",
    "litellm.llms.vertex_ai.vertex_ai_partner_models.anthropic.transformation",
    "litellm.proxy.openai_files_endpoints.common_utils",
)
"""Modules the first chat call would otherwise import lazily, on the event loop (~0.7 s)."""


def _warm_up() -> None:
    """Import what the first call needs now, in the worker thread; missing modules are fine."""
    for name in WARM_UP_MODULES:
        try:
            importlib.import_module(name)
        except Exception:
            continue


def _import_litellm_blocking() -> Any:
    """Import and configure litellm (runs in a worker thread; idempotent)."""
    global _litellm
    with _thread_lock:
        if _litellm is not None:
            return _litellm
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
        os.environ.setdefault("LITELLM_LOG", "WARNING")
        litellm: Any = importlib.import_module("litellm")
        litellm.suppress_debug_info = True
        litellm.set_verbose = False
        litellm.telemetry = False
        litellm.drop_params = True
        for attribute in ("callbacks", "input_callback", "success_callback", "failure_callback"):
            setattr(litellm, attribute, [])
        _quiet_loggers()
        _warm_up()
        _litellm = litellm
        return litellm


async def ensure_litellm() -> None:
    """Import litellm off the event loop, once; concurrent callers wait for the same import."""
    if _litellm is not None:
        return
    async with _import_lock:
        if _litellm is None:
            await anyio.to_thread.run_sync(_import_litellm_blocking, abandon_on_cancel=True)


async def close_clients() -> None:
    """Close litellm's cached async HTTP clients (call before an event loop ends)."""
    if _litellm is None:
        return
    await _litellm.close_litellm_async_clients()
    cache = getattr(_litellm, "in_memory_llm_clients_cache", None)
    if cache is not None:
        cache.flush_cache()


def _api_key(seat_name: str, seat: ModelConfig, model: str, api_base: str | None) -> str | None:
    """The key to send, a placeholder for keyless local servers, or None to let litellm find its own."""
    if seat.api_key_env:
        value = os.environ.get(seat.api_key_env, "").strip()
        if not value:
            raise ProviderError(
                f"{seat.api_key_env} is not set (seat '{seat_name}' reads its API key from it); "
                "set it in the editor's environment"
            )
        register_secret(value)
        return value
    if api_base is not None:
        return NO_KEY_NEEDED
    try:
        report = _litellm.validate_environment(model)
    except Exception:
        return None
    missing = [name for name in report.get("missing_keys", []) if any(w in name for w in ("KEY", "TOKEN"))]
    if missing and not report.get("keys_in_environment"):
        raise ProviderError(
            f"{', '.join(missing)} is not set (needed by seat '{seat_name}' for {model}); "
            "set it or name the variable with api_key_env"
        )
    return None


def _response_format(model: str, json_schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if json_schema is None:
        return None
    try:
        supported = bool(_litellm.supports_response_schema(model))
    except Exception:
        supported = False
    if not supported:
        return None
    return {"type": "json_schema", "json_schema": {"name": "chorus_answer", "schema": json_schema}}


def _short(text: str, limit: int = 200) -> str:
    """First line of a provider message without litellm's 'litellm.X: X: OpenAIException - ' prefixes."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    for separator in ("Exception - ", "Error: "):
        if separator in line:
            line = line.rsplit(separator, 1)[1]
    return line if len(line) <= limit else line[: limit - 1] + "…"


_CONNECTION_FAILURES: Final = frozenset({"ConnectError", "ClientConnectorError", "ClientConnectorDNSError"})
_HANG_UPS: Final = frozenset(
    {"ServerDisconnectedError", "RemoteProtocolError", "ReadError", "ClientPayloadError", "IncompleteRead"}
)
RETRYABLE_STATUSES: Final = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF: Final = 8.0
"""Longest wait between retries when the server does not say (Retry-After) how long to wait."""


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


def _retry_wait(error: BaseException, attempt: int) -> float | None:
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
    exceptions = _litellm.exceptions
    status = getattr(error, "status_code", None)
    detail = _short(str(getattr(error, "message", None) or error))
    kind: Any = "error"
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


async def _resolve_local(model: str) -> tuple[str, str, str]:
    """(api_base, served model name, API key) of the embedded local runtime for a `local/...` id."""
    try:
        local_runtime = importlib.import_module(
            "orchestration.providers.local_runtime"
        )  # Only for local seats.
        api_base, served_name = await local_runtime.local_endpoint(model)
        return str(api_base), str(served_name), str(local_runtime.local_api_key())
    except ProviderError:
        raise
    except Exception as error:
        raise ProviderError(scrub_secrets(f"local model {model} is unavailable: {error}")) from None


async def _prepare_request(
    seat_name: str, seat: ModelConfig, messages: list[dict[str, str]], json_schema: dict[str, Any] | None
) -> tuple[dict[str, Any], str, str | None]:
    """The litellm request for one seat (no retries of litellm's own), its model and its api_base."""
    model, api_base = seat.model, seat.api_base
    api_key: str | None
    if model.startswith(LOCAL_PREFIX):
        api_base, served_name, api_key = await _resolve_local(model)
        model = f"openai/{served_name}"
    else:
        api_key = _api_key(seat_name, seat, model, api_base)
    request: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "temperature": seat.temperature,
        "max_tokens": seat.max_tokens,
        "num_retries": 0,
        "max_retries": 0,
    }
    if api_key is not None:
        request["api_key"] = api_key
    if api_base is not None:
        request["api_base"] = api_base
    response_format = _response_format(model, json_schema)
    if response_format is not None:
        request["response_format"] = response_format
    return request, model, api_base


async def complete_chat(
    seat_name: str,
    seat: ModelConfig,
    messages: list[dict[str, str]],
    *,
    gate: PrivacyGate,
    json_schema: dict[str, Any] | None = None,
) -> str:
    """Ask one seat; returns the answer's text. Raises `ProviderError` ("error" or "timeout").

    Nothing is sent unless `gate` admits the seat, and only the gate's redacted messages go out.
    Transient failures (429, 5xx, a dropped connection) are retried up to `seat.retries` times,
    waiting as long as the server's Retry-After asks (else a growing backoff), all within
    `seat.timeout`: a wait that would pass the timeout is not started, and the failure is
    reported as what it is (rate limited, overloaded), not as a timeout.
    """
    refusal = gate.refusal(seat)
    if refusal is not None:
        raise ProviderError(f"{seat_name}: {refusal}; nothing was sent")
    size = sum(len(message.get("content", "")) for message in messages)
    messages = await off_loop(gate.outbound, messages, size=size)
    await ensure_litellm()
    request, model, api_base = await _prepare_request(seat_name, seat, messages, json_schema)
    give_up_at = anyio.current_time() + seat.timeout
    attempt = 0
    while True:
        remaining = give_up_at - anyio.current_time()
        try:
            with anyio.fail_after(remaining):
                response = await _litellm.acompletion(**request, timeout=remaining)
            break
        except TimeoutError:
            raise ProviderError(f"{seat_name} timed out after {seat.timeout:g} s", "timeout") from None
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as error:
            failure = describe_failure(seat_name, seat, model, api_base, error)
            wait = _retry_wait(error, attempt) if failure.kind == "error" else None
            if wait is None or attempt >= seat.retries:
                raise failure from None
            if anyio.current_time() + wait >= give_up_at:
                raise ProviderError(
                    f"{failure}; the retry {seat_name} asked for in {wait:g} s would pass its "
                    f"timeout of {seat.timeout:g} s"
                ) from None
            attempt += 1
            await anyio.sleep(wait)
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        raise ProviderError(f"{seat_name} returned a response without a message") from None
    return content if isinstance(content, str) else ""
