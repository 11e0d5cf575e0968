"""`chorus stats --chart FILE.png`: latency against acceptance, one point per model.

matplotlib is an optional extra (`pip install chorus-lsp[plots]`); without it, `write_chart` raises
`ChartUnavailable` with that one line. The figure is drawn on matplotlib's Agg canvas directly
(no pyplot, no display, no global state). Model names are drawn as plain text: a `$` in a name
would otherwise start mathtext.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Final

from orchestration.memory.stats import ModelStats, StatsReport
from orchestration.types.errors import ChorusError

INSTALL_HINT: Final = (
    "the chart needs matplotlib: install chorus-lsp[plots] (pip install 'chorus-lsp[plots]')"
)


class ChartUnavailable(ChorusError):
    """The chart cannot be drawn here (matplotlib is missing) or written (a bad path)."""


def chart_available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def literal(text: str) -> str:
    """`text` drawn as is by matplotlib (no mathtext)."""
    return text.replace("$", r"\$")


def point(stats: ModelStats) -> tuple[float, float, float] | None:
    """(p50 s, p95 s, acceptance %) of a model with a latency, else None."""
    if stats.p50_latency_ms is None:
        return None
    p95 = stats.p95_latency_ms if stats.p95_latency_ms is not None else stats.p50_latency_ms
    accepted = (stats.acceptance_rate or 0.0) * 100
    return stats.p50_latency_ms / 1000, p95 / 1000, accepted


def write_chart(report: StatsReport, path: Path) -> int:
    """Draw the report's models at (p50 latency, acceptance rate), a bar to p95; returns how many.

    Models without verdicts yet are hollow, at 0 %. Raises `ChartUnavailable` without matplotlib or
    when the file cannot be written.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ChartUnavailable(INSTALL_HINT) from error
    figure = Figure(figsize=(7.5, 4.8), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    drawn = 0
    for stats in report.models:
        found = point(stats)
        if found is None:
            continue
        p50, p95, accepted = found
        colour = f"C{drawn % 10}"
        judged = stats.acceptance_rate is not None
        axes.errorbar(
            [p50], [accepted], xerr=[[0.0], [max(0.0, p95 - p50)]], fmt="o", color=colour, capsize=3,
            markersize=7, markerfacecolor=colour if judged else "white",
            label=literal(f"{stats.model}: {stats.calls} calls{'' if judged else ', no verdicts yet'}"),
        )  # fmt: skip
        drawn += 1
    span = "all runs" if report.since is None else "recent runs"
    task = f", {report.task}" if report.task else ""
    axes.set_title(literal(f"Latency against acceptance per model ({span}{task})"))
    axes.set_xlabel("latency, seconds (dot: p50, bar: to p95)")
    axes.set_ylabel("fixes accepted, % of its findings")
    axes.set_ylim(-5, 105)
    axes.set_xlim(left=0)
    axes.grid(True, alpha=0.3)
    if drawn:
        axes.legend(loc="best", fontsize=8, title="model (hollow: no verdicts yet)", title_fontsize=8)
    else:
        axes.text(0.5, 0.5, "no answered calls recorded", transform=axes.transAxes, ha="center")
    try:
        figure.savefig(path, format="png")
    except (OSError, ValueError) as error:
        raise ChartUnavailable(f"cannot write the chart to {path}: {error}") from error
    return drawn
