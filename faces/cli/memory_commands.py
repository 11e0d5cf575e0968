"""The memory from the command line: `chorus stats`, `history`, `show`, `audit`, `feedback`,
`suppressions`, `trust-scores` and `store prune|export|path`.

Each command opens the store the loaded config names (`[store]`: the SQLite file, or a PostgreSQL
URL) on this thread, reads or writes it, and closes it. A store that is turned off, unreadable or
too new, a bad `--since`, or a run id that is not there is one line on stderr and exit 2. With
`--json` the data is printed as JSON (the same fields as the typed records of
`orchestration.memory.records`, `orchestration.memory.stats` and `orchestration.learning.trust`);
otherwise as tables (`faces.cli.memory_report`). With `[learning] enabled = false`, `trust-scores`
says so in one line and `stats` shows no trust.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final, cast

from rich.console import Console

from faces.cli.memory_report import (
    render_audit,
    render_history,
    render_run,
    render_stats,
    render_suppressions,
    render_trust,
)
from faces.cli.stats_chart import ChartUnavailable, write_chart
from faces.cli.terminal import say
from orchestration.learning.trust import TrustReport, model_weights, trust_scores
from orchestration.memory import opening
from orchestration.memory.engine import store_location
from orchestration.memory.errors import StoreError
from orchestration.memory.records import JSONValue, Verdict
from orchestration.memory.settings import StoreConfig
from orchestration.memory.stats import audit_entries, model_stats, to_json
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.types.config import ChorusConfig
from orchestration.types.durations import window_seconds
from orchestration.types.errors import InputError

MEMORY_COMMANDS: Final = frozenset(
    {"stats", "history", "show", "audit", "feedback", "suppressions", "store", "trust-scores"}
)
EXIT_OK, EXIT_USAGE = 0, 2


def parse_since(text: str) -> float | None:
    """'30d', '12h', '90m', '45s', '2w' in seconds; 'all' → None. `InputError` for anything else."""
    try:
        return window_seconds(text)
    except ValueError:
        raise InputError(
            f"cannot read --since {text!r}: use a number and a unit (s, m, h, d, w), e.g. 30d, or all"
        ) from None


def add_memory_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Register the memory's subcommands (each takes --config, --workspace and --json)."""
    stats = sub.add_parser(
        "stats", parents=[common], help="per model and per task: calls, latency, cost, verdicts"
    )
    stats.add_argument("--since", default="30d", help="window, e.g. 30d, 12h, 2w, or all (default 30d)")
    stats.add_argument("--task", choices=["review", "implement", "explain"], help="only runs of this task")
    stats.add_argument("--chart", type=Path, metavar="FILE.png", help="also draw latency against acceptance")
    history = sub.add_parser("history", parents=[common], help="the latest runs, newest first")
    history.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    show = sub.add_parser(
        "show", parents=[common], help="one run: each seat's opinion and the merged findings"
    )
    show.add_argument("run_id", metavar="RUN_ID", help="a run id from `chorus history` (or a unique prefix)")
    audit = sub.add_parser("audit", parents=[common], help="what left the machine in each model call")
    audit.add_argument("--since", default="7d", help="window, e.g. 7d, 24h, or all (default 7d)")
    audit.add_argument("--model", help="only calls of this model id or seat name")
    feedback = sub.add_parser("feedback", parents=[common], help="your verdict on a finding")
    feedback.add_argument(
        "finding_id", metavar="FINDING_ID", help="from `chorus show` or a diagnostic's data"
    )
    feedback.add_argument("verdict", choices=["accept", "dismiss", "useful"])
    suppressions = sub.add_parser("suppressions", parents=[common], help="findings hidden on unchanged code")
    suppressions.add_argument("--clear", action="store_true", help="show them all again")
    trust = sub.add_parser(
        "trust-scores", parents=[common], help="how far each model's findings can be trusted, learnt"
    )
    trust.add_argument("--since", default="all", help="window, e.g. 90d, 2w, or all (default all)")
    trust.add_argument("--task", choices=["review", "implement", "explain"], help="only runs of this task")
    store = sub.add_parser("store", parents=[common], help="the store itself: prune, export, path")
    store.add_argument("action", choices=["prune", "export", "path"])


