"""The `chorus` command line, run as a real subprocess against the fake model server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli_runner import run_chorus, write_seats_config
from tests.fake_models import FakeModelServer

REPO = Path(__file__).resolve().parent.parent
LEDGER = REPO / "examples" / "ledger.py"
WINDOW = REPO / "examples" / "window.py"

OFF_BY_ONE = {
    "start_line": 8,
    "end_line": 8,
    "severity": "error",
    "category": "bug",
    "message": "Off-by-one: the loop reads past the end of amounts.",
    "fix": {"start_line": 8, "end_line": 8, "replacement": "    for i in range(len(amounts)):\n"},
}


def write_config(tmp_path: Path, server: FakeModelServer, seats: list[str], extra: str = "") -> Path:
    return write_seats_config(tmp_path, server, seats, extra)


def chorus(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_chorus(*args, cwd=cwd)


def test_review_prints_merged_findings_with_agreement(tmp_path: Path, model_server: FakeModelServer) -> None:
    model_server.script("claude", json.dumps({"findings": [OFF_BY_ONE]}))
    model_server.script(
        "codex", json.dumps({"findings": [{**OFF_BY_ONE, "message": "IndexError at i == len"}]})
    )
    model_server.script("gemini", status=500)
    config = write_config(tmp_path, model_server, ["claude", "codex", "gemini"])
    run = chorus("review", f"{LEDGER}:5-12", "--config", str(config))
    assert run.returncode == 0, run.stderr
    assert f"{LEDGER}:8:1 error [2/2 models]" in run.stdout
    assert "range(len(amounts))" in run.stdout  # the fix, shown as a diff
    assert "gemini" in run.stdout and "error" in run.stdout
    assert "claude" in run.stderr  # live progress goes to stderr


def test_review_json_is_the_machine_form(tmp_path: Path, model_server: FakeModelServer) -> None:
    model_server.script("claude", json.dumps({"findings": [OFF_BY_ONE]}))
    config = write_config(tmp_path, model_server, ["claude"])
    run = chorus("review", str(LEDGER), "--json", "--config", str(config))
    assert run.returncode == 0, run.stderr
    form = json.loads(run.stdout)
    diagnostic = form["diagnostics"][0]
    assert diagnostic["range"]["start"] == {"line": 7, "character": 0}
    assert diagnostic["severity"] == 1 and diagnostic["source"] == "chorus" and diagnostic["code"] == "bug"
    assert diagnostic["message"].startswith("[1/1] ")
    assert diagnostic["data"]["votes"] == 1 and diagnostic["data"]["models"] == ["claude"]
    edit = diagnostic["data"]["fixes"][0]
    assert edit["range"] == {"start": {"line": 7, "character": 0}, "end": {"line": 8, "character": 0}}
    assert edit["newText"] == "    for i in range(len(amounts)):\n"
    assert form["models"][0]["status"] == "ok"


def test_every_model_failing_exits_1(tmp_path: Path, model_server: FakeModelServer) -> None:
    model_server.script("claude", status=500)
    model_server.script("codex", "no json here at all")
    config = write_config(tmp_path, model_server, ["claude", "codex"])
    run = chorus("review", str(LEDGER), "--config", str(config))
    assert run.returncode == 1
    assert "claude" in run.stdout and "codex" in run.stdout
    assert "0/2 models answered" in run.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["review", "examples/missing.py"], "no such file"),
        (["review", "examples/ledger.py:9-3"], "FIRST <= LAST"),
        (["implement", "examples/window.py"], "implement needs a line"),
        ([], ""),
    ],
)
def test_usage_errors_exit_2(
    args: list[str], expected: str, tmp_path: Path, model_server: FakeModelServer
) -> None:
    config = write_config(tmp_path, model_server, ["claude"])
    run = chorus(*args, *(["--config", str(config)] if args else []))
    assert run.returncode == 2
    assert expected in run.stderr


def test_bad_config_key_is_named(tmp_path: Path, model_server: FakeModelServer) -> None:
    config = write_config(tmp_path, model_server, ["claude"], extra="[policy]\ndeadlin = 3\n")
    run = chorus("review", str(LEDGER), "--config", str(config))
    assert run.returncode == 2
    assert "policy.deadlin: unknown key" in run.stderr


def test_excluded_file_is_refused(tmp_path: Path, model_server: FakeModelServer) -> None:
    config = write_config(tmp_path, model_server, ["claude"])
    secret = tmp_path / "server.pem"
    secret.write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    run = chorus("review", str(secret), "--config", str(config))
    assert run.returncode == 2
    assert "policy.exclude" in run.stderr
    assert model_server.requests == []


def test_implement_prints_ranked_candidates(tmp_path: Path, model_server: FakeModelServer) -> None:
    good = (
        "def moving_average(values: list[float], size: int) -> list[float]:\n"
        "    return [sum(values[i : i + size]) / size for i in range(len(values) - size + 1)]\n"
    )
    model_server.script("codex", json.dumps({"code": good}))
    model_server.script("claude", "```python\ndef moving_average(values, size):\n    return [\n```")
    config = write_config(tmp_path, model_server, ["codex", "claude"])
    run = chorus("implement", f"{WINDOW}:5", "--json", "--config", str(config))
    assert run.returncode == 0, run.stderr
    form = json.loads(run.stdout)
    assert form["candidates"][0]["valid"] is True and form["candidates"][0]["models"] == ["codex"]
    assert form["candidates"][-1]["valid"] is False
    edit = next(iter(form["candidates"][0]["edit"]["changes"].values()))[0]
    assert "sum(values[i : i + size])" in edit["newText"]


def test_explain_prints_markdown(tmp_path: Path, model_server: FakeModelServer) -> None:
    answer = {"explanation": "`user.email` is optional, so it may be **undefined**.", "fix": None}
    model_server.script("gemini", json.dumps(answer))
    config = write_config(tmp_path, model_server, ["gemini"])
    app = REPO / "examples" / "app.ts"
    run = chorus(
        "explain", f"{app}:7", "--message", "Object is possibly 'undefined'.", "--config", str(config)
    )
    assert run.returncode == 0, run.stderr
    assert "undefined" in run.stdout
    assert "Object is possibly 'undefined'." in model_server.requests_for("gemini")[0].prompt


def test_models_checks_each_seat(tmp_path: Path, model_server: FakeModelServer) -> None:
    model_server.script("claude", "OK")
    model_server.script("codex", status=401)
    config = write_config(tmp_path, model_server, ["claude", "codex"])
    run = chorus("models", "--json", "--config", str(config))
    assert run.returncode == 0, run.stderr
    checks = {c["name"]: c["status"] for c in json.loads(run.stdout)["check"]}
    assert checks == {"claude": "ok", "codex": "error"}
