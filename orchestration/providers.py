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
from typing import Any, Final

import anyio

from orchestration.config import ModelConfig
from orchestration.errors import ProviderError
from orchestration.privacy import LOCAL_PREFIX, PrivacyGate, scrub_secrets

NO_KEY_NEEDED: Final = "chorus-no-key"
"""Placeholder key for local OpenAI-compatible servers, which ignore it (the client insists on one)."""

LITELLM_LOGGERS: Final = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm")

OFF_LOOP_CHARS: Final = 20_000
"""Prompts longer than this are redacted in a worker thread, not on the event loop."""

_litellm: Any = None
_import_lock = anyio.Lock()
_thread_lock = threading.Lock()


def litellm_loaded() -> bool:
    """True once litellm has been imported and configured."""
    return _litellm is not None


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


def _is_connection_failure(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        kind = type(seen).__name__
        if kind in _CONNECTION_FAILURES or isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe_failure(
    seat_name: str, seat: ModelConfig, model: str, api_base: str | None, error: Exception
) -> ProviderError:
    """Turn a litellm/openai/httpx exception into a short, scrubbed `ProviderError`."""
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
    elif isinstance(status, int) and status >= 400:
        message = f"HTTP {status} from {seat_name}: {detail}"
    else:
        message = f"{seat_name} failed: {type(error).__name__}: {detail}"
    return ProviderError(scrub_secrets(message), kind)


async def _resolve_local(model: str) -> tuple[str, str]:
    """(api_base, served model name) of the embedded local runtime for a `local/...` id."""
    try:
        local_runtime = importlib.import_module("orchestration.local_runtime")  # Only for local seats.
        api_base, served_name = await local_runtime.local_endpoint(model)
        return str(api_base), str(served_name)
    except ProviderError:
        raise
    except Exception as error:
        raise ProviderError(scrub_secrets(f"local model {model} is unavailable: {error}")) from None


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
    """
    refusal = gate.refusal(seat)
    if refusal is not None:
        raise ProviderError(f"{seat_name}: {refusal}; nothing was sent")
    if sum(len(message.get("content", "")) for message in messages) > OFF_LOOP_CHARS:
        messages = await anyio.to_thread.run_sync(gate.outbound, messages)
    else:
        messages = gate.outbound(messages)
    await ensure_litellm()
    model, api_base = seat.model, seat.api_base
    if model.startswith(LOCAL_PREFIX):
        api_base, served_name = await _resolve_local(model)
        model = f"openai/{served_name}"
    request: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "temperature": seat.temperature,
        "max_tokens": seat.max_tokens,
        "timeout": seat.timeout,
        "num_retries": seat.retries,
        "max_retries": seat.retries,
    }
    api_key = _api_key(seat_name, seat, model, api_base)
    if api_key is not None:
        request["api_key"] = api_key
    if api_base is not None:
        request["api_base"] = api_base
    response_format = _response_format(model, json_schema)
    if response_format is not None:
        request["response_format"] = response_format
    try:
        with anyio.fail_after(seat.timeout):
            response = await _litellm.acompletion(**request)
    except TimeoutError:
        raise ProviderError(f"{seat_name} timed out after {seat.timeout:g} s", "timeout") from None
    except anyio.get_cancelled_exc_class():
        raise
    except Exception as error:
        raise describe_failure(seat_name, seat, model, api_base, error) from None
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        raise ProviderError(f"{seat_name} returned a response without a message") from None
    return content if isinstance(content, str) else ""
