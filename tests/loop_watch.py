"""How long the event loop went unanswered while a block ran: a 5 ms ticker records its gaps.

async with loop_gaps() as gaps:
    await work()
assert max(gaps) < 0.2

Time the cyclic garbage collector spent inside a gap is not counted: a collection stops every
thread, so it says nothing about whether work ran on the loop or in a worker. (A full collection
in a test process that has loaded litellm and run hundreds of tests takes 0.2-0.4 s on 2 cores.)
`gc.callbacks` gives each collection's start and stop; a collection run by a worker thread may
report its stop after the loop has already woken, so the gaps are computed once the block ends,
from the overlap of each gap with the collections.
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio

TICK_SECONDS = 0.005

Interval = tuple[float, float]


@dataclass(slots=True)
class CollectorClock:
    """The intervals (`time.perf_counter()` start, stop) in which the garbage collector ran."""

    intervals: list[Interval] = field(default_factory=list)
    started: float | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        elif self.started is not None:
            self.intervals.append((self.started, time.perf_counter()))
            self.started = None

    def inside(self, start: float, stop: float) -> float:
        """Seconds of collection between `start` and `stop`."""
        return sum(max(0.0, min(stop, end) - max(start, begin)) for begin, end in self.intervals)


@asynccontextmanager
async def loop_gaps() -> AsyncIterator[list[float]]:
    """Yield the list that holds, once the block ends, the seconds between the ticker's wake-ups."""
    gaps: list[float] = []
    ticks: list[Interval] = []
    done = anyio.Event()
    collector = CollectorClock()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await anyio.sleep(TICK_SECONDS)
            now = time.perf_counter()
            ticks.append((last, now))
            last = now

    gc.callbacks.append(collector)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(tick)
            await anyio.sleep(0.02)
            try:
                yield gaps
            finally:
                done.set()
    finally:
        gc.callbacks.remove(collector)
        gaps.extend(stop - start - collector.inside(start, stop) for start, stop in ticks)
