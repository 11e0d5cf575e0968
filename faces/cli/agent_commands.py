"""Agent seats from the command line: `chorus ask SEAT FINDING_ID "question"` and `chorus sessions`.

`ask` looks the finding up in the memory (its message, lines and the code as it is now) and asks
one seat about it (`orchestration.providers.agents.followup`); an agent seat resumes the session it
keeps for this workspace, so it remembers the review that found it. `sessions` lists the agent
sessions kept for the user (`--clear` forgets them; with `--workspace`, only that workspace's).
A store that is off or failing, an unknown seat or finding is one line on stderr and exit 2; a
seat that fails is one line and exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Final

import anyio
from rich.console import Console
from rich.table import Table

from faces.cli.terminal import say, shown
from orchestration.memory import opening, sessions
from orchestration.memory.errors import StoreError
from orchestration.memory.store import Store
from orchestration.providers.agents.followup import ask_about_finding, finding_context
from orchestration.providers.base import CallUsage
from orchestration.providers.chat import close_clients
from orchestration.types.config import ChorusConfig
from orchestration.types.errors import ProviderError

AGENT_COMMANDS: Final[tuple[str, ...]] = ("ask", "sessions")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_agent_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Register `ask` and `sessions` (each takes --config, --workspace and --json)."""
    ask = sub.add_parser(
        "ask", parents=[common], help="ask one seat more about a finding (an agent resumes its session)"
    )
    ask.add_argument("seat", metavar="SEAT", help="a seat under [models], e.g. claude-code")
    ask.add_argument("finding_id", metavar="FINDING_ID", help="a finding id from `chorus show` or --json")
    ask.add_argument("question", metavar="QUESTION", help="what you want to know")
    kept = sub.add_parser("sessions", parents=[common], help="the agent sessions kept per workspace and seat")
    kept.add_argument("--clear", action="store_true", help="forget them (with --workspace: only that one's)")


def _config(args: argparse.Namespace, err: Console) -> tuple[ChorusConfig, Path]:
    from faces.cli.main import resolve  # main imports this module: resolve it when it runs

    config, workspace, _notice = resolve(args, Path.cwd(), err)
    return config, workspace


async def run_agent_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Carry out `ask` or `sessions`; returns the exit code."""
    config, workspace = _config(args, err)
    if args.command == "sessions":
        return await anyio.to_thread.run_sync(run_sessions, args, out, err, config)
    return await run_ask(args, out, err, config, workspace)


async def run_ask(
    args: argparse.Namespace, out: Console, err: Console, config: ChorusConfig, workspace: Path
) -> int:
    """`chorus ask SEAT FINDING_ID QUESTION`."""
    if not config.store.enabled:
        say(
            err,
            "[bold red]chorus:[/] the store is turned off ([store] enabled = false): no finding to ask about",
        )
        return EXIT_USAGE
    memory = opening.open_memory(config, lambda warning: say(err, "[bold yellow]chorus:[/] {}", warning))
    if memory is None:
        return EXIT_USAGE
    usage = CallUsage()
    try:
        try:
            context = await anyio.to_thread.run_sync(
                lambda: memory.read(lambda store: finding_context(store, args.finding_id, workspace), None)
            )
        except StoreError as error:
            say(err, "[bold red]chorus:[/] {}", error)
            return EXIT_USAGE
        if context is None:
            say(err, "[bold red]chorus:[/] the store at {} cannot be read", memory.config.path)
            return EXIT_USAGE
        say(err, "[dim]… asking {} about finding {}[/]", args.seat, context.finding.finding_id)
        try:
            answer = await ask_about_finding(
                config, args.seat, context, args.question, workspace=workspace, memory=memory, usage=usage
            )
        except ProviderError as error:
            say(err, "[bold red]chorus:[/] {}", " ".join(str(error).split()))
            return EXIT_FAILED
    finally:
        await close_clients()
        await anyio.to_thread.run_sync(memory.close)
    if args.json:
        payload = {
            "seat": args.seat,
            "finding_id": context.finding.finding_id,
            "answer": answer,
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "cost_usd": usage.cost_usd,
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        say(
            out,
            "[bold]{}[/] on finding {} ({}):",
            args.seat,
            context.finding.finding_id,
            context.finding.message,
        )
        out.print(shown(answer))
    return EXIT_OK


def run_sessions(args: argparse.Namespace, out: Console, err: Console, config: ChorusConfig) -> int:
    """`chorus sessions [--clear]` (blocking: the store is read on this thread)."""
    only = str(args.workspace.resolve()) if args.workspace is not None else None
    try:
        with Store.open(config.store) as store:
            if args.clear:
                removed = sessions.clear(store, only)
                say(out, "Forgot {} agent session{}.", removed, "" if removed == 1 else "s")
                return EXIT_OK
            kept = sessions.listed(store, only)
    except StoreError as error:
        say(err, "[bold red]chorus:[/] {}", error)
        return EXIT_USAGE
    if args.json:
        rows = [
            {
                "workspace": s.workspace,
                "seat": s.seat,
                "agent": s.agent,
                "session_id": s.session_id,
                "user": s.user,
                "run_id": s.run_id,
                "created_at": s.created_at,
                "used_at": s.used_at,
            }
            for s in kept
        ]
        sys.stdout.write(json.dumps({"sessions": rows}, indent=2) + "\n")
        return EXIT_OK
    if not kept:
        say(out, "No agent sessions kept.")
        return EXIT_OK
    table = Table(title="Agent sessions")
    for column in ("workspace", "seat", "agent", "session", "last used"):
        table.add_column(column)
    for s in kept:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.used_at))
        table.add_row(shown(s.workspace), shown(s.seat), shown(s.agent), shown(s.session_id), used)
    out.print(table)
    return EXIT_OK
