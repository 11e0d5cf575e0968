"""The `chorus` command line: review, implement, explain, models and route from a terminal.

Each review, implement and explain is recorded in the memory (`[store]`; a store that fails is one
warning on stderr, never a failed run; `--no-cache` asks the models even for a cached answer). The
memory's own commands (stats, history, show, audit, feedback, suppressions, store) live in
`faces.cli.memory_commands`; `chorus route FILE` (which seats a request would ask, and why) in
`faces.cli.route_command`.

Exit codes: 0 when at least one model answered (a partial panel is still a result),
1 when every model failed, 2 for usage, input or configuration errors (one line on
stderr). Reports go to stdout (or JSON with `--json`); live progress and notices go to
stderr. `chorus trust [DIR]` (with `--list`, `--revoke`) records which workspaces' configs
may set hosts, key variables and commands (see `orchestration.privacy.trust`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import anyio
from rich.console import Console

from faces.cli.agent_commands import AGENT_COMMANDS, add_agent_parsers, run_agent_command
from faces.cli.memory_commands import MEMORY_COMMANDS, add_memory_parsers, open_memory, run_memory
from faces.cli.models_check import check_models, render_panel
from faces.cli.report import render_explanation, render_implementation, render_review
from faces.cli.route_command import add_route_parser, run_route
from faces.cli.targets import Target, UsageError, check_lines, task_request
from faces.cli.terminal import make_console, say
from orchestration.machine_form import (
    MachineForm,
    explain_machine_form,
    implement_machine_form,
    review_machine_form,
)
from orchestration.panel.seats import all_failed
from orchestration.pipelines.explain import explain_diagnostics
from orchestration.pipelines.implement import implement_stub
from orchestration.pipelines.review import review_selection
from orchestration.privacy import trust
from orchestration.providers.chat import close_clients
from orchestration.providers.local_panel import choose_config
from orchestration.types.config import ChorusConfig, ConfigError, LoadedConfig, find_settings, load_layers
from orchestration.types.errors import ChorusError, InputError
from orchestration.types.requests import (
    ImplementRequest,
    ReviewRequest,
    SourceDocument,
)
from orchestration.types.results import (
    ExplainResult,
    ImplementResult,
    PanelEvent,
    PanelResult,
    ResultUpdate,
    ReviewResult,
    SeatFinished,
    SeatStarted,
)

EXIT_OK, EXIT_ALL_FAILED, EXIT_USAGE = 0, 1, 2


def git_root(folder: Path) -> Path | None:
    """The nearest folder from `folder` upwards holding a `.git` (directory or file)."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def workspace_root(start: Path, cwd: Path) -> Path:
    """Where the config search stops: the git root holding `start`, else the cwd holding it, else `start`.

    `start` is taken as named (a symlinked folder is where the link is, not where it leads), so a
    link cannot move the workspace, and with it what the exclude globs are matched from."""
    start, cwd = Path(os.path.abspath(start)), Path(os.path.abspath(cwd))
    found = git_root(start)
    if found is not None:
        return found
    return cwd if start.is_relative_to(cwd) else start


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
    for asking in (review, implement, explain):
        asking.add_argument("--no-cache", action="store_true", help="ask the models even for a cached answer")
    models = sub.add_parser("models", parents=[common], help="show the panel and check each model live")
    models.add_argument("--no-check", action="store_true", help="only list the panel")
    trusting = sub.add_parser(
        "trust",
        help="trust a workspace's Chorus config: its api_base, api_key_env and commands then apply",
        description="Trust the Chorus config of DIR (default: the git root here, or the current folder). "
        "Trust is recorded with a hash of the config; after any change it must be trusted again.",
    )
    trusting.add_argument("dir", nargs="?", type=Path, metavar="DIR", help="the workspace folder")
    action = trusting.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="list trusted workspaces")
    action.add_argument("--revoke", action="store_true", help="stop trusting DIR")
    add_route_parser(sub, common)
    add_memory_parsers(sub, common)
    add_agent_parsers(sub, common)
    mcp = sub.add_parser("mcp", help="serve Chorus to coding agents over MCP (stdio; see docs/mcp.md)")
    mcp.add_argument("--config", type=Path, help="a chorus.toml (or pyproject.toml) for every tool call")
    mcp.add_argument("--workspace", type=Path, help="workspace root (default: where chorus.toml is)")
    mcp.add_argument("--http", metavar="HOST:PORT", help="streamable HTTP on loopback (127.0.0.1:PORT)")
    serve = sub.add_parser("serve", help="run the language server on stdio (the `server` package)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio (debugging)")
    return parser


