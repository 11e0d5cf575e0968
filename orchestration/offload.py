"""Work too heavy for the event loop: one threshold per kind of input, one helper to apply it.

Redacting, parsing, counting or merging a small input costs less than a hop to a worker thread,
so `off_loop` runs it inline; above the threshold it runs in a worker thread, with the same
result either way. Every caller in the core (the provider door, the fan-out, the pipelines)
uses these constants, so "big" means the same everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, TypeVar

import anyio

R = TypeVar("R")

OFF_LOOP_CHARS: Final = 20_000
"""Texts longer than this are redacted, parsed, measured or combined in a worker thread."""

OFF_LOOP_ITEMS: Final = 64
"""Merges of more findings (or fixes) than this run in a worker thread."""


async def off_loop(function: Callable[..., R], *args: Any, size: int, threshold: int = OFF_LOOP_CHARS) -> R:
    """`function(*args)`, in a worker thread when `size` exceeds `threshold` (same result either way)."""
    if size > threshold:
        return await anyio.to_thread.run_sync(functools.partial(function, *args))
    return function(*args)
