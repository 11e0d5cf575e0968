"""The memory's reports in the terminal: stats, history, one run in full, the audit log, suppressions,
trust scores.

Tables are Rich tables whose every cell is a `Text` of `faces.cli.terminal.plain(value)`: model
text, paths, hosts and notices come from outside (a model, a proxy, a config) and are shown
literally, never read as markup, emoji codes or terminal escapes. Lines go through `say()`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from faces.cli.terminal import plain, say
from orchestration.learning.trust import TrustEstimate, TrustReport
from orchestration.memory.records import AuditRecord, RunDetail, RunSummary, SeatCall, Suppression
from orchestration.memory.stats import StatsReport

NONE = "–"


def when(at: float | None) -> str:
    """Seconds since the epoch as local 'YYYY-MM-DD HH:MM:SS'; None → '–'."""
    return NONE if at is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def percent(share: float | None) -> str:
    """0.4567 → '46%'; None → '–'."""
    return NONE if share is None else f"{share * 100:.0f}%"


def millis(value: float | None) -> str:
    """A duration in ms: '850 ms' or '2.4 s'; None → '–'."""
    if value is None:
        return NONE
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def dollars(cost: float | None) -> str:
    """'$0', four decimals below a dollar, else two; None → '–'."""
    if cost is None:
        return NONE
    if cost == 0:
        return "$0"
    return f"${cost:.4f}" if cost < 1 else f"${cost:,.2f}"


def lines(start: int | None, end: int | None) -> str:
    """'5-12', '7', or '' when unknown."""
    if start is None:
        return ""
    return str(start) if end in (None, start) else f"{start}-{end}"


def where(path: str | None, start: int | None, end: int | None) -> str:
    """'src/a.py:5-12' (or just the path, or '–')."""
    span = lines(start, end)
    return f"{path or NONE}:{span}" if span else (path or NONE)


def table(title: str | None, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    """A Rich table whose cells are shown literally."""
    grid = Table(title=Text(plain(title)) if title else None, title_justify="left", show_lines=False)
    for name in header:
        grid.add_column(Text(name), overflow="fold")
    for row in rows:
        grid.add_row(*(Text(plain(value)) for value in row))
    return grid


PIPED_WIDTH = 1000
"""Output that is not a terminal (a pipe, a file) gets tables at their natural width, never folded."""


def print_table(
    console: Console, title: str | None, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """Print a `table`, at its natural width when the output is not a terminal."""
    grid = table(title, header, rows)
    if console.is_terminal:
        console.print(grid)
        return
    width = console.width
    console.width = PIPED_WIDTH  # Rich caps a print's width at the console's
    try:
        console.print(grid)
    finally:
        console.width = width


def trust_cell(estimate: TrustEstimate) -> str:
    """'0.72 (0.55-0.86), 12 events': the mean, its 90% credible interval, what it rests on."""
    return f"{estimate.mean:.2f} ({estimate.low:.2f}-{estimate.high:.2f}), {estimate.events} events"


def render_stats(console: Console, report: StatsReport, trust: TrustReport | None = None) -> None:
    """Per model (with a trust column when `trust` is given), then per task."""
    span = f"since {when(report.since)}" if report.since is not None else "all runs"
    task = f", task {report.task}" if report.task else ""
    if not report.models and not report.tasks:
        say(console, "No runs recorded ({}{}).", span, task)
        return
    header = [
        "model", "calls", "answered", "errors", "timeouts", "p50", "p95", "tokens in/out", "cost",
        "agreement", "accepted", "dismissed", "cached", *(["trust"] if trust is not None else []),
    ]  # fmt: skip
    rows = [
        [
            m.model,
            m.calls,
            percent(m.answered_rate),
            percent(m.error_rate),
            percent(m.timeout_rate),
            millis(m.p50_latency_ms),
            millis(m.p95_latency_ms),
            f"{m.tokens_in:,}/{m.tokens_out:,}",
            dollars(m.cost_usd),
            f"{percent(m.agreement)} of {m.opinions}",
            f"{m.accepted} ({percent(m.acceptance_rate)})",
            f"{m.dismissed} ({percent(m.dismissal_rate)})",
            percent(m.cached_share),
            *([trust_cell(trust.for_model(m.model))] if trust is not None else []),
        ]
        for m in report.models
    ]
    print_table(console, f"Models, {span}{task}", header, rows)
    task_rows = [[t.task, t.runs, millis(t.median_wall_ms), dollars(t.cost_usd)] for t in report.tasks]
    print_table(console, "Tasks", ["task", "runs", "median wall", "cost"], task_rows)


def wall_ms(run: RunSummary) -> float | None:
    """How long the run took, or None while it runs (or when it was interrupted without an end)."""
    return None if run.ended_at is None else (run.ended_at - run.started_at) * 1000


def render_history(console: Console, runs: Sequence[RunSummary]) -> None:
    """One line per run, newest first."""
    if not runs:
        say(console, "No runs recorded yet.")
        return
    rows = [
        [
            run.run_id,
            when(run.started_at),
            run.task,
            where(run.path, run.start_line, run.end_line),
            run.outcome,
            ", ".join(run.seats),
            millis(wall_ms(run)),
            run.notice or "",
        ]
        for run in runs
    ]
    header = ["run", "started", "task", "where", "outcome", "seats", "wall", "notice"]
    print_table(console, None, header, rows)


def seat_rows(seats: Sequence[SeatCall]) -> list[list[object]]:
    """Each seat's call as a table row."""
    return [
        [
            seat.seat,
            seat.model,
            seat.status,
            millis(seat.latency_ms),
            f"{seat.tokens_in if seat.tokens_in is not None else NONE}/"
            f"{seat.tokens_out if seat.tokens_out is not None else NONE}",
            dollars(seat.cost_usd),
            len(seat.findings),
            seat.error_class or "",
        ]
        for seat in seats
    ]


