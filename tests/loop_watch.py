"""How long the event loop went unanswered while a block ran: a 5 ms ticker records its gaps.

async with loop_gaps() as gaps:
    await work()
assert max(gaps) < 0.2
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

TICK_SECONDS = 0.005


@asynccontextmanager
async def loop_gaps() -> AsyncIterator[list[float]]:
    """Yield the list the ticker fills with the seconds between its wake-ups (ideally ~5 ms each)."""
    gaps: list[float] = []
    done = anyio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await anyio.sleep(TICK_SECONDS)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        await anyio.sleep(0.02)
        try:
            yield gaps
        finally:
            done.set()
