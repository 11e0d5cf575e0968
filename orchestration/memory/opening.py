"""Opening the memory for one request, the same way for every face: `open_memory(config, on_warning)`.

A face that records a review, implement or explain run opens a `StoreWriter` on the loaded
config's `[store]` (None when the store is turned off). A store that cannot be opened or written
never fails the request: the writer reports it once, through `on_warning`, and the face shows that
one line where its user reads (the CLI's stderr, an MCP tool result's text). The writer's own log
line is silenced here, so the warning is said once, by the face.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from orchestration.memory.writer import StoreWriter
from orchestration.types.config import ChorusConfig

STORE_LOGGER: Final = "chorus.store"
UNAVAILABLE: Final = "the store is unavailable, this run is not recorded: {}"
"""How a face words the one warning of a store that failed (`UNAVAILABLE.format(reason)`)."""


def quiet_store_log() -> None:
    """Give the store's logger a handler that drops records, unless a face installed its own."""
    store_log = logging.getLogger(STORE_LOGGER)
    if not store_log.handlers:
        store_log.addHandler(logging.NullHandler())


def open_memory(config: ChorusConfig, on_warning: Callable[[str], None]) -> StoreWriter | None:
    """The writer a run records itself through, or None with `[store] enabled = false`.

    `on_warning` gets the store's first failure (already worded with `UNAVAILABLE`), once.
    """
    if not config.store.enabled:
        return None
    quiet_store_log()
    warned: list[str] = []

    def warn(message: str) -> None:
        if not warned:
            warned.append(message)
            on_warning(UNAVAILABLE.format(message))

    return StoreWriter(config.store, on_warning=warn)
