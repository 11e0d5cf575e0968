"""`StoreWriter`: the store written from a thread of its own, so no caller ever waits or fails.

`submit(record)` puts a typed record on a bounded queue and returns at once (it never blocks an
event loop and never raises). The writer thread opens the store (migrations, recovery of
interrupted runs), then writes what is queued in batches, one transaction per batch. A store that
is locked, read-only, full or unreachable makes the writer warn once (logger `chorus.store`, and
`on_warning`) and drop what it cannot write; it keeps trying, so a PostgreSQL server that comes
back is written to again. A record a constraint refuses is dropped alone, not with its batch.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeVar

from orchestration.memory.errors import StoreError, StoreRowError, one_line
from orchestration.memory.records import StoreWrite
from orchestration.memory.settings import StoreConfig
from orchestration.memory.store import Store

logger = logging.getLogger("chorus.store")
T = TypeVar("T")
MAX_BATCH: Final = 500
MAX_QUEUE: Final = 20_000


@dataclass(slots=True)
class _Marker:
    done: threading.Event = field(default_factory=threading.Event)
    stop: bool = False


class StoreWriter:
    """Writes submitted records to the store off the caller's thread; warns once when it cannot."""

    def __init__(
        self,
        config: StoreConfig,
        *,
        on_warning: Callable[[str], None] | None = None,
        max_batch: int = MAX_BATCH,
        max_queue: int = MAX_QUEUE,
        reopen_after_s: float = 30.0,
    ) -> None:
        self.config = config
        self.on_warning = on_warning
        self.max_batch = max_batch
        self.reopen_after_s = reopen_after_s
        self.dropped = 0
        """Records that could not be written (store unavailable, queue full, refused)."""
        self.written = 0
        self.last_error: str | None = None
        self._warned = False
        self._store: Store | None = None
        self._last_attempt = -float("inf")
        self._opened = threading.Event()
        self._closed = False
        self._queue: queue.Queue[StoreWrite | _Marker] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        if config.enabled:
            self._thread = threading.Thread(target=self._run, name="chorus-store-writer", daemon=True)
            self._thread.start()
            atexit.register(self.close)
        else:
            self._opened.set()

    # -- the caller's side ---------------------------------------------------------------------------

    def submit(self, record: StoreWrite) -> bool:
        """Queue `record` for writing; False when it was dropped (store off, closed, queue full)."""
        if self._thread is None or self._closed:
            return False
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            self._warn("the store's write queue is full; new records are dropped until it drains")
            return False
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far was written (or dropped); False on timeout."""
        return self._send(_Marker(), timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued, stop the thread, release the database. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        if self._thread is not None and self._thread.is_alive():
            self._send(_Marker(stop=True), timeout)
            self._thread.join(timeout)

    def read(self, query: Callable[[Store], T], default: T, timeout: float = 5.0) -> T:
        """`query(store)`, or `default` when the store is off, not open (yet) or failing."""
        if not self._opened.wait(timeout) or self._store is None:
            return default
        try:
            return query(self._store)
        except StoreError as error:
            self._warn(str(error))
            return default

    @property
    def available(self) -> bool:
        """Whether the store is open (it may still fail on the next write)."""
        return self._store is not None

    def _send(self, marker: _Marker, timeout: float | None) -> bool:
        if self._thread is None or not self._thread.is_alive():
            return True
        self._queue.put(marker, timeout=timeout)
        return marker.done.wait(timeout)

    def _warn(self, message: str) -> None:
        self.last_error = message
        if self._warned:
            return
        self._warned = True
        logger.warning("the store is unavailable; Chorus keeps working without it: %s", message)
        if self.on_warning is not None:
            try:
                self.on_warning(message)
            except Exception:
                logger.exception("the store's on_warning callback failed")

    # -- the writer thread ---------------------------------------------------------------------------

    def _ensure_store(self) -> Store | None:
        if self._store is None and time.monotonic() - self._last_attempt >= self.reopen_after_s:
            self._last_attempt = time.monotonic()
            try:
                self._store = Store.open(self.config)
            except StoreError as error:
                self._warn(str(error))
            except Exception as error:
                self._warn(one_line(f"{type(error).__name__}: {error}"))
            finally:
                self._opened.set()
        return self._store

    def _write(self, records: list[StoreWrite]) -> None:
        if not records:
            return
        store = self._ensure_store()
        if store is None:
            self.dropped += len(records)
            return
        try:
            store.write(records)
            self.written += len(records)
        except StoreRowError:
            for record in records:
                self._write_one(store, record)
        except StoreError as error:
            self.dropped += len(records)
            self._warn(str(error))
        except Exception as error:
            self.dropped += len(records)
            self._warn(one_line(f"{type(error).__name__}: {error}"))

    def _write_one(self, store: Store, record: StoreWrite) -> None:
        try:
            store.write([record])
            self.written += 1
        except Exception as error:
            self.dropped += 1
            self._warn(
                str(error) if isinstance(error, StoreError) else one_line(f"{type(error).__name__}: {error}")
            )

    def _run(self) -> None:
        self._ensure_store()
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records: list[StoreWrite] = []
            for item in batch:
                if not isinstance(item, _Marker):
                    records.append(item)
                    continue
                self._write(records)
                records = []
                item.done.set()
                if item.stop:
                    if self._store is not None:
                        self._store.close()
                    return
            self._write(records)
