"""The server's memory: one `StoreWriter` for the configuration in force, opened and closed off the loop.

`ServerMemory.follow` is called whenever the configuration is (re)loaded: when the config's
`[store]` differs from the store open now, the old writer is closed and a new one opened, both in
a worker thread (importing the store takes ~0.3 s; closing flushes what is queued). Every run asks
`current()` for the writer to hand its pipeline (`memory=`), which waits for an opening in progress,
so the first review after start-up is recorded too. With `store.enabled = false` there is no writer
and runs get `memory=None`.

Reads (`read`) and verdicts (`record`) run in a worker thread as well: the store is never touched
on the event loop. When the store fails (locked, read-only, unreachable), the writer warns once;
the warning reaches the user as one `window/showMessage` (and the log), and reviews go on.
Findings dismissed in this session are kept in `dismissed`, so a run still in flight cannot
publish one again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar, cast

import anyio
from lsprotocol import types

from orchestration.memory.settings import StoreConfig
from orchestration.types.config import ChorusConfig
from server.commands import one_line
from server.memory_messages import Verdict

if TYPE_CHECKING:
    from orchestration.memory.feedback import VerdictResult
    from orchestration.memory.store import Store
    from orchestration.memory.writer import StoreWriter
    from server.language_server import ChorusLanguageServer

logger = logging.getLogger(__name__)
T = TypeVar("T")

READ_FLUSH_S = 1.0
"""How long a read waits for what is queued to be written first."""


def store_config_of(config: ChorusConfig | None) -> StoreConfig:
    """The `[store]` of a configuration; the default store when there is no configuration yet."""
    return config.store if config is not None else StoreConfig()


def open_writer(config: StoreConfig, on_warning: Callable[[str], None]) -> StoreWriter:
    """A started `StoreWriter` (call in a worker thread: the store's modules are imported here)."""
    from orchestration.memory.writer import StoreWriter

    return StoreWriter(config, on_warning=on_warning)


def record_in(writer: StoreWriter, finding_id: str, verdict: Verdict) -> VerdictResult:
    """Record a verdict, and for a dismissal the finding's suppression (blocking: in a worker thread)."""
    from orchestration.memory.feedback import record_verdict

    return record_verdict(writer, finding_id, verdict)


@dataclass(frozen=True, slots=True)
class Recorded:
    """What became of a verdict: kept in the memory, whether it made a suppression, why not."""

    recorded: bool
    suppressed: bool
    reason: str | None


@dataclass(slots=True)
class ServerMemory:
    """The writer in use, the `[store]` it was opened for, and the findings dismissed this session."""

    writer: StoreWriter | None = None
    store_config: StoreConfig | None = None
    dismissed: set[str] = field(default_factory=set)
    _ready: anyio.Event | None = None
    """Set once the latest `follow` has opened its writer (None before the first one)."""

    def follow(self, ls: ChorusLanguageServer, config: ChorusConfig | None) -> None:
        """Use the store `config` names: reopen in the background when it is not the one open now."""
        wanted = store_config_of(config)
        if self._ready is not None and wanted == self.store_config:
            return
        previous, ready = self._ready, anyio.Event()
        self._ready, self.store_config = ready, wanted
        ls.run_in_background(self._switch(ls, wanted, previous, ready), "opening the memory")

    async def _switch(
        self, ls: ChorusLanguageServer, wanted: StoreConfig, previous: anyio.Event | None, ready: anyio.Event
    ) -> None:
        """Close the writer in use (after any opening before this one), then open one for `wanted`."""
        try:
            if previous is not None:
                await previous.wait()
            old, self.writer = self.writer, None
            if old is not None:
                await anyio.to_thread.run_sync(old.close)
            if wanted.enabled and self._ready is ready:
                warn = self._warner(ls, asyncio.get_running_loop())

                def open_and_keep() -> None:
                    self.writer = open_writer(wanted, warn)

                await anyio.to_thread.run_sync(open_and_keep)
                logger.info("memory: %s store", wanted.backend)
            elif not wanted.enabled:
                logger.info("memory: off (store.enabled = false)")
        finally:
            ready.set()

    @staticmethod
    def _warner(ls: ChorusLanguageServer, loop: asyncio.AbstractEventLoop) -> Callable[[str], None]:
        """The writer's `on_warning`: called from any thread, shown on the loop (the writer warns once)."""

        def show(message: str) -> None:
            text = f"Chorus: the memory is unavailable; reviews go on without it. {one_line(message)}"
            ls.show_message(text, types.MessageType.Warning)

        def warn(message: str) -> None:
            try:
                loop.call_soon_threadsafe(show, message)
            except RuntimeError:  # The loop is closed: the server is exiting.
                logger.warning("memory unavailable: %s", one_line(message))

        return warn

    async def current(self) -> StoreWriter | None:
        """The writer for the configuration in force (waits for an opening in progress); None when off."""
        ready = self._ready
        if ready is not None and not ready.is_set():
            await ready.wait()
        return self.writer

    async def read(self, query: Callable[[Store], T], default: T) -> tuple[T, bool]:
        """`query(store)` in a worker thread, and whether it was read; `(default, False)` when it was not."""
        writer = await self.current()
        if writer is None:
            return default, False
        missing = object()

        def attempt() -> object:
            writer.flush(READ_FLUSH_S)  # Read what this session wrote: verdicts just given, the last run.
            return writer.read(query, missing)

        try:
            found = await anyio.to_thread.run_sync(attempt)
        except Exception as error:  # A read must never fail the request: it reports the memory unavailable.
            logger.exception("reading the memory failed: %s", one_line(str(error)))
            return default, False
        if found is missing:
            return default, False
        return cast(T, found), True  # Not `missing`: what `query` returned.

    async def record(self, finding_id: str, verdict: Verdict) -> Recorded:
        """Record the user's verdict on a finding (in a worker thread): whether it was kept, and why not."""
        writer = await self.current()
        if writer is None:
            return Recorded(False, False, "the memory is off ([store] enabled = false)")
        try:
            result = await anyio.to_thread.run_sync(record_in, writer, finding_id, verdict)
        except Exception as error:  # The verdict is lost, not the request.
            logger.exception("recording %s for %s failed: %s", verdict, finding_id, one_line(str(error)))
            return Recorded(False, False, one_line(str(error)))
        return Recorded(result.recorded, result.suppressed, result.reason)

    async def close(self) -> None:
        """Write what is queued and release the store (at shutdown); idempotent."""
        await self.current()
        writer, self.writer = self.writer, None
        if writer is not None:
            await anyio.to_thread.run_sync(writer.close)
