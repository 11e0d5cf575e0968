"""Scenario 5: start-up — process start to `initialize`, the first review, and later ones.

litellm takes seconds to import, so it must stay off the path to `initialize`: the editor shows the
server as ready at once, and the import starts (in a worker thread) after `initialized`, so a review
asked a few seconds later does not wait for it; one asked at once waits for the rest of the import.
Both are measured. One extra start runs with `PYTHONPROFILEIMPORTTIME=1` and checks from the
server's own import log that nothing from litellm was imported before `initialize` answered.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import Measurement, ScenarioResult, Settings, median
from benchmarks.client import chorus_server
from benchmarks.model_host import ModelHost
from benchmarks.workload import open_source, panel_options, review, script_panel

INITIALIZE_TARGET_MS = 400.0
IMPORT_ALLOWANCE_MS = 3500.0
MARGIN_MS = 30.0
MODEL_LATENCY = 0.3
SETTLE_SECONDS = 5.0
"""How long a user typically has the editor open before the first review (the preload's head start)."""


def imported_modules(import_log: str) -> set[str]:
    """Top-level package names in a `-X importtime` log."""
    names = set()
    for line in import_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


async def litellm_before_initialize(host: ModelHost, seats: list[str]) -> bool:
    """Start once with the import log on; True if litellm was imported before `initialize` answered."""
    with tempfile.TemporaryDirectory(prefix="chorus-bench-imports-") as folder:
        log = Path(folder) / "imports.log"
        async with chorus_server(
            panel_options(host, seats), env={"PYTHONPROFILEIMPORTTIME": "1"}, stderr_path=log
        ):
            imported_by_then = log.read_text(errors="replace")  # The log as `initialize` answered.
        return "litellm" in imported_modules(imported_by_then)


async def pygls_import_seconds() -> float:
    """Wall time of a fresh interpreter that only imports pygls's server (and so lsprotocol)."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", "import pygls.lsp.server")
    if await process.wait() != 0:
        raise RuntimeError("importing pygls failed")
    return time.perf_counter() - started


async def run(settings: Settings) -> ScenarioResult:
    """Start the server repeatedly; time `initialize`, the first review and later ones."""
    started = time.perf_counter()
    seats = {"boot_a": MODEL_LATENCY, "boot_b": MODEL_LATENCY, "boot_c": MODEL_LATENCY}
    starts = settings.reps(5, 1)
    later_reviews = settings.reps(5, 2)
    initialize: list[float] = []
    first: list[float] = []
    later: list[float] = []
    settled: list[float] = []
    settle = 0.5 if settings.quick else SETTLE_SECONDS
    with ModelHost() as host:
        script_panel(host, seats)
        for _ in range(starts):
            async with chorus_server(panel_options(host, list(seats))) as session:
                initialize.append(session.initialize_seconds * 1000)
                uri = open_source(session.client, session.workspace)
                first.append((await review(session.client, uri, len(seats))).seconds * 1000)
                for _ in range(later_reviews):
                    later.append((await review(session.client, uri, len(seats))).seconds * 1000)
        for _ in range(settings.reps(3, 1)):
            async with chorus_server(panel_options(host, list(seats))) as session:
                uri = open_source(session.client, session.workspace)
                await asyncio.sleep(settle)
                settled.append((await review(session.client, uri, len(seats))).seconds * 1000)
        eager_import = await litellm_before_initialize(host, list(seats))
    floor = [await pygls_import_seconds() * 1000 for _ in range(settings.reps(3, 1))]
    latency_ms = MODEL_LATENCY * 1000
    measurements = [
        Measurement.at_most(
            "startup_initialize",
            "5. start-up",
            "process start → initialize result",
            median(initialize),
            INITIALIZE_TARGET_MS,
            "ms",
            detail=("litellm imported before initialize" if eager_import else "no litellm import before it")
            + f"; a bare `import pygls.lsp.server` (lsprotocol included) takes {median(floor):.0f} ms here",
            samples=initialize,
        ),
        Measurement(
            "startup_no_litellm",
            "5. start-up",
            "litellm not imported on the initialize path",
            float(eager_import),
            0.0,
            "imported",
            not eager_import,
        ),
        Measurement.at_most(
            "startup_first_review",
            "5. start-up",
            "first review after start (models 300 ms)",
            median(first),
            latency_ms + IMPORT_ALLOWANCE_MS,
            "ms",
            samples=first,
        ),
        Measurement(
            "startup_settled_review",
            "5. start-up",
            f"first review {settle:g} s after start (litellm preloaded meanwhile)",
            median(settled),
            None,
            "ms",
            None,
            detail="reported: the user's usual case; the server imports litellm after `initialized`",
            samples=settled,
        ),
        Measurement.at_most(
            "startup_later_review",
            "5. start-up",
            "later reviews (models 300 ms)",
            median(later),
            latency_ms + MARGIN_MS,
            "ms",
            samples=later,
        ),
    ]
    chart = {
        "bars": [
            {
                "label": "first review after start",
                "model_ms": latency_ms,
                "chorus_ms": median(first) - latency_ms,
            },
            {"label": "later review", "model_ms": latency_ms, "chorus_ms": median(later) - latency_ms},
        ],
        "initialize_ms": median(initialize),
    }
    return ScenarioResult("startup", measurements, chart, time.perf_counter() - started)