def load(args: argparse.Namespace, anchor: Path, err: Console) -> tuple[LoadedConfig, Path]:
    """The layered config and the workspace root its search stopped at (`--workspace`, else
    `workspace_root`). An untrusted workspace config's notice is printed once, on stderr."""
    root = args.workspace.resolve() if args.workspace is not None else workspace_root(anchor, Path.cwd())
    loaded = load_layers(anchor, root, args.config)
    if loaded.notice:
        say(err, "[bold yellow]chorus:[/] {}", loaded.notice)
    return loaded, root


def resolve(args: argparse.Namespace, anchor: Path, err: Console) -> tuple[ChorusConfig, Path, str | None]:
    """Load the config, pick the workspace, and fall back to the local panel when nothing is set."""
    loaded, root = load(args, anchor, err)
    workspace = args.workspace
    if workspace is None and loaded.workspace_file is not None:
        workspace = loaded.workspace_file.path.parent
    config, notice = choose_config(loaded.config, os.environ)
    return config, (workspace or root).resolve(), notice


class ProgressPrinter:
    """Live progress on stderr: one line per seat as it finishes."""

    def __init__(self, console: Console) -> None:
        self.console = console

    async def __call__(self, event: PanelEvent) -> None:
        if isinstance(event, SeatStarted):
            say(self.console, "[dim]… asking {}[/]", event.name)
        elif isinstance(event, SeatFinished):
            mark = "✓" if event.status.status == "ok" else "✗"
            reason = f": {event.status.error}" if event.status.error and event.status.status != "ok" else ""
            say(
                self.console,
                "[dim]{} {}/{} {}{}[/]",
                mark,
                event.answered,
                event.total,
                event.status.describe(),
                reason,
            )
        elif isinstance(event, ResultUpdate) and not event.final:
            found = getattr(event.result, "findings", None)
            if found is not None:
                say(self.console, "[dim]  partial merge: {} finding(s)[/]", len(found))


