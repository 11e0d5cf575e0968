"""Neovim as a second real LSP client nobody here wrote: headless nvim drives `chorus serve`.

`tests/nvim/review.lua` starts the server with `vim.lsp.start_client`, opens a buggy Python file,
asks for code actions on a selection, runs "Review selection with Chorus" through
`workspace/executeCommand`, checks the consensus diagnostic, applies the panel's quick fix with
`vim.lsp.util.apply_workspace_edit` and checks the buffer. The Lua script asserts and exits
non-zero on failure; this side starts the fake model server, passes the inputs through the
environment, and asserts on the JSON summary the script writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fake_models import FakeModelServer

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "tests" / "nvim" / "review.lua"
NVIM = shutil.which("nvim")

pytestmark = pytest.mark.skipif(NVIM is None, reason="Neovim is not installed (apt-get install neovim)")

BUGGY = """\
def average(values):
    total = 0
    for i in range(len(values) + 1):
        total += values[i]
    return total / len(values)
"""
LOOP_LINE = 3
FIXED = "    for i in range(len(values)):"
OFF_BY_ONE = {
    "start_line": LOOP_LINE,
    "end_line": LOOP_LINE,
    "severity": "error",
    "category": "bug",
    "message": "Off-by-one: range(len(values) + 1) reads past the end and raises IndexError.",
    "fix": {"start_line": LOOP_LINE, "end_line": LOOP_LINE, "replacement": FIXED + "\n"},
}


def findings(*items: dict[str, Any]) -> str:
    return json.dumps({"findings": list(items)})


def chorus_command() -> list[str]:
    """`chorus serve` from the venv running the tests (what a user's PATH would find)."""
    script = Path(sys.executable).parent / "chorus"
    if not script.exists():
        pytest.fail(f"{script} is missing: run `pip install -e .`")
    return [str(script), "serve"]


def run_neovim(model_server: FakeModelServer, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    buggy = tmp_path / "stats.py"
    buggy.write_text(BUGGY, encoding="utf-8")
    result_file = tmp_path / "result.json"
    env = {
        **os.environ,
        "CHORUS_CMD": json.dumps(chorus_command()),
        "CHORUS_API_BASE": model_server.base_url,
        "CHORUS_FILE": str(buggy),
        "CHORUS_ROOT": str(tmp_path),
        "CHORUS_RESULT": str(result_file),
        "CHORUS_LOOP_LINE": str(LOOP_LINE),
        "CHORUS_FIXED": FIXED,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    completed = subprocess.run(
        [str(NVIM), "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {SCRIPT}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    summary = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else None
    return completed, summary


def test_neovim_reviews_a_selection_and_applies_the_quick_fix(
    model_server: FakeModelServer, tmp_path: Path
) -> None:
    model_server.script("claude", findings(OFF_BY_ONE), latency=0.05)
    model_server.script("codex", findings({**OFF_BY_ONE, "message": "IndexError when i == len(values)."}))
    model_server.script("gemini", findings(), latency=0.1)

    completed, summary = run_neovim(model_server, tmp_path)

    report = f"exit {completed.returncode}\nsummary: {summary}\nstderr:\n{completed.stderr[-3000:]}"
    assert summary is not None, report
    assert summary["ok"] is True and completed.returncode == 0, report
    assert summary["review_title"] == "Review selection with Chorus"
    loop = next(d for d in summary["diagnostics"] if d["line"] == LOOP_LINE - 1)
    assert loop["message"].startswith("[2/3]") and "Off-by-one" in loop["message"]
    assert summary["fix_title"].startswith("Fix (2/3 models)")
    assert summary["fixed_line"] == FIXED
    kinds = [report["kind"] for report in summary["progress"]]
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds, summary["progress"]
    assert summary["progress"][0]["title"] == "Chorus: reviewing stats.py:1-5"
    assert summary["progress"][-1]["message"].startswith("3/3 models answered")
    assert {request.model for request in model_server.requests} == {"claude", "codex", "gemini"}
    prompt = model_server.requests_for("claude")[0].prompt
    assert "range(len(values) + 1)" in prompt
