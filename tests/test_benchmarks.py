"""Smoke test of `python -m benchmarks --quick`: it runs end to end and writes its outputs.

This checks that the benchmarks work (server, fake models, every scenario, table, JSON, chart), not
their timings: CI machines are too noisy for timing assertions. With `CHORUS_BENCHMARK_OUT` set (CI
sets it), the outputs and the printed table (`table.md`) go to that folder, so CI shows this run's
table instead of running the benchmarks a second time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {"merge", "latency", "responsiveness", "startup", "scale", "sequential", "memory"}


def test_quick_benchmark_prints_a_table_and_writes_results(tmp_path: Path) -> None:
    named = os.environ.get("CHORUS_BENCHMARK_OUT")
    if named:
        tmp_path = Path(named)
        tmp_path.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    (tmp_path / "table.md").write_text(completed.stdout, encoding="utf-8")
    assert completed.returncode == 0, completed.stderr[-3000:]
    table = [line for line in completed.stdout.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| Scenario | Measurement | Measured | Target | Result |")
    assert len(table) >= 2 + 15, completed.stdout
    assert all(line.count("|") >= 7 for line in table)

    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results["quick"] is True
    assert {scenario["name"] for scenario in results["scenarios"]} == SCENARIOS
    rows = [row for scenario in results["scenarios"] for row in scenario["measurements"]]
    keys = {row["key"] for row in rows}
    assert {"fanout_overhead_3", "first_diagnostics", "straggler_cutoff", "codeaction_p99"} <= keys
    assert {"startup_initialize", "scale_wall", "scale_rss", "merge_10k", "sequential_ratio"} <= keys
    assert {"memory_store_ratio", "memory_cache_ratio", "memory_stats_100k"} <= keys
    for row in rows:
        assert isinstance(row["measured"], (int, float)) and row["measured"] == row["measured"], row
        assert row["passed"] in (True, False, None)
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
