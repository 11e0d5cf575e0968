"""litellm, loaded once, lazily, off the event loop, and kept quiet.

litellm takes seconds and hundreds of megabytes to import, so it is imported on first use, in a
worker thread, never at module import time. Once loaded it is made silent on stdout (which belongs
to the language server's JSON-RPC stream), telemetry is off, and its cost map is the bundled one.
Only this module imports litellm; everything else reads it through `loaded_litellm()` after
`ensure_litellm()`.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from typing import Any, Final

import anyio

LITELLM_LOGGERS: Final = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm")

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

_litellm: Any = None
_import_lock = anyio.Lock()
_thread_lock = threading.Lock()


def litellm_loaded() -> bool:
    """True once litellm has been imported and configured."""
    return _litellm is not None


def loaded_litellm() -> Any:
    """The configured litellm module, for its calls, token counter and model map; after `ensure_litellm()`."""
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