async def run_task(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Carry out review / implement / explain, record it in the memory, and print the result."""
    target = Target.parse(args.target)
    config, workspace, notice = resolve(args, target.path.absolute().parent, err)
    if args.no_cache:
        config = config.model_copy(update={"cache": config.cache.model_copy(update={"enabled": False})})
    document = target.read(config.policy.max_file_bytes)
    check_lines(target, document)
    request = task_request(args.command, target, document, args.message if args.command == "explain" else [])
    progress = ProgressPrinter(err)
    memory = open_memory(config, err)
    result: PanelResult
    try:
        if isinstance(request, ReviewRequest):
            result = await review_selection(
                request, config, workspace=workspace, on_event=progress, memory=memory
            )
        elif isinstance(request, ImplementRequest):
            result = await implement_stub(
                request, config, workspace=workspace, on_event=progress, memory=memory
            )
        else:
            result = await explain_diagnostics(
                request, config, workspace=workspace, on_event=progress, memory=memory
            )
    finally:
        await close_clients()
        if memory is not None:
            await anyio.to_thread.run_sync(memory.close)
    notices = (notice, result.notice)
    result = result.model_copy(update={"notice": "; ".join(note for note in notices if note) or None})
    print_result(result, document, target.path.resolve().as_uri(), args.json, out)
    return EXIT_ALL_FAILED if all_failed(result.models) else EXIT_OK


def print_result(
    result: PanelResult, document: SourceDocument, uri: str, as_json: bool, out: Console
) -> None:
    """The report, or the machine form as JSON."""
    if as_json:
        form: MachineForm
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


async def run_models(args: argparse.Namespace, out: Console, err: Console) -> int:
    """List the panel and, unless --no-check, ask each seat for a one-word answer."""
    config, _workspace, notice = resolve(args, Path.cwd(), err)
    statuses = None
    if not args.no_check:
        memory = open_memory(config, err)
        try:
            statuses = await check_models(config, memory)
        finally:
            await close_clients()
            if memory is not None:
                await anyio.to_thread.run_sync(memory.close)
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
    out, err = make_console(), make_console(stderr=True)
    try:
        if args.command == "trust":
            return run_trust(args, out)
        if args.command == "mcp":
            from faces.mcp.server import run_mcp

            return run_mcp(args)
        if args.command == "models":
            return anyio.run(run_models, args, out, err)
        if args.command == "route":
            return anyio.run(run_route, args, out, err, resolve)
        if args.command in MEMORY_COMMANDS:
            return run_memory(args, out, err, load(args, Path.cwd(), err)[0].config)
        if args.command in AGENT_COMMANDS:
            return anyio.run(run_agent_command, args, out, err)
        return anyio.run(run_task, args, out, err)
    except (UsageError, ConfigError, InputError, ChorusError) as error:
        say(err, "[bold red]chorus:[/] {}", " ".join(str(error).split()))
        return EXIT_USAGE
    except KeyboardInterrupt:
        say(err, "[bold red]chorus:[/] interrupted")
        return 130


def trust_target(args: argparse.Namespace) -> tuple[Path, Path]:
    """The folder `chorus trust` is about, and where its config search stops (its git root, or itself)."""
    cwd = Path.cwd().resolve()
    folder = args.dir.resolve() if args.dir is not None else (git_root(cwd) or cwd)
    if not folder.is_dir():
        raise UsageError(f"{args.dir}: not a folder")
    return folder, git_root(folder) or folder


def run_trust(args: argparse.Namespace, out: Console) -> int:
    """`chorus trust [DIR]`, `chorus trust --list`, `chorus trust --revoke [DIR]`."""
    if args.list:
        records = trust.load_records()
        if not records:
            say(out, "No trusted workspaces (records: {}).", trust.trust_store_path())
        for record in records:
            say(out, "{}  {}  {}", record.workspace, record.config or "(no config)", record_state(record))
        return EXIT_OK
    folder, root = trust_target(args)
    found = find_settings(folder, root)
    if args.revoke:
        removed = trust.revoke_workspace(folder, found.path if found else None)
        say(out, "No longer trusted: {}" if removed else "{} was not trusted.", folder)
        return EXIT_OK
    digest = trust.settings_digest(found.raw) if found else None
    trust.trust_workspace(folder, found.path if found else None, digest)
    if found is None:
        say(out, "Trusted {} (no Chorus config there yet; one added later must be trusted too).", folder)
        return EXIT_OK
    _clean, honoured = trust.strip_untrusted(found.raw, {})
    say(out, "Trusted {} (sha256 {}).", found.label, (digest or "")[:12])
    if honoured:
        say(
            out,
            "Now honoured: {}. Any change to this config needs `chorus trust` again.",
            ", ".join(honoured),
        )
    return EXIT_OK


def record_state(record: trust.TrustRecord) -> str:
    """Whether a trust record still holds: the config is unchanged since it was trusted."""
    if record.config is None:
        return "trusted (had no config)"
    try:
        found = find_settings(Path(record.config).parent)
    except ConfigError as error:
        return f"unreadable: {error}"
    if found is None or str(found.path) != record.config:
        return "config missing"
    if trust.settings_digest(found.raw) != record.sha256:
        return "changed since trusted: run `chorus trust` again"
    return "trusted"
