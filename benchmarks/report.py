"""The benchmark's outputs: a Markdown table, `results.json` and a PNG chart.

The table is Markdown so that the same text reads well in a terminal and pastes into
docs/performance.md. The chart has four panels: the latency breakdown per scenario (model time vs
Chorus's own time), merge time against n, code-action latency under load, and the server's RSS
over the 2,000-request run.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

from benchmarks import Measurement, ScenarioResult


def _number(value: float, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit in ("×", "%"):
        return f"{value:.2f} {unit}" if unit == "×" else f"{value:+.1f} %"
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:g} {unit}"


def _target(row: Measurement) -> str:
    if row.target is None:
        return "(reported)"
    if row.unit == "%":
        return f"≤ {row.target:+.0f} %"
    if row.key in ("startup_no_litellm",):
        return "not imported"
    if row.key == "straggler_connection_closed":
        return f"{row.target:g}/{row.target:g} runs"
    return f"≤ {_number(row.target, row.unit)}"


def _measured(row: Measurement) -> str:
    if row.key == "startup_no_litellm":
        return "imported" if row.measured else "not imported"
    if row.key == "straggler_connection_closed":
        return f"{row.measured:g}/{row.target:g} runs"
    return _number(row.measured, row.unit)


def markdown_table(results: list[ScenarioResult]) -> str:
    """One row per measurement: scenario, what, measured, target, pass/fail, detail."""
    lines = ["| Scenario | Measurement | Measured | Target | Result | Detail |", "|---|---|---|---|---|---|"]
    for result in results:
        for row in result.measurements:
            verdict = {True: "pass", False: "**FAIL**", None: "—"}[row.passed]
            cells = [row.scenario, row.what, _measured(row), _target(row), verdict, row.detail]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine(load_at_start: tuple[float, ...] | None = None) -> dict[str, Any]:
    """Where the numbers come from, and how busy the machine was (1/5/15-minute load averages)."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(value, 2) for value in load_at_start or ()],
        "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
    }


def write_json(
    path: Path,
    results: list[ScenarioResult],
    *,
    quick: bool,
    seconds: float,
    load_at_start: tuple[float, ...] | None = None,
) -> None:
    """Every measurement with its samples, the chart data, and the machine."""
    payload = {
        "quick": quick,
        "seconds": round(seconds, 1),
        "machine": machine(load_at_start),
        "passed": all(row.passed is not False for result in results for row in result.measurements),
        "scenarios": [
            {
                "name": result.name,
                "seconds": round(result.seconds, 1),
                "measurements": [row.as_json() for row in result.measurements],
                "chart": result.chart,
            }
            for result in results
        ],
    }
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n", encoding="utf-8")


def _draw_breakdown(axes: Any, bars: list[dict[str, Any]]) -> None:
    """Horizontal bars: time waiting for the slowest awaited model, then everything else."""
    positions = list(range(len(bars)))
    waits = [bar["model_ms"] for bar in bars]
    extras = [max(0.0, bar["chorus_ms"]) for bar in bars]
    axes.barh(positions, waits, color="#9db4d0", label="waiting for the slowest awaited model")
    axes.barh(positions, extras, left=waits, color="#d1495b", label="everything else (Chorus, HTTP, LSP)")
    firsts = [(index, bar["first_ms"]) for index, bar in enumerate(bars) if bar.get("first_ms") is not None]
    if firsts:
        axes.scatter(
            [first for _index, first in firsts],
            [index for index, _first in firsts],
            marker="|",
            s=250,
            color="black",
            label="first diagnostics",
            zorder=3,
        )
    limit = max([wait + extra for wait, extra in zip(waits, extras, strict=True)] or [1000.0]) * 1.2
    for index, (wait, extra) in enumerate(zip(waits, extras, strict=True)):
        axes.text(wait + extra, index, f"  +{extra:,.0f} ms", va="center", fontsize=8)
    axes.set_xlim(0, limit)
    axes.set_yticks(positions, [bar["label"] for bar in bars], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("ms from request to final result (median)")
    axes.set_title("Latency breakdown per scenario")
    axes.legend(fontsize=8, loc="lower right")


def write_chart(path: Path, results: list[ScenarioResult]) -> bool:
    """Draw the PNG; returns False (and draws nothing) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    charts = {result.name: result.chart for result in results}
    figure, ((bars, merge), (probes, memory)) = plt.subplots(2, 2, figsize=(14, 9))
    _draw_breakdown(bars, [bar for result in results for bar in result.chart.get("bars", [])])
    points = charts.get("merge", {}).get("points", [])
    if points:
        ns = [point["n"] for point in points]
        ms = [point["ms"] for point in points]
        merge.loglog(ns, ms, "o-", label="merge_findings")
        anchor = ms[0] / (ns[0] * math.log(ns[0]))
        merge.loglog(ns, [anchor * n * math.log(n) for n in ns], "--", color="grey", label="n log n")
        merge.axhline(100.0, color="#d1495b", linestyle=":", label="target at 10k: 100 ms")
        merge.set_xlabel("findings (10 models)")
        merge.set_ylabel("ms")
        merge.legend(fontsize=8)
    merge.set_title("Merge time against n")
    responsiveness = charts.get("responsiveness", {})
    for key, label in (("codeaction_ms", "codeAction"), ("didchange_ms", "didChange → codeAction")):
        samples = sorted(responsiveness.get(key, []))
        if samples:
            probes.plot(samples, [(i + 1) / len(samples) for i in range(len(samples))], label=label)
    probes.axvline(25.0, color="#d1495b", linestyle=":", label="p99 target 25 ms")
    probes.set_xscale("log")
    probes.set_xlabel(
        f"round-trip ms while {responsiveness.get('in_flight', 50)} reviews are in flight (log)"
    )
    probes.set_ylabel("fraction of probes")
    probes.set_title("Responsiveness under load (CDF)")
    probes.legend(fontsize=8)
    rss = charts.get("scale", {}).get("rss_mb", [])
    if rss:
        memory.plot(range(len(rss)), rss, "o-")
        memory.axhline(rss[0] * 1.1, color="#d1495b", linestyle=":", label="+10 % of pre-load")
        memory.set_xticks(range(len(rss)), ["before"] + [str(i) for i in range(1, len(rss) - 1)] + ["idle"])
        memory.legend(fontsize=8)
    memory.set_xlabel(f"rounds of {charts.get('scale', {}).get('rounds_of', 200)} concurrent reviews")
    memory.set_ylabel("server RSS (MiB)")
    memory.set_title("Server memory under repeated load")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True
