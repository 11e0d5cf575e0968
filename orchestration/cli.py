"""The `chorus` command line: review, implement, explain and models from a terminal.

Exit codes: 0 when at least one model answered (a partial panel is still a result),
1 when every model failed, 2 for usage or configuration errors. Reports go to
stdout (or JSON with `--json`); live progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console

from orchestration.config import ChorusConfig, ConfigError, load_config
from orchestration.errors import ChorusError
from orchestration.explain import explain_diagnostics
from orchestration.implement import implement_stub
from orchestration.local_panel import choose_config
from orchestration.machine_form import explain_machine_form, implement_machine_form, review_machine_form
from orchestration.models_check import check_models, render_panel
from orchestration.panel import all_failed
from orchestration.providers import close_clients
from orchestration.report import render_explanation, render_implementation, render_review
from orchestration.requests import (
    DiagnosticInput,
    ExplainRequest,
    ImplementRequest,
    ReviewRequest,
    SourceDocument,
)
from orchestration.results import (
    ExplainResult,
    ImplementResult,
    PanelEvent,
    PanelResult,
    ResultUpdate,
    ReviewResult,
    SeatFinished,
    SeatStarted,
)
from orchestration.review import review_selection

EXIT_OK, EXIT_ALL_FAILED, EXIT_USAGE = 0, 1, 2
TARGET = re.compile(r"^(?P<path>.+?)(?::(?P<first>\d+)(?:-(?P<last>\d+))?)?$")


class UsageError(Exception):
    """The command line cannot be carried out as given."""


@dataclass(frozen=True)
class Target:
    """`path[:first[-last]]` from the command line."""

    path: Path
    first: int | None
    last: int | None

    @classmethod
    def parse(cls, text: str) -> Target:
        """Split `src/a.py:5-17` into path and 1-based lines."""
        match = TARGET.match(text)
        if match is None:
            raise UsageError(f"cannot read target {text!r}; expected PATH, PATH:LINE or PATH:FIRST-LAST")
        first = int(match["first"]) if match["first"] else None
        last = int(match["last"]) if match["last"] else first
        if first is not None and (first < 1 or (last is not None and last < first)):
            raise UsageError(f"bad line range in {text!r}: lines are 1-based and FIRST <= LAST")
        return cls(Path(match["path"]), first, last)

    def read(self) -> SourceDocument:
        """The file's text, or a UsageError saying why it cannot be read."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"{self.path}: no such file") from None
        except UnicodeDecodeError:
            raise UsageError(f"{self.path}: not a UTF-8 text file") from None
        except OSError as error:
            raise UsageError(f"{self.path}: cannot read ({error.strerror or error})") from None
        return SourceDocument(path=str(self.path), text=text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand but `serve` (added by the server package)."""
    parser = argparse.ArgumentParser(prog="chorus", description="A panel of AI models, one voice.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="a chorus.toml (or pyproject.toml) to use")
    common.add_argument("--workspace", type=Path, help="workspace root (default: where chorus.toml is)")
    common.add_argument("--json", action="store_true", help="print the machine form instead of a report")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    review = sub.add_parser("review", parents=[common], help="review a file or lines of it")
    review.add_argument("target", help="PATH or PATH:FIRST-LAST (1-based, inclusive)")
    implement = sub.add_parser("implement", parents=[common], help="implement the stub at a line")
    implement.add_argument("target", help="PATH:LINE")
    explain = sub.add_parser("explain", parents=[common], help="explain a diagnostic at a line")
    explain.add_argument("target", help="PATH:LINE or PATH:FIRST-LAST")
    explain.add_argument("--message", action="append", default=[], help="the diagnostic's text (repeatable)")
    models = sub.add_parser("models", parents=[common], help="show the panel and check each model live")
    models.add_argument("--no-check", action="store_true", help="only list the panel")
    serve = sub.add_parser("serve", help="run the language server on stdio (the `server` package)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio (debugging)")
    return parser


def resolve(args: argparse.Namespace, anchor: Path) -> tuple[ChorusConfig, Path, str | None]:
    """Load the config, pick the workspace, and fall back to the local panel when nothing is set."""
    config, origin = load_config(workspace=anchor, config_file=args.config)
    workspace = args.workspace
    if workspace is None and origin is not None:
        workspace = Path(origin.split(" [")[0]).parent
    config, notice = choose_config(config, os.environ)
    return config, (workspace or Path.cwd()).resolve(), notice


class ProgressPrinter:
    """Live progress on stderr: one line per seat as it finishes."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def __call__(self, event: PanelEvent) -> None:
        if isinstance(event, SeatStarted):
            self.console.print(f"[dim]… asking {event.name}[/]")
        elif isinstance(event, SeatFinished):
            mark = "✓" if event.status.status == "ok" else "✗"
            reason = f": {event.status.error}" if event.status.error and event.status.status != "ok" else ""
            self.console.print(
                f"[dim]{mark} {event.answered}/{event.total} {event.status.describe()}{reason}[/]"
            )
        elif isinstance(event, ResultUpdate) and not event.final:
            found = getattr(event.result, "findings", None)
            if found is not None:
                self.console.print(f"[dim]  partial merge: {len(found)} finding(s)[/]")


async def run_task(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Carry out review / implement / explain and print the result."""
    target = Target.parse(args.target)
    document = target.read()
    config, workspace, notice = resolve(args, target.path.resolve().parent)
    progress = ProgressPrinter(err)
    uri = target.path.resolve().as_uri()
    call: Callable[[], Awaitable[PanelResult]]
    if args.command == "review":
        request = ReviewRequest(document=document, start_line=target.first or 1, end_line=target.last)
        call = lambda: review_selection(request, config, workspace=workspace, on_event=progress)  # noqa: E731
    elif args.command == "implement":
        if target.first is None:
            raise UsageError("implement needs a line: chorus implement PATH:LINE")
        implement = ImplementRequest(document=document, line=target.first)
        call = lambda: implement_stub(implement, config, workspace=workspace, on_event=progress)  # noqa: E731
    else:
        if target.first is None:
            raise UsageError("explain needs a line: chorus explain PATH:LINE --message TEXT")
        first, last = target.first, target.last or target.first
        diagnostics = [DiagnosticInput(start_line=first, end_line=last, message=m) for m in args.message]
        explain = ExplainRequest(document=document, start_line=first, end_line=last, diagnostics=diagnostics)
        call = lambda: explain_diagnostics(explain, config, workspace=workspace, on_event=progress)  # noqa: E731
    try:
        result = await call()
    finally:
        await close_clients()
    result = result.model_copy(update={"notice": notice})
    print_result(result, document, uri, args.json, out)
    return EXIT_ALL_FAILED if all_failed(result.models) else EXIT_OK


def print_result(
    result: PanelResult, document: SourceDocument, uri: str, as_json: bool, out: Console
) -> None:
    """The report, or the machine form as JSON."""
    if as_json:
        form: dict[str, Any]
        if isinstance(result, ReviewResult):
            form = review_machine_form(result, document, uri)
        elif isinstance(result, ImplementResult):
            form = implement_machine_form(result, document, uri)
        else:
            form = explain_machine_form(result, document, uri)
        sys.stdout.write(json.dumps(form, indent=2) + "\n")
    elif isinstance(result, ReviewResult):
        render_review(out, result, document)
    elif isinstance(result, ImplementResult):
        render_implementation(out, result, document)
    elif isinstance(result, ExplainResult):
        render_explanation(out, result, document)


async def run_models(args: argparse.Namespace, out: Console) -> int:
    """List the panel and, unless --no-check, ask each seat for a one-word answer."""
    config, _workspace, notice = resolve(args, Path.cwd())
    statuses = None
    if not args.no_check:
        try:
            statuses = await check_models(config)
        finally:
            await close_clients()
    if args.json:
        payload = {
            "notice": notice,
            "models": {name: seat.model_dump() for name, seat in config.models.items()},
            "panels": config.panels.model_dump(),
            "check": [s.model_dump() for s in statuses] if statuses is not None else None,
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        render_panel(out, config, statuses, notice)
    if statuses is not None and all_failed(statuses):
        return EXIT_ALL_FAILED
    return EXIT_OK


def run_cli(argv: list[str], parser: argparse.ArgumentParser | None = None) -> int:
    """Run one command; return its exit code."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        if args.command == "models":
            return anyio.run(run_models, args, out)
        return anyio.run(run_task, args, out, err)
    except (UsageError, ConfigError, ChorusError) as error:
        err.print(f"[bold red]chorus:[/] {error}", highlight=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("[bold red]chorus:[/] interrupted")
        return 130