def render_run(console: Console, detail: RunDetail) -> None:
    """One run: what was asked, each seat's call and opinion, the merged findings, conflicts, verdicts."""
    run = detail.run
    say(
        console,
        "[bold]Run {}[/] — {} of {}",
        run.run_id,
        run.task,
        where(run.path, run.start_line, run.end_line),
    )
    say(
        console,
        "  started {}, ended {}, outcome [bold]{}[/]",
        when(run.started_at),
        when(run.ended_at),
        run.outcome,
    )
    if run.workspace:
        say(console, "  workspace {}", run.workspace)
    if run.notice:
        say(console, "  [cyan]note:[/] {}", run.notice)
    header = ["seat", "model", "status", "latency", "tokens in/out", "cost", "findings", "error"]
    print_table(console, "Seats", header, seat_rows(detail.seats))
    for seat in detail.seats:
        if not seat.findings:
            continue
        say(console, "[bold]{}[/] said:", seat.seat)
        for opinion in seat.findings:
            say(
                console,
                "  {} {} [dim]{}[/] {}",
                lines(opinion.start_line, opinion.end_line),
                opinion.severity,
                opinion.category,
                opinion.message,
            )
    if not detail.findings:
        say(console, "No merged findings.")
    verdicts: dict[str, list[str]] = {}
    for event in detail.feedback:
        verdicts.setdefault(event.finding_id, []).append(event.verdict)
    for finding in detail.findings:
        said = f" — you: {', '.join(verdicts[finding.finding_id])}" if finding.finding_id in verdicts else ""
        arbiter = f" (arbiter: {finding.arbiter_verdict})" if finding.arbiter_verdict else ""
        say(
            console,
            "[bold]{}[/] {} {} [{}/{} models] [dim]{}[/] {}{}{}",
            finding.finding_id,
            lines(finding.start_line, finding.end_line),
            finding.severity,
            finding.votes,
            finding.panel_size,
            finding.category,
            finding.message,
            arbiter,
            said,
        )
        say(console, "    [dim]reported by {}[/]", ", ".join(finding.models) or NONE)
    for conflict in detail.conflicts:
        say(
            console,
            "[yellow]conflict[/] {} at {}: {} (for: {}; against: {})",
            conflict.kind,
            lines(conflict.start_line, conflict.end_line) or NONE,
            conflict.detail or "",
            ", ".join(conflict.models_for) or NONE,
            ", ".join(conflict.models_against) or NONE,
        )


def render_audit(console: Console, entries: Sequence[AuditRecord]) -> None:
    """What left the machine, newest first."""
    if not entries:
        say(console, "No model calls recorded in this window.")
        return
    header = ["time", "seat", "model", "host", "where", "bytes", "redactions", "outcome", "run"]
    rows = [
        [
            when(e.at),
            e.seat,
            e.model,
            e.endpoint or NONE,
            where(e.path, e.start_line, e.end_line),
            f"{e.bytes_sent:,}",
            e.redactions,
            e.outcome,
            e.run_id or NONE,
        ]
        for e in entries
    ]
    print_table(console, None, header, rows)


def render_suppressions(console: Console, entries: Sequence[Suppression]) -> None:
    """The findings hidden on unchanged code."""
    if not entries:
        say(console, "No suppressed findings.")
        return
    header = ["fingerprint", "problem", "user", "shared", "finding", "since"]
    rows = [
        [
            s.fingerprint[:12],
            s.cluster_key,
            s.user or NONE,
            "yes" if s.shared else "no",
            s.finding_id or NONE,
            when(s.created_at),
        ]
        for s in entries
    ]
    print_table(console, None, header, rows)


def render_trust(console: Console, report: TrustReport) -> None:
    """Each model's trust (best first), then its scores per task and category."""
    span = f"since {when(report.since)}" if report.since is not None else "all runs"
    task = f", task {report.task}" if report.task else ""
    if not report.models:
        say(console, "No verdicts or agreement recorded yet ({}{}).", span, task)
        return
    header = ["model", "task", "category", "mean", "90% interval", "events", "verdicts"]
    rows = [
        [
            e.model,
            e.task or "all",
            e.category or "all",
            f"{e.mean:.2f}",
            f"{e.low:.2f}-{e.high:.2f}",
            e.events,
            e.verdicts,
        ]
        for model in report.models
        for e in (model, *(score for score in report.scores if score.model == model.model))
    ]
    title = f"Trust, {span}{task} (half-life {report.half_life_days:g} days)"
    print_table(console, title, header, rows)
