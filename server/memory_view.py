"""The memory's reports as markdown: the model stats table and the run history.

`chorus/stats` and `chorus/history` carry this text (`markdown`) next to their typed JSON, so
every client shows the same page without logic of its own: VS Code renders it in a markdown
preview, LSP4IJ opens it as a document (`window/showDocument`), others get a message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from server.memory_messages import HistoryRow, ModelStatsRow, StatsReply, TaskStatsRow

UNAVAILABLE = (
    "The memory is off (`[store] enabled = false`) or cannot be read right now, so there is nothing to show."
)


def percent(share: float | None) -> str:
    """0.4567 → "46%"; None → "–"."""
    return "–" if share is None else f"{share * 100:.0f}%"


def millis(value: float | None) -> str:
    """A duration in ms as "850 ms" or "2.4 s"; None → "–"."""
    if value is None:
        return "–"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def dollars(cost: float) -> str:
    """Cost in USD: "$0" for nothing, four decimals below a dollar, else two."""
    if cost == 0:
        return "$0"
    return f"${cost:.4f}" if cost < 1 else f"${cost:,.2f}"


def counted(count: int, share: float | None) -> str:
    """A count with its share, e.g. 2 (40%); just 0 when nothing was counted."""
    return f"{count} ({percent(share)})" if count else "0"


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines


def model_row(stats: ModelStatsRow) -> list[str]:
    """One model's line in the stats table."""
    return [
        f"`{stats['model']}`",
        str(stats["calls"]),
        percent(stats["answered_rate"]),
        percent(stats["error_rate"]),
        percent(stats["timeout_rate"]),
        millis(stats["p50_latency_ms"]),
        millis(stats["p95_latency_ms"]),
        f"{stats['tokens_in']:,} / {stats['tokens_out']:,}",
        dollars(stats["cost_usd"]),
        percent(stats["agreement"]),
        counted(stats["accepted"], stats["acceptance_rate"]),
        counted(stats["dismissed"], stats["dismissal_rate"]),
        counted(stats["useful"], stats["useful_rate"]),
        percent(stats["cached_share"]),
    ]


MODEL_HEADER = (
    "Model",
    "Calls",
    "Answered",
    "Errors",
    "Timeouts",
    "p50",
    "p95",
    "Tokens in / out",
    "Cost",
    "Agreement",
    "Fixes accepted",
    "Dismissed",
    "Useful",
    "Cached",
)


def task_row(stats: TaskStatsRow) -> list[str]:
    """One task's line in the per-task table."""
    return [stats["task"], str(stats["runs"]), millis(stats["median_wall_ms"]), dollars(stats["cost_usd"])]


def when(epoch: float) -> str:
    """Local time, to the minute."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def stats_markdown(reply: StatsReply) -> str:
    """The stats page: one table per model, one per task, and the window they cover."""
    scope = f"since {when(reply['since'])}" if reply["since"] is not None else "all recorded runs"
    if reply["task"] is not None:
        scope += f", task {reply['task']}"
    lines = ["# Chorus: model stats", "", f"*{scope}; as of {when(reply['generated_at'])}.*", ""]
    if not reply["available"]:
        return "\n".join([*lines, UNAVAILABLE, ""])
    if not reply["models"] and not reply["tasks"]:
        return "\n".join([*lines, "No runs recorded yet.", ""])
    lines += ["## Per model", "", *table(MODEL_HEADER, [model_row(m) for m in reply["models"]]), ""]
    tasks = table(("Task", "Runs", "Median wall", "Cost"), [task_row(t) for t in reply["tasks"]])
    lines += ["## Per task", "", *tasks]
    lines += [
        "",
        "*Shares are of the calls made (skipped seats excluded); agreement is the share of a model's "
        "own findings that reached the merge; accepted, dismissed and useful count the merged findings "
        "it took part in.*",
        "",
    ]
    return "\n".join(lines)


def history_markdown(runs: Sequence[HistoryRow], available: bool) -> str:
    """The history page: the newest runs, newest first."""
    lines = ["# Chorus: recent runs", ""]
    if not available:
        return "\n".join([*lines, UNAVAILABLE, ""])
    if not runs:
        return "\n".join([*lines, "No runs recorded yet.", ""])
    rows = []
    for run in runs:
        where = (run["path"] or "").rsplit("/", 1)[-1] or "–"
        if run["start_line"] is not None:
            where += f":{run['start_line']}-{run['end_line'] or run['start_line']}"
        wall = None if run["ended_at"] is None else (run["ended_at"] - run["started_at"]) * 1000
        rows.append(
            [f"`{run['run_id']}`", when(run["started_at"]), run["task"], where, run["outcome"], millis(wall)]
        )
    return "\n".join([*lines, *table(("Run", "Started", "Task", "Where", "Outcome", "Wall"), rows), ""])