def print_json(payload: object) -> None:
    """JSON on stdout (control characters come out escaped)."""
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


def open_memory(config: ChorusConfig, err: Console) -> StoreWriter | None:
    """The writer a review, implement or explain records its run through (None with the store off).

    A store that cannot be opened or written is one warning on stderr (`orchestration.memory.opening`);
    the request goes on."""
    return opening.open_memory(config, lambda warning: say(err, "[bold yellow]chorus:[/] {}", warning))


def run_memory(args: argparse.Namespace, out: Console, err: Console, config: ChorusConfig) -> int:
    """Carry out one memory command."""
    if args.command == "stats":
        return run_stats(args, out, err, config)
    if args.command == "trust-scores":
        return run_trust_scores(args, out, err, config)
    handlers: dict[str, Callable[[argparse.Namespace, Console, Console, StoreConfig], int]] = {
        "history": run_history,
        "show": run_show,
        "audit": run_audit,
        "feedback": run_feedback,
        "suppressions": run_suppressions,
        "store": run_store,
    }
    return handlers[args.command](args, out, err, config.store)


def read_trust(store: Store, config: ChorusConfig, since_s: float | None, task: str | None) -> TrustReport:
    """The trust scores under the config's learning settings, priors (seat weights) and agreement."""
    return trust_scores(
        store, config.learning, weights=model_weights(config.models),
        min_agreement=config.policy.min_agreement, since_s=since_s, task=task,
    )  # fmt: skip


def run_stats(args: argparse.Namespace, out: Console, err: Console, config: ChorusConfig) -> int:
    """`chorus stats [--since 30d] [--task T] [--json] [--chart FILE.png]`: with learning on, each
    model's trust over the same window (`trust` in JSON: mean, low, high, events, verdicts)."""
    since_s = parse_since(args.since)
    with Store.open(config.store) as store:
        report = model_stats(store, since_s=since_s, task=args.task)
        trust = read_trust(store, config, since_s, args.task) if config.learning.enabled else None
    if args.json:
        print_json(report.to_json() if trust is None else with_trust(report.to_json(), trust))
    else:
        render_stats(out, report, trust)
    if args.chart is not None:
        try:
            drawn = write_chart(report, args.chart)
        except ChartUnavailable as error:
            say(err, "[bold red]chorus:[/] {}", error)
            return EXIT_USAGE
        say(err, "[dim]chart of {} model(s) written to {}[/]", drawn, args.chart)
    return EXIT_OK


def with_trust(data: dict[str, JSONValue], trust: TrustReport) -> dict[str, JSONValue]:
    """Stats JSON with each model's `trust` (mean, low, high, events, verdicts) added."""
    rows = cast(list[dict[str, JSONValue]], data["models"])
    models: list[JSONValue] = [{**row, "trust": trust.for_model(str(row["model"])).summary()} for row in rows]
    return {**data, "models": models}


def run_trust_scores(args: argparse.Namespace, out: Console, _err: Console, config: ChorusConfig) -> int:
    """`chorus trust-scores [--since all] [--task T] [--json]`: each model's learnt trust."""
    since_s = parse_since(args.since)
    if not config.learning.enabled:
        if args.json:
            print_json({"enabled": False, "models": [], "scores": []})
        else:
            say(out, "Learning is turned off ({} enabled = false): no trust scores.", "[learning]")
        return EXIT_OK
    with Store.open(config.store) as store:
        report = read_trust(store, config, since_s, args.task)
    if args.json:
        print_json(report.to_json())
    else:
        render_trust(out, report)
    return EXIT_OK


def run_history(args: argparse.Namespace, out: Console, _err: Console, config: StoreConfig) -> int:
    """`chorus history [--limit 20] [--json]`."""
    if args.limit < 1:
        raise InputError(f"--limit must be at least 1, not {args.limit}")
    with Store.open(config) as store:
        runs = store.history(args.limit)
    if args.json:
        print_json({"runs": to_json(runs)})
    else:
        render_history(out, runs)
    return EXIT_OK


