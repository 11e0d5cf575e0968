"""The event-loop watch used by the off-loop tests: it sees a blocked loop, and not the collector."""

from __future__ import annotations

import gc
import time

import anyio

from tests.loop_watch import CollectorClock, loop_gaps


async def test_a_blocked_loop_shows_as_one_long_gap() -> None:
    async with loop_gaps() as gaps:
        time.sleep(0.2)  # noqa: ASYNC251 (on the loop, on purpose)
    assert max(gaps) >= 0.19
    assert sorted(gaps)[-2] < max(gaps)


async def test_garbage_collection_is_not_counted_against_the_loop() -> None:
    heap = [[index] for index in range(1_500_000)]  # A full collection must traverse all of these.
    clock = CollectorClock()
    gc.callbacks.append(clock)
    try:
        async with loop_gaps() as gaps:
            await anyio.to_thread.run_sync(gc.collect)  # A worker's collection stops the loop too.
            gc.collect()
    finally:
        gc.callbacks.remove(clock)
    collected = max(end - begin for begin, end in clock.intervals)
    assert len(heap) == 1_500_000 and collected > 0.05
    assert max(gaps) < collected / 2


def test_the_clock_counts_only_overlaps() -> None:
    clock = CollectorClock(intervals=[(1.0, 2.0), (3.0, 3.5)])
    assert clock.inside(0.0, 1.5) == 0.5
    assert clock.inside(1.5, 3.25) == 0.75
    assert clock.inside(4.0, 5.0) == 0.0
