"""`chorus route FILE [--task review] [--explain] [--json]`: which seats a request on FILE would ask, and why.

The selection is the one a request makes (`orchestration.learning.routing.explain_route`: the pool,
the circuit breaker, the privacy gate, routing for an automatic panel, the budget), read from the
memory of the config in force; nothing is sent to any model and nothing is recorded. Each
candidate is printed picked, picked to explore, spare (routing's runner-up) or skipped, with its
expected value; `--explain` adds the one-line reason with its numbers; `--json` prints the whole
`RouteReport`. For a panel given as a list routing is off: the command says so and lists the seats.
Unlike a request, the command waits for the store to open before it reads (a first open migrates).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

import anyio
from rich.console import Console

from faces.cli.memory_commands import open_memory
from faces.cli.targets import Target
from faces.cli.terminal import say
from orchestration.learning.routing import RouteEntry, RouteReport, explain_route
from orchestration.memory.writer import StoreWriter
from orchestration.types.config import ChorusConfig

Resolver = Callable[[argparse.Namespace, Path, Console], tuple[ChorusConfig, Path, str | None]]
"""`faces.cli.main.resolve`: the config in force for a file, its workspace, and a notice."""
OPEN_WAIT_S: Final = 10.0
"""Seconds the command waits for the store to open before routing reads it."""
MARKS: Final = {"picked": "✓", "explore": "+", "spare": "·", "skipped": "✗"}


def add_route_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """`chorus route FILE [--task TASK] [--explain]` (with the common --config, --workspace, --json)."""
    route = sub.add_parser(
        "route", parents=[common], help="show which seats a request on FILE would ask, and why"
    )
    route.add_argument("target", metavar="FILE", help="the file a request would be about")
    route.add_argument(
        "--task", choices=("review", "implement", "explain"), default="review", help="the request's task"
    )
    route.add_argument("--explain", action="store_true", help="say why each candidate was picked or not")


def wait_for_store(memory: StoreWriter) -> None:
    """Block until the memory's store is open (or `OPEN_WAIT_S` passed) and routing's queries are
    imported, so that routing's bounded read is spent reading."""
    from orchestration.learning.route_stats import load_queries

    load_queries()
    memory.read(lambda _store: None, None, OPEN_WAIT_S)


async def run_route(args: argparse.Namespace, out: Console, err: Console, resolve: Resolver) -> int:
    """Route one request on FILE as a request would, and print the report."""
    target = Target.parse(args.target)
    config, workspace, notice = resolve(args, target.path.absolute().parent, err)
    document = target.read(config.policy.max_file_bytes)
    memory = open_memory(config, err)
    try:
        if memory is not None:
            await anyio.to_thread.run_sync(wait_for_store, memory)
        report = await explain_route(config, args.task, document, workspace=workspace, memory=memory)
    finally:
        if memory is not None:
            await anyio.to_thread.run_sync(memory.close)
    if notice:
        say(err, "[bold yellow]chorus:[/] {}", notice)
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        render_route(out, report, explain=args.explain)
    return 0


def heading(report: RouteReport) -> str:
    """The report's first line: what is routed, how, and on what evidence."""
    asked = len(report.asked)
    if not report.auto:
        return (
            f"panels.{report.task} lists its seats: routing is off, the listed seats are asked "
            f"({asked} of {len(report.entries)})."
        )
    line = f'panels.{report.task} = "auto": {asked} of {len(report.entries)} candidates asked'
    line += f" (panels.auto.size = {report.size}"
    if any(entry.state == "explore" for entry in report.entries):
        line += ", plus 1 to explore"
    line += ")" if report.mode == "routed" else f"; {report.mode}: pool order)"
    if report.mix:
        shares = ", ".join(f"{category} {share:.0%}" for category, share in report.mix.items())
        line += f"; {report.language} findings so far: {shares} of {report.findings}"
    return line + "."


def entry_line(entry: RouteEntry) -> str:
    """'✓ claude  openai/claude  0.62' (the value only for a routed candidate)."""
    value = f"  value {entry.score.value:.2f}" if entry.score is not None else ""
    state = {"explore": "  (explore)", "spare": "  (spare)", "skipped": "  (skipped)"}.get(entry.state, "")
    return f"{MARKS[entry.state]} {entry.name}  {entry.label}{value}{state}"


def render_route(out: Console, report: RouteReport, *, explain: bool) -> None:
    """The report for a terminal: a heading, one line per candidate, with --explain its reason."""
    say(out, "{}", heading(report))
    for entry in report.entries:
        say(out, "{}", entry_line(entry))
        if explain:
            say(out, "    {}", entry.reason)
    if report.notice:
        say(out, "{}", report.notice)