def run_show(args: argparse.Namespace, out: Console, _err: Console, config: StoreConfig) -> int:
    """`chorus show RUN_ID [--json]`."""
    with Store.open(config) as store:
        detail = store.show(args.run_id)
    if detail is None:
        raise InputError(
            f"no run {args.run_id!r} in the store (see `chorus history`; a prefix must be unique)"
        )
    if args.json:
        print_json(to_json(detail))
    else:
        render_run(out, detail)
    return EXIT_OK


def run_audit(args: argparse.Namespace, out: Console, _err: Console, config: StoreConfig) -> int:
    """`chorus audit [--since 7d] [--model X] [--json]`."""
    since_s = parse_since(args.since)
    with Store.open(config) as store:
        entries = audit_entries(store, since_s=since_s, model=args.model)
    if args.json:
        print_json({"calls": to_json(entries)})
    else:
        render_audit(out, entries)
    return EXIT_OK


def run_feedback(args: argparse.Namespace, out: Console, err: Console, config: StoreConfig) -> int:
    """`chorus feedback FINDING_ID accept|dismiss|useful`: the finding must be in the store."""
    from orchestration.memory.feedback import record_verdict

    with Store.open(config) as store:
        if store.finding(args.finding_id) is None:
            raise InputError(f"no finding {args.finding_id!r} in the store (see `chorus show RUN_ID`)")
    warnings: list[str] = []
    opening.quiet_store_log()
    memory = StoreWriter(config, on_warning=warnings.append)
    try:
        verdict: Verdict = args.verdict
        result = record_verdict(memory, args.finding_id, verdict)
    except ValueError as error:
        raise InputError(str(error)) from None
    finally:
        memory.close()
    failed = warnings[0] if warnings else (None if result.recorded else result.reason)
    if failed:
        raise StoreError(f"the verdict was not recorded: {failed}")
    if args.json:
        print_json({"finding_id": args.finding_id, "verdict": args.verdict, "recorded": True,
                    "suppressed": result.suppressed, "reason": result.reason})  # fmt: skip
        return EXIT_OK
    say(out, "Recorded: {} on finding {}.", args.verdict, args.finding_id)
    if result.suppressed:
        say(
            out,
            "It stays hidden while the code around it is unchanged (`chorus suppressions --clear` undoes).",
        )
    elif args.verdict == "dismiss" and result.reason:
        say(err, "[yellow]chorus:[/] not hidden: {}", result.reason)
    return EXIT_OK


def run_suppressions(args: argparse.Namespace, out: Console, _err: Console, config: StoreConfig) -> int:
    """`chorus suppressions [--clear] [--json]`."""
    with Store.open(config) as store:
        entries = store.suppressions()
        if args.clear:
            store.clear_suppressions()
    if args.json:
        print_json({"suppressions": to_json(entries), "cleared": bool(args.clear)})
    elif args.clear:
        mine = sum(1 for entry in entries if entry.user == store.user)
        say(out, "Cleared {} suppression(s); those findings show again.", mine)
    else:
        render_suppressions(out, entries)
    return EXIT_OK


def run_store(args: argparse.Namespace, out: Console, _err: Console, config: StoreConfig) -> int:
    """`chorus store path` (works with the store off), `chorus store prune`, `chorus store export`."""
    if args.action == "path":
        location = store_location(config)
        if args.json:
            print_json({"backend": config.backend, "location": location, "enabled": config.enabled})
        else:
            say(out, "{}{}", location, "" if config.enabled else " (turned off: [store] enabled = false)")
        return EXIT_OK
    with Store.open(config) as store:
        if args.action == "export":
            print_json(store.export())
            return EXIT_OK
        pruned = store.prune()
    if args.json:
        print_json({"retention_days": config.retention_days, **to_json_dict(pruned)})
    else:
        say(
            out,
            "Pruned what is older than {} days: {} run(s), {} audit row(s), {} verdict(s), {} cache entries.",
            config.retention_days, pruned.runs, pruned.audit, pruned.feedback, pruned.cache,
        )  # fmt: skip
    return EXIT_OK


def to_json_dict(value: object) -> dict[str, object]:
    """A record's fields as a JSON object."""
    data = to_json(value)
    return dict(data) if isinstance(data, dict) else {"value": data}
