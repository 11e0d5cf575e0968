"""What the memory knows: `chorus/stats`, `chorus/history`, and their commands.

- `chorus/stats {since?, task?}` → per model (runs, answered/error/timeout shares, p50/p95
  latency, tokens, cost, agreement, accepted/dismissed/useful, cached share) and per task (runs,
  median wall, cost), from `orchestration.memory.stats.model_stats`;
- `chorus/history {limit?}` → the newest runs, newest first (`Store.history`).

Both replies are typed JSON (`server.memory_messages`) with the same report as markdown; the
commands `chorus.stats [since?, task?]` and `chorus.history [limit?]` answer the same and also
show the markdown as a document (LSP4IJ reaches `chorus.stats` through the code action "Chorus:
show model stats"). The store is read in a worker thread; a memory that is off or failing gives
`available: false` and empty lists, never an error.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcInvalidParams

from orchestration.types.durations import seconds_in
from server.commands import Argument, check_arguments
from server.language_server import ChorusLanguageServer
from server.memory_messages import (
    DEFAULT_HISTORY,
    HISTORY,
    HISTORY_COMMAND,
    STATS,
    STATS_COMMAND,
    HistoryParams,
    HistoryReply,
    HistoryRow,
    ModelStatsRow,
    StatsParams,
    StatsReply,
    TaskStatsRow,
)
from server.memory_view import history_markdown, stats_markdown
from server.shown import show_markdown, shown_file

if TYPE_CHECKING:
    from orchestration.memory.records import RunSummary
    from orchestration.memory.stats import ModelStats, StatsReport, TaskStats
    from orchestration.memory.store import Store


def model_row(stats: ModelStats) -> ModelStatsRow:
    """One model's stats as JSON (field by field, so a change of either shape fails type checking)."""
    return {
        "model": stats.model,
        "calls": stats.calls,
        "answered_rate": stats.answered_rate,
        "error_rate": stats.error_rate,
        "timeout_rate": stats.timeout_rate,
        "cached_share": stats.cached_share,
        "p50_latency_ms": stats.p50_latency_ms,
        "p95_latency_ms": stats.p95_latency_ms,
        "tokens_in": stats.tokens_in,
        "tokens_out": stats.tokens_out,
        "cost_usd": stats.cost_usd,
        "opinions": stats.opinions,
        "agreed": stats.agreed,
        "agreement": stats.agreement,
        "merged": stats.merged,
        "accepted": stats.accepted,
        "dismissed": stats.dismissed,
        "useful": stats.useful,
        "acceptance_rate": stats.acceptance_rate,
        "dismissal_rate": stats.dismissal_rate,
        "useful_rate": stats.useful_rate,
    }


def task_row(stats: TaskStats) -> TaskStatsRow:
    """One task's stats as JSON."""
    wall, cost = stats.median_wall_ms, stats.cost_usd
    return {"task": stats.task, "runs": stats.runs, "median_wall_ms": wall, "cost_usd": cost}


def history_row(run: RunSummary) -> HistoryRow:
    """One past run as JSON."""
    return {
        "run_id": run.run_id,
        "task": run.task,
        "workspace": run.workspace,
        "path": run.path,
        "start_line": run.start_line,
        "end_line": run.end_line,
        "user": run.user,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "outcome": run.outcome,
        "notice": run.notice,
        "seats": list(run.seats),
        "content_hash": run.content_hash,
        "config_hash": run.config_hash,
        "prompt_version": run.prompt_version,
    }


async def stats_reply(ls: ChorusLanguageServer, since: Any, task: str | None) -> StatsReply:
    """The stats over the last `since` (seconds or "30d"; None: all runs), of one task or all."""
    since_s = None if since is None else seconds_in(since)

    def query(store: Store) -> StatsReport:
        from orchestration.memory.stats import model_stats

        return model_stats(store, since_s=since_s, task=task)

    report, available = await ls.memory.read(query, None)
    if report is None:
        start = None if since_s is None else time.time() - since_s
        reply: StatsReply = {
            "since": start,
            "task": task,
            "generated_at": time.time(),
            "models": [],
            "tasks": [],
            "available": False,
            "markdown": "",
        }
    else:
        reply = {
            "since": report.since,
            "task": report.task,
            "generated_at": report.generated_at,
            "models": [model_row(stats) for stats in report.models],
            "tasks": [task_row(stats) for stats in report.tasks],
            "available": available,
            "markdown": "",
        }
    reply["markdown"] = stats_markdown(reply)
    return reply


async def history_reply(ls: ChorusLanguageServer, limit: int | None) -> HistoryReply:
    """The newest `limit` runs (`DEFAULT_HISTORY` when None), newest first."""
    count = limit or DEFAULT_HISTORY

    def query(store: Store) -> list[HistoryRow]:
        return [history_row(run) for run in store.history(count)]

    none: list[HistoryRow] = []
    runs, available = await ls.memory.read(query, none)
    return {"runs": runs, "available": available, "markdown": history_markdown(runs, available)}


async def chorus_stats(ls: ChorusLanguageServer, params: StatsParams | None) -> StatsReply:
    """`chorus/stats {since?, task?}` → `{models, tasks, since, task, generated_at, available, markdown}`."""
    return await stats_reply(ls, params.since if params else None, params.task if params else None)


async def chorus_history(ls: ChorusLanguageServer, params: HistoryParams | None) -> HistoryReply:
    """`chorus/history {limit?}` → `{runs, available, markdown}`."""
    return await history_reply(ls, params.limit if params else None)


STATS_ARGUMENTS = (Argument("since", Any, required=False), Argument("task", str, required=False))
HISTORY_ARGUMENTS = (Argument("limit", Any, required=False),)


def checked(command: str, arguments: tuple[Any, ...], spec: tuple[Argument, ...], params: type[Any]) -> Any:
    """Command arguments checked like the request's params (the same validators): InvalidParams if not."""
    values = check_arguments(command, arguments, spec)
    try:
        return params(*values)
    except (TypeError, ValueError) as error:
        raise JsonRpcInvalidParams(f"{command}: {error}") from None


async def stats_command(ls: ChorusLanguageServer, *arguments: Any) -> StatsReply:
    """`chorus.stats [since?, task?]`: the stats, also shown as a document."""
    params: StatsParams = checked(STATS_COMMAND, arguments, STATS_ARGUMENTS, StatsParams)
    reply = await stats_reply(ls, params.since, params.task)
    await show_markdown(ls, shown_file("memory", "model-stats.md"), reply["markdown"])
    return reply


async def history_command(ls: ChorusLanguageServer, *arguments: Any) -> HistoryReply:
    """`chorus.history [limit?]`: the newest runs, also shown as a document."""
    params: HistoryParams = checked(HISTORY_COMMAND, arguments, HISTORY_ARGUMENTS, HistoryParams)
    reply = await history_reply(ls, params.limit)
    await show_markdown(ls, shown_file("memory", "history.md"), reply["markdown"])
    return reply


def register(server: ChorusLanguageServer) -> None:
    """Register the stats and history requests and commands."""
    server.feature(STATS)(chorus_stats)
    server.feature(HISTORY)(chorus_history)
    server.command(STATS_COMMAND)(stats_command)
    server.command(HISTORY_COMMAND)(history_command)
