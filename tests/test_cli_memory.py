"""The memory from the command line, as a subprocess against the fake model server and a real store.

Reviews through `chorus review` are recorded; `history`, `show`, `feedback`, `stats`, `audit`,
`suppressions` and `store path|prune|export` read and write that store (a SQLite file in tmp_path,
named by the config's `[store] path`). Errors are one line and exit 2.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.cli_runner import REPO, run_chorus, write_seats_config
from tests.fake_models import FakeModelServer

LEDGER = REPO / "examples" / "ledger.py"
CANARY = "sk-canary-4f1e9b7c2d5a8e3f6b0c9d2e"
OFF_BY_ONE = {
    "start_line": 8,
    "end_line": 8,
    "severity": "error",
    "category": "bug",
    "message": "Off-by-one: the loop reads past the end of amounts.",
    "fix": {"start_line": 8, "end_line": 8, "replacement": "    for i in range(len(amounts)):\n"},
}
STYLE = {"start_line": 5, "end_line": 5, "severity": "info", "category": "style", "message": "Name is vague."}
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def setup(tmp_path: Path, server: FakeModelServer, store: str | None = None) -> Path:
    """A two-seat config whose store is a SQLite file in tmp_path (or `store` as the [store] table)."""
    table = store if store is not None else f'[store]\npath = "{tmp_path / "memory" / "chorus.db"}"\n'
    return write_seats_config(tmp_path, server, ["claude", "codex"], table, api_key_env="CHORUS_TEST_KEY")


def chorus(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_chorus(*args, "--config", str(config), env={"CHORUS_TEST_KEY": CANARY, **(env or {})})


def as_json(run: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert isinstance(data, dict)
    return data


def one_line_error(run: subprocess.CompletedProcess[str], words: str) -> None:
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert words in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "Traceback" not in run.stderr


def test_reviews_are_recorded_and_read_back(tmp_path: Path, model_server: FakeModelServer) -> None:
    model_server.script("claude", json.dumps({"findings": [OFF_BY_ONE, STYLE]}))
    model_server.script(
        "codex", json.dumps({"findings": [{**OFF_BY_ONE, "message": "IndexError at i == len"}]})
    )
    config = setup(tmp_path, model_server)
    first = chorus(config, "review", f"{LEDGER}:1-12", "--json")
    assert first.returncode == 0, first.stderr
    diagnostics = json.loads(first.stdout)["diagnostics"]
    finding_ids = [d["data"]["findingId"] for d in diagnostics]
    bug = next(d["data"]["findingId"] for d in diagnostics if d["range"]["start"]["line"] == 7)
    assert len(finding_ids) == 2 and all(re.fullmatch("[0-9a-f]{16}", i) for i in finding_ids)
    assert chorus(config, "review", f"{LEDGER}:1-12", "--no-cache").returncode == 0
    assert len(model_server.requests_for("claude")) == 2  # --no-cache asked again

    runs = as_json(chorus(config, "history", "--json"))["runs"]
    assert isinstance(runs, list) and len(runs) == 2
    assert {run["task"] for run in runs} == {"review"} and {run["outcome"] for run in runs} == {"ok"}
    assert runs[0]["started_at"] >= runs[1]["started_at"]
    table = chorus(config, "history")
    assert table.returncode == 0 and runs[0]["run_id"] in table.stdout and "ledger.py" in table.stdout

    oldest = runs[1]["run_id"]
    detail = as_json(chorus(config, "show", oldest, "--json"))
    seats = {seat["seat"]: seat for seat in detail["seats"]}  # type: ignore[union-attr]
    assert [f["message"] for f in seats["claude"]["findings"]] == [OFF_BY_ONE["message"], STYLE["message"]]
    assert [f["message"] for f in seats["codex"]["findings"]] == ["IndexError at i == len"]
    assert sorted(f["finding_id"] for f in detail["findings"]) == sorted(finding_ids)  # type: ignore[union-attr]
    shown = chorus(config, "show", oldest[:6])
    assert shown.returncode == 0, shown.stderr
    assert "claude said:" in shown.stdout and "Name is vague." in shown.stdout
    assert bug in shown.stdout and "[2/2 models]" in shown.stdout

    dismissed = chorus(config, "feedback", bug, "dismiss")
    assert dismissed.returncode == 0, dismissed.stderr
    assert "Recorded: dismiss" in dismissed.stdout and "hidden" in dismissed.stdout
    stats = as_json(chorus(config, "stats", "--json"))
    models = {m["model"]: m for m in stats["models"]}  # type: ignore[union-attr]
    claude = models["openai/claude"]
    assert (claude["calls"], claude["dismissed"], claude["merged"]) == (2, 1, 4)
    assert claude["dismissal_rate"] == 0.25 and claude["answered_rate"] == 1.0
    assert (claude["opinions"], claude["agreement"]) == (4, 1.0) and claude["p50_latency_ms"] is not None
    assert (models["openai/codex"]["merged"], models["openai/codex"]["dismissal_rate"]) == (2, 0.5)
    assert [(t["task"], t["runs"]) for t in stats["tasks"]] == [("review", 2)]  # type: ignore[union-attr]
    text = chorus(config, "stats", "--since", "all")
    assert text.returncode == 0 and "openai/claude" in text.stdout and "1 (25%)" in text.stdout

    again = chorus(config, "review", f"{LEDGER}:1-12")  # from the cache; the dismissed finding is hidden
    assert again.returncode == 0, again.stderr
    assert "you dismissed on this code" in again.stdout
    assert "Name is vague." in again.stdout and OFF_BY_ONE["message"] not in again.stdout
    hidden = as_json(chorus(config, "suppressions", "--json"))["suppressions"]
    assert isinstance(hidden, list) and [s["finding_id"] for s in hidden] == [bug]
    assert "Cleared 1 suppression" in chorus(config, "suppressions", "--clear").stdout
    assert as_json(chorus(config, "suppressions", "--json"))["suppressions"] == []

    calls = as_json(chorus(config, "audit", "--json"))["calls"]
    assert (
        isinstance(calls, list) and len(calls) == 4
    )  # two seats twice; the third review came from the cache
    assert {call["endpoint"] for call in calls} == {"127.0.0.1"}
    assert {call["model"] for call in calls} == {"openai/claude", "openai/codex"}
    assert all(call["bytes_sent"] > 0 and call["path"].endswith("ledger.py") for call in calls)
    only = as_json(chorus(config, "audit", "--since", "1h", "--model", "codex", "--json"))["calls"]
    assert isinstance(only, list) and {call["seat"] for call in only} == {"codex"}
    audit_table = chorus(config, "audit")
    assert audit_table.returncode == 0 and "127.0.0.1" in audit_table.stdout

    store_file = tmp_path / "memory" / "chorus.db"
    assert chorus(config, "store", "path").stdout.strip() == str(store_file)
    exported = chorus(config, "store", "export", "--json")
    assert as_json(exported)["run_count"] == 3
    pruned = as_json(chorus(config, "store", "prune", "--json"))
    assert pruned["runs"] == 0 and pruned["retention_days"] == 90
    everything = "".join(chorus(config, *args).stdout for args in [("audit", "--json"), ("history",)])
    for text_out in (everything, exported.stdout):
        assert CANARY not in text_out and model_server.base_url.split("//")[1] not in text_out
    for path in store_file.parent.iterdir():
        assert CANARY.encode() not in path.read_bytes()


def test_chart_is_a_png_or_one_line_without_matplotlib(tmp_path: Path, model_server: FakeModelServer) -> None:
    model_server.script("*", json.dumps({"findings": [OFF_BY_ONE]}))
    config = setup(tmp_path, model_server)
    assert chorus(config, "review", str(LEDGER)).returncode == 0
    chart = tmp_path / "stats.png"
    drawn = chorus(config, "stats", "--chart", str(chart))
    assert drawn.returncode == 0, drawn.stderr
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5000
    blocker = tmp_path / "no-matplotlib" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('matplotlib is not installed here')\n")
    missing = chorus(
        config,
        "stats",
        "--chart",
        str(tmp_path / "absent.png"),
        env={"PYTHONPATH": f"{blocker.parent}:{REPO}"},
    )
    one_line_error(missing, "install chorus-lsp[plots]")
    assert "openai/claude" in missing.stdout  # the table is still printed
    assert not (tmp_path / "absent.png").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["stats", "--since", "30 days"], "cannot read --since '30 days'"),
        (["audit", "--since=-1d"], "cannot read --since '-1d'"),
        (["show", "0123456789abcdef"], "no run '0123456789abcdef'"),
        (["feedback", "0123456789abcdef", "accept"], "no finding '0123456789abcdef'"),
        (["history", "--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_bad_arguments_are_one_line(
    args: list[str], words: str, tmp_path: Path, model_server: FakeModelServer
) -> None:
    one_line_error(chorus(setup(tmp_path, model_server), *args), words)


def test_a_store_that_is_off_or_unreadable_is_one_line(tmp_path: Path, model_server: FakeModelServer) -> None:
    off = setup(tmp_path, model_server, store="[store]\nenabled = false\n")
    for args in (["stats"], ["history"], ["store", "export"], ["suppressions"]):
        one_line_error(chorus(off, *args), "the store is turned off")
    assert "turned off" in chorus(off, "store", "path").stdout
    model_server.script("*", json.dumps({"findings": [OFF_BY_ONE]}))
    reviewed = chorus(off, "review", str(LEDGER))
    assert reviewed.returncode == 0 and "store" not in reviewed.stderr

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database\n" * 100)
    broken = setup(tmp_path, model_server, store=f'[store]\npath = "{garbage}"\n')
    one_line_error(chorus(broken, "history"), str(garbage))
    review = chorus(broken, "review", str(LEDGER))  # the review goes on, warned once
    assert review.returncode == 0, review.stderr
    assert review.stderr.count("the store is unavailable") == 1
    assert "[1/1]" in review.stdout or "error" in review.stdout


def test_hostile_model_text_in_history_and_show_is_literal(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    hostile = "Bad [bold]thing[/bold] :smile: \x1b[2J\x1b]0;pwned-title\x07 end"
    model_server.script("*", json.dumps({"findings": [{**OFF_BY_ONE, "message": hostile}]}))
    config = setup(tmp_path, model_server)
    assert chorus(config, "review", str(LEDGER)).returncode == 0
    run_id = as_json(chorus(config, "history", "--json"))["runs"][0]["run_id"]  # type: ignore[index]
    for args in (["show", str(run_id)], ["history"], ["stats"], ["audit"]):
        shown = chorus(config, *args)
        assert shown.returncode == 0, shown.stderr
        assert not CONTROL.findall(shown.stdout) and "pwned-title" not in shown.stdout
    assert "[bold]thing[/bold] :smile:" in chorus(config, "show", str(run_id)).stdout


def test_implement_and_explain_are_recorded(tmp_path: Path, model_server: FakeModelServer) -> None:
    good = (
        "def moving_average(values: list[float], size: int) -> list[float]:\n"
        "    return [sum(values[i : i + size]) / size for i in range(len(values) - size + 1)]\n"
    )
    model_server.script("claude", json.dumps({"code": good}))
    model_server.script("codex", json.dumps({"explanation": "It may be **undefined**.", "fix": None}))
    config = setup(tmp_path, model_server)
    assert chorus(config, "implement", f"{REPO / 'examples' / 'window.py'}:5").returncode == 0
    explained = chorus(
        config, "explain", f"{REPO / 'examples' / 'app.ts'}:7", "--message", "possibly undefined"
    )
    assert explained.returncode == 0, explained.stderr
    runs = as_json(chorus(config, "history", "--json"))["runs"]
    assert isinstance(runs, list) and [run["task"] for run in runs] == ["explain", "implement"]
    assert [run["path"].rsplit("/", 1)[-1] for run in runs] == ["app.ts", "window.py"]
    tasks = as_json(chorus(config, "stats", "--json", "--task", "implement"))["tasks"]
    assert isinstance(tasks, list) and [(t["task"], t["runs"]) for t in tasks] == [("implement", 1)]


def test_a_model_check_is_in_the_audit_without_a_run(tmp_path: Path, model_server: FakeModelServer) -> None:
    model_server.script("claude", "OK")
    model_server.script("codex", status=401)
    config = setup(tmp_path, model_server)
    assert chorus(config, "models").returncode == 0
    calls = as_json(chorus(config, "audit", "--json"))["calls"]
    assert isinstance(calls, list)
    received = {request.model for request in model_server.requests}
    assert sorted(call["seat"] for call in calls) == ["claude", "codex"] and len(received) == 2
    by_seat = {call["seat"]: call for call in calls}
    assert by_seat["claude"]["outcome"] == "ok" and by_seat["codex"]["outcome"] != "ok"
    assert all(call["path"] is None and call["run_id"] is None and call["bytes_sent"] > 0 for call in calls)
    assert as_json(chorus(config, "history", "--json"))["runs"] == []


def reviewed_and_judged(tmp_path: Path, server: FakeModelServer, extra: str = "") -> Path:
    """claude reports the off-by-one, codex the vague name (each alone); the fix is accepted, the
    name dismissed."""
    server.script("claude", json.dumps({"findings": [OFF_BY_ONE]}))
    server.script("codex", json.dumps({"findings": [STYLE]}))
    config = setup(tmp_path, server)
    if extra:
        config.write_text(config.read_text(encoding="utf-8") + extra, encoding="utf-8")
    review = chorus(config, "review", f"{LEDGER}:1-12", "--json")
    assert review.returncode == 0, review.stderr
    diagnostics = json.loads(review.stdout)["diagnostics"]
    ids = {d["range"]["start"]["line"]: d["data"]["findingId"] for d in diagnostics}
    assert chorus(config, "feedback", ids[7], "accept").returncode == 0
    assert chorus(config, "feedback", ids[4], "dismiss").returncode == 0
    return config


def test_trust_scores_rank_accepted_fixes_above_dismissed_findings(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    config = reviewed_and_judged(tmp_path, model_server)
    scores = as_json(chorus(config, "trust-scores", "--json"))
    models = scores["models"]
    assert isinstance(models, list) and [m["model"] for m in models] == ["openai/claude", "openai/codex"]
    claude, codex = models
    assert (claude["events"], claude["verdicts"], codex["events"], codex["verdicts"]) == (2, 1, 2, 1)
    assert claude["mean"] == pytest.approx(3 / 5.25, rel=1e-3)  # Beta(2 + 1, 2 + 0.25): accepted, alone
    assert codex["mean"] == pytest.approx(2 / 5.25, rel=1e-3)  # Beta(2, 2 + 1 + 0.25): dismissed, alone
    assert claude["low"] < claude["mean"] < claude["high"] and claude["task"] is None
    cells = {(s["model"], s["task"], s["category"]) for s in scores["scores"]}  # type: ignore[union-attr]
    assert cells == {("openai/claude", "review", "bug"), ("openai/codex", "review", "style")}
    table = chorus(config, "trust-scores")
    assert table.returncode == 0, table.stderr
    assert "90% interval" in table.stdout and table.stdout.index("openai/claude") < table.stdout.index(
        "openai/codex"
    )
    stats = as_json(chorus(config, "stats", "--json"))
    trust = {m["model"]: m["trust"] for m in stats["models"]}  # type: ignore[union-attr]
    assert set(trust["openai/claude"]) == {"mean", "low", "high", "events", "verdicts"}
    assert trust["openai/claude"]["mean"] > trust["openai/codex"]["mean"]
    text = chorus(config, "stats")
    assert text.returncode == 0 and "trust" in text.stdout and "2 events" in text.stdout


def test_learning_off_shows_no_trust(tmp_path: Path, model_server: FakeModelServer) -> None:
    config = reviewed_and_judged(tmp_path, model_server, "\n[learning]\nenabled = false\n")
    off = chorus(config, "trust-scores")
    assert off.returncode == 0, off.stderr
    assert off.stdout.strip().splitlines() == [
        "Learning is turned off ([learning] enabled = false): no trust scores."
    ]
    assert as_json(chorus(config, "trust-scores", "--json")) == {"enabled": False, "models": [], "scores": []}
    stats = as_json(chorus(config, "stats", "--json"))
    assert all("trust" not in model for model in stats["models"])  # type: ignore[union-attr]
    text = chorus(config, "stats")
    assert text.returncode == 0 and "openai/claude" in text.stdout and "trust" not in text.stdout


def test_hostile_model_ids_in_trust_scores_are_literal(tmp_path: Path, model_server: FakeModelServer) -> None:
    model_server.script("*", json.dumps({"findings": [OFF_BY_ONE]}))
    hostile = "openai/[bold]evil[/bold]:smile:\\u001b]0;pwned-title\\u0007"
    config = tmp_path / "chorus.toml"
    config.write_text(
        f'[models.evil]\nmodel = "{hostile}"\napi_base = "{model_server.base_url}"\ntimeout = 5\n'
        f'api_key_env = "CHORUS_TEST_KEY"\n[store]\npath = "{tmp_path / "memory" / "chorus.db"}"\n',
        encoding="utf-8",
    )
    review = chorus(config, "review", f"{LEDGER}:1-12", "--json")
    assert review.returncode == 0, review.stderr
    finding_id = json.loads(review.stdout)["diagnostics"][0]["data"]["findingId"]
    assert chorus(config, "feedback", finding_id, "useful").returncode == 0
    for args in (["trust-scores"], ["stats"]):
        shown = chorus(config, *args)
        assert shown.returncode == 0, shown.stderr
        assert not CONTROL.findall(shown.stdout) and "pwned-title" not in shown.stdout
        assert "[bold]evil[/bold]:smile:" in shown.stdout
