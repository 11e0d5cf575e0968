"""Reading the memory from the event loop without ever waiting long for it.

`read_soon(memory, query, default)` runs `query(store)` in a worker thread and gives up after
`budget` seconds (default `READ_BUDGET_S`): a store that is opening, locked, slow or unreachable
costs a request at most that long, and nothing at all once the writer knows it is unavailable.
`Prefetch` starts a read at once in a thread of its own and lets the request collect it later
(`await prefetched.result()`), so the read overlaps the models' work instead of adding to it.
At most `MAX_READS` reads run at once; past that (a store that hangs) reads are skipped at once
instead of piling up threads. A read that fails returns `default`; the writer warns once.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Final, Generic, TypeVar

import anyio

from orchestration.memory.errors import one_line

if TYPE_CHECKING:
    from orchestration.memory.store import Store
    from orchestration.memory.writer import StoreWriter

logger = logging.getLogger("chorus.store")
T = TypeVar("T")

READ_BUDGET_S: Final = 0.5
"""How long a request waits for one read of the memory (a first read also waits for the store to open)."""
MAX_READS: Final = 4
"""Reads in flight at once; more are skipped (their request goes on without the memory)."""


class _ReadSlots:
    """Counts the reads in flight (a read its request gave up on counts until its thread is done)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Take a slot; False when every slot is busy."""
        with self._lock:
            if self.busy >= self.limit:
                return False
            self.busy += 1
            return True

    def give(self) -> None:
        """Give a slot back."""
        with self._lock:
            self.busy -= 1


class _Read:
    """One read's slot, given back exactly once: by its thread, or by its request if no thread ran."""

    __slots__ = ("_lock", "_state")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "waiting"

    def start(self) -> bool:
        """In the thread: False when the request has already given up (do not read then)."""
        with self._lock:
            if self._state != "waiting":
                return False
            self._state = "running"
            return True

    def done(self) -> None:
        """In the thread, after reading."""
        _slots.give()

    def abandon(self) -> None:
        """In the request, once it stops waiting: gives the slot back unless a thread holds it."""
        with self._lock:
            waiting, self._state = self._state == "waiting", "over"
        if waiting:
            _slots.give()


_slots = _ReadSlots(MAX_READS)


def usable(memory: StoreWriter | None) -> bool:
    """Whether `memory` is there to be read and written (not None, not turned off)."""
    return memory is not None and memory.config.enabled


def read_now(memory: StoreWriter, query: Callable[[Store], T], default: T, timeout: float) -> T:
    """`memory.read(query, default)` in the calling thread; any failure gives `default` (logged)."""
    try:
        return memory.read(query, default, timeout=timeout)
    except Exception as error:
        logger.warning("reading the store failed: %s", one_line(f"{type(error).__name__}: {error}"))
        return default


async def read_soon(
    memory: StoreWriter | None, query: Callable[[Store], T], default: T, *, budget: float = READ_BUDGET_S
) -> T:
    """`query(store)` off the event loop, or `default` (store off, failing, busy or slower than `budget`)."""
    if memory is None or not usable(memory) or not _slots.take():
        return default

    read = _Read()

    def run() -> T:
        if not read.start():
            return default
        try:
            return read_now(memory, query, default, budget)
        finally:
            read.done()

    result = default
    try:
        with anyio.move_on_after(budget):
            result = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    finally:
        read.abandon()
    return result


class _Readers:
    """Daemon threads that run prefetched reads (started once: starting a thread per read costs more
    than the read). Daemon, so a read hanging on an unreachable store never holds up an exit."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def run(self, job: Callable[[], None]) -> None:
        """Run `job` in one of the threads (starting them on first use)."""
        with self._lock:
            self.threads = [thread for thread in self.threads if thread.is_alive()]
            while len(self.threads) < self.count:
                thread = threading.Thread(target=self._serve, name="chorus-store-read", daemon=True)
                thread.start()
                self.threads.append(thread)
        self.jobs.put(job)

    def _serve(self) -> None:
        while True:
            self.jobs.get()()


_readers = _Readers(MAX_READS)


class Prefetch(Generic[T]):
    """A read of the memory started now in a reader thread, collected later (or `default`)."""

    __slots__ = ("default", "future")

    def __init__(self, memory: StoreWriter | None, query: Callable[[Store], T], default: T) -> None:
        self.default = default
        self.future: Future[T] | None = None
        if memory is None or not usable(memory) or not _slots.take():
            return
        future: Future[T] = Future()

        def job() -> None:
            try:
                future.set_result(read_now(memory, query, default, READ_BUDGET_S))
            finally:
                _slots.give()

        try:
            _readers.run(job)
        except RuntimeError:  # No thread could be started (interpreter shutting down, thread limit).
            _slots.give()
            return
        self.future = future

    async def result(self, budget: float = READ_BUDGET_S) -> T:
        """The read's result; `default` when it failed or was not done within `budget` seconds
        (then for good: later calls do not wait again)."""
        future = self.future
        if future is None:
            return self.default
        if not future.done():
            with anyio.move_on_after(budget):
                wait = functools.partial(future.result, timeout=budget)
                try:
                    await anyio.to_thread.run_sync(wait, abandon_on_cancel=True)
                except TimeoutError:
                    pass
        if not future.done():
            self.future = None
            return self.default
        return future.result()
