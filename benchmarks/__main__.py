"""`python -m benchmarks [--quick] [--only NAME ...] [--out DIR]`: run, print the table, write results.

Scenarios run one after another (never concurrently: each one's timings must not disturb another's).
The exit status is 0 even when targets are missed (use `--strict` to fail on a missed target): the
benchmarks report; they are not tests.

`SCENARIOS` run by default; `EXTRA` (the learning simulation: minutes in full, ~30 s quick) only
when named with `--only`. The learning scenario also writes `learning.png` to `--out` and, in a
full run, the README's chart `docs/learning.png` (`--learning-chart PATH` to put it elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from benchmarks import ScenarioResult, Settings
from benchmarks.report import markdown_table, write_chart, write_json

SCENARIOS = ["merge", "latency", "responsiveness", "startup", "scale", "sequential", "memory"]
EXTRA = ["learning"]
"""Run only when named: not part of the default (and CI's `--quick`) set."""
DEFAULT_OUT = Path(__file__).resolve().parent
DOCS_CHART = DEFAULT_OUT.parent / "docs" / "learning.png"


async def run_scenario(name: str, settings: Settings, done: dict[str, ScenarioResult]) -> ScenarioResult:
    """Run one scenario by name."""
    if name == "merge":
        from benchmarks import merge_speed

        return await merge_speed.run(settings)
    if name == "latency":
        from benchmarks import latency

        return await latency.run(settings)
    if name == "responsiveness":
        from benchmarks import responsiveness

        return await responsiveness.run(settings)
    if name == "startup":
        from benchmarks import startup

        return await startup.run(settings)
    if name == "scale":
        from benchmarks import scale

        return await scale.run(settings)
    if name == "memory":
        from benchmarks import memory

        return await memory.run(settings)
    if name == "learning":
        from benchmarks import learning

        return await learning.run(settings)
    from benchmarks import sequential

    parallel = done["latency"].chart.get("parallel_wall_ms") if "latency" in done else None
    return await sequential.run(settings, parallel)


async def run_all(names: list[str], settings: Settings) -> list[ScenarioResult]:
    """Run the named scenarios in order, reporting progress on stderr."""
    done: dict[str, ScenarioResult] = {}
    for name in names:
        print(f"benchmarks: {name} …", file=sys.stderr, flush=True)
        result = await run_scenario(name, settings, done)
        print(f"benchmarks: {name} done in {result.seconds:.1f} s", file=sys.stderr, flush=True)
        done[name] = result
    return list(done.values())


def write_learning_charts(results: list[ScenarioResult], options: argparse.Namespace) -> list[Path]:
    """The learning scenario's chart in `--out`, and in docs/ (or `--learning-chart`) after a full run."""
    data = next((result.chart["learning"] for result in results if "learning" in result.chart), None)
    if data is None:
        return []
    from benchmarks.learning_chart import write_learning_chart

    targets = [options.out / "learning.png"]
    chosen = options.learning_chart
    if chosen is None and not options.quick:
        chosen = DOCS_CHART
    if chosen is not None:
        targets.append(chosen)
    return [target for target in targets if write_learning_chart(target, data)]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the table, write results.json and chart.png."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: few repetitions, small sizes")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS + EXTRA, help="run only these scenarios")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where results.json and chart.png go")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    parser.add_argument(
        "--learning-chart",
        type=Path,
        default=None,
        help=f"where the learning scenario's chart also goes (default: {DOCS_CHART} in a full run)",
    )
    options = parser.parse_args(argv)
    names = [name for name in SCENARIOS + EXTRA if name in (options.only or SCENARIOS)]
    settings = Settings(quick=options.quick)
    started, load_at_start = time.perf_counter(), os.getloadavg()
    results = asyncio.run(run_all(names, settings))
    seconds = time.perf_counter() - started
    options.out.mkdir(parents=True, exist_ok=True)
    write_json(
        options.out / "results.json",
        results,
        quick=options.quick,
        seconds=seconds,
        load_at_start=load_at_start,
    )
    charted = write_chart(options.out / "chart.png", results)
    learning_charts = write_learning_charts(results, options)
    print(markdown_table(results))
    loads = "/".join(f"{value:.1f}" for value in load_at_start)
    print(
        f"\n{seconds:.0f} s (load average at start {loads}); wrote {options.out / 'results.json'}"
        + (f" and {options.out / 'chart.png'}" if charted else " (no chart: matplotlib is not installed)")
    )
    for chart in learning_charts:
        print(f"wrote {chart}")
    missed = [row.key for result in results for row in result.measurements if row.passed is False]
    if missed:
        print(f"missed: {', '.join(missed)}")
    return 1 if options.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
