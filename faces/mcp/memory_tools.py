"""The memory as MCP tools: stats, history, show_run, feedback and recall.

They read and write the store the loaded config names (`[store]`), the same one `chorus stats`,
`chorus history` and the language server use. The config is loaded from the server's working
directory (or `--config`), as the CLI's memory commands do; `recall` loads it for the file it is
asked about. Every call is blocking database work and runs in a worker thread, off the event loop.
Results are JSON with the fields of the store's typed records (`orchestration.memory.records`,
`orchestration.memory.stats`), plus a short text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, cast

from mcp_types import CallToolResult, TextContent

from faces.cli.memory_commands import parse_since
from faces.mcp.setup import ServeOptions, ToolRefusal, file_path, load, one_line, resolve
from orchestration.memory.errors import StoreError
from orchestration.memory.feedback import VERDICTS, record_verdict
from orchestration.memory.opening import quiet_store_log
from orchestration.memory.recall import recall_findings
from orchestration.memory.recorder import relative_path
from orchestration.memory.records import JSONValue, Verdict
from orchestration.memory.stats import model_stats, to_json
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.types.config import ChorusConfig

TASKS: Final = ("review", "implement", "explain")
MAX_HISTORY: Final = 500


def result(text: str, data: dict[str, JSONValue]) -> CallToolResult:
    """A successful tool result: `text` for reading, `data` as structured content."""
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def cwd_config(options: ServeOptions) -> ChorusConfig:
    """The config loaded from the working directory (or `--config`), as the CLI's memory commands do."""
    return load(options, Path.cwd())[0].config


def stats(options: ServeOptions, since: str, task: str | None) -> CallToolResult:
    """Per model and per task over `since` ("30d", "12h", "all")."""
    if task is not None and task not in TASKS:
        raise ToolRefusal(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    since_s = parse_since(since)
    with Store.open(cwd_config(options).store) as store:
        report = model_stats(store, since_s=since_s, task=task)
    lines = [f"{len(report.models)} model(s) over {since}{f', task {task}' if task else ''}:"]
    lines += [
        f"- {m.model}: {m.calls} call(s), {m.merged} merged finding(s), {m.dismissed} dismissed, "
        f"{m.accepted} accepted" for m in report.models
    ]  # fmt: skip
    return result("\n".join(lines), report.to_json())


def history(options: ServeOptions, limit: int) -> CallToolResult:
    """The newest `limit` runs, newest first."""
    if not 1 <= limit <= MAX_HISTORY:
        raise ToolRefusal(f"limit must be from 1 to {MAX_HISTORY}, not {limit}")
    with Store.open(cwd_config(options).store) as store:
        runs = store.history(limit)
    lines = [f"{len(runs)} run(s), newest first:"]
    lines += [f"- {run.run_id} {run.task} {run.path or '?'} {run.outcome}" for run in runs]
    return result("\n".join(lines), {"runs": to_json(runs)})


def show_run(options: ServeOptions, run_id: str) -> CallToolResult:
    """One run in full: each seat's opinion, the merged findings, conflicts and verdicts."""
    if not run_id.strip():
        raise ToolRefusal("run_id is empty: take one from the history tool")
    with Store.open(cwd_config(options).store) as store:
        detail = store.show(run_id.strip())
    if detail is None:
        raise ToolRefusal(f"no run {run_id!r} in the store (see the history tool; a prefix must be unique)")
    run = detail.run
    lines = [
        f"Run {run.run_id}: {run.task} of {run.path or '?'} ({run.outcome}), seats {', '.join(run.seats)}."
    ]
    lines += [
        f"- finding {f.finding_id} line {f.start_line}: {f.severity} [{f.votes}/{f.panel_size} models] "
        f"{one_line(f.message)}" for f in detail.findings
    ]  # fmt: skip
    data = to_json(detail)
    return result("\n".join(lines), cast(dict[str, JSONValue], data))


def feedback(options: ServeOptions, finding_id: str, verdict: str) -> CallToolResult:
    """Record the user's verdict on a finding; "dismiss" also hides it on unchanged code."""
    if verdict not in VERDICTS:
        raise ToolRefusal(f"verdict must be one of {', '.join(sorted(VERDICTS))}, not {verdict!r}")
    config = cwd_config(options)
    with Store.open(config.store) as store:
        if store.finding(finding_id) is None:
            raise ToolRefusal(f"no finding {finding_id!r} in the store (see the show_run tool)")
    warnings: list[str] = []
    quiet_store_log()
    memory = StoreWriter(config.store, on_warning=warnings.append)
    try:
        outcome = record_verdict(memory, finding_id, cast(Verdict, verdict))
    except ValueError as error:
        raise ToolRefusal(str(error)) from None
    finally:
        memory.close()
    failed = warnings[0] if warnings else (None if outcome.recorded else outcome.reason)
    if failed:
        raise StoreError(f"the verdict was not recorded: {failed}")
    text = f"Recorded: {verdict} on finding {finding_id}."
    if outcome.suppressed:
        text += " It stays hidden while the code around it is unchanged."
    elif verdict == "dismiss" and outcome.reason:
        text += f" Not hidden: {one_line(outcome.reason)}"
    data: dict[str, JSONValue] = {"finding_id": finding_id, "verdict": verdict, "recorded": True,
                                  "suppressed": outcome.suppressed, "reason": outcome.reason}  # fmt: skip
    return result(text, data)


def recall(options: ServeOptions, path: str) -> CallToolResult:
    """What past runs found in `path` and the verdicts given: newest run first."""
    target = file_path(path)
    absolute = target.resolve()
    resolved = resolve(options, target.absolute().parent)
    forms = [relative_path(str(absolute), resolved.workspace), absolute.as_posix(), target.as_posix()]
    with Store.open(resolved.config.store) as store:
        found = recall_findings(store, forms)
    lines = [f"{len(found)} past finding(s) in {forms[0]}:"]
    lines += [
        f"- line {f.start_line}: {f.severity} [{f.votes}/{f.panel_size} models] {one_line(f.message)} "
        f"(finding {f.finding_id}, {f.task} run {f.run_id}"
        f"{', verdicts: ' + ', '.join(f.verdicts) if f.verdicts else ''})" for f in found
    ]  # fmt: skip
    return result("\n".join(lines), {"path": forms[0], "findings": to_json(found)})
