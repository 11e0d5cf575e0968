"""`chorus route FILE [--task] [--explain] [--json]`, run as a user runs it, on a real store.

The history is written through the memory's own writer (a run per seat, its seat call and its
findings, the user's verdicts), then the command runs as a subprocess with a config whose seats
live on the fake model server: it must say which seats a review would ask and why, and send
nothing to any model.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import anyio
import pytest

from orchestration.memory.records import FeedbackEvent, FindingRecord, RunStart, SeatCall, Verdict
from orchestration.memory.settings import StoreConfig
from orchestration.memory.writer import StoreWriter
from tests.cli_runner import run_chorus, write_seats_config
from tests.fake_models import FakeModelServer

SEATS = ["claude", "codex", "gemini", "qwen"]
SOURCE = "def mean(values):\n    return sum(values) / len(values)\n"


def write_history(store_path: Path, verdicts: dict[str, Verdict], errors: dict[str, int]) -> None:
    """Per seat, one run with eight findings judged `verdicts[seat]`, then `errors[seat]` failed calls."""
    writer = StoreWriter(StoreConfig(path=store_path))
    try:
        for seat, verdict in verdicts.items():
            run = RunStart(task="review", path="src/old.py", seats=(seat,))
            writer.submit(run)
            writer.submit(
                SeatCall(run_id=run.run_id, seat=seat, model=f"openai/{seat}", status="ok", latency_ms=900)
            )
            for line in range(1, 9):
                finding_id = secrets.token_hex(8)
                writer.submit(
                    FindingRecord(
                        finding_id=finding_id, run_id=run.run_id, start_line=line, end_line=line, votes=1,
                        panel_size=1, severity="warning", category="bug", message="m", models=(seat,),
                    )
                )  # fmt: skip
                writer.submit(FeedbackEvent(finding_id=finding_id, verdict=verdict))
        for seat, count in errors.items():
            for _ in range(count):
                run = RunStart(task="review", path="src/old.py", seats=(seat,))
                writer.submit(run)
                writer.submit(SeatCall(run_id=run.run_id, seat=seat, model=f"openai/{seat}", status="error"))
        assert writer.flush(10)
    finally:
        writer.close()


def setup(tmp_path: Path, model_server: FakeModelServer, panel: str, extra: str = "") -> tuple[Path, Path]:
    """A workspace with app.py and a chorus.toml (the seats, `panel`, the store, `extra` or no
    exploration); returns both paths."""
    store_path = tmp_path / "memory" / "chorus.db"
    (tmp_path / "app.py").write_text(SOURCE, encoding="utf-8")
    learning = extra or "\n[learning]\nexplore = 0\n"  # No exploration draw unless a test sets [learning].
    tail = f'\n[panels]\nreview = {panel}\n\n[panels.auto]\nsize = 2\n\n[store]\npath = "{store_path}"\n'
    tail += learning
    return tmp_path / "app.py", write_seats_config(tmp_path, model_server, SEATS, tail)


async def route(*args: str) -> tuple[int, str, str]:
    run = await anyio.to_thread.run_sync(lambda: run_chorus("route", *args))
    return run.returncode, run.stdout, run.stderr


async def test_route_explain_says_why_each_candidate_was_picked_or_left_out(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    target, config = setup(tmp_path, model_server, '"auto"')
    write_history(tmp_path / "memory" / "chorus.db", {"codex": "accept", "claude": "dismiss"}, {"gemini": 3})
    code, out, err = await route(str(target), "--explain", "--config", str(config))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (
        'panels.review = "auto": 2 of 4 candidates asked (panels.auto.size = 2); '
        ".py findings so far: bug 100% of 16."
    )
    assert lines[1] == "✓ codex  openai/codex  value 0.83"
    assert lines[2].startswith(
        "    picked (#1 of 4): value 0.83 = trust 0.83 (8 events; .py findings: bug 100%)"
    )
    assert lines[3] == "✓ qwen  openai/qwen  value 0.50"
    assert "prior, no evidence yet" in lines[4] and "no calls yet" in lines[4]
    assert lines[5] == "· claude  openai/claude  value 0.17  (spare)"
    assert lines[6].startswith(
        "    left out (#3 of 4, the top 2 are asked): value 0.17 = trust 0.17 (8 events;"
    )
    assert lines[7] == "· gemini  openai/gemini  value 0.12  (spare)"
    assert lines[8].startswith("    left out (#4 of 4, the top 2 are asked): value 0.12 = trust 0.50 (prior")
    assert "availability 0.25 (3 of 3 recent calls failed)" in lines[8] and len(lines) == 9
    assert model_server.requests == []  # Nothing was asked of any model.


async def test_route_json_is_the_whole_report(tmp_path: Path, model_server: FakeModelServer) -> None:
    target, config = setup(tmp_path, model_server, '"auto"')
    write_history(tmp_path / "memory" / "chorus.db", {"gemini": "accept"}, {})
    code, out, err = await route(str(target), "--json", "--config", str(config))
    assert code == 0, err
    report = json.loads(out)
    assert (report["task"], report["auto"], report["mode"], report["size"]) == ("review", True, "routed", 2)
    assert (report["language"], report["mix"], report["findings"]) == (".py", {"bug": 1.0}, 8)
    states = [(e["name"], e["state"]) for e in report["entries"]]
    assert states == [("gemini", "picked"), ("claude", "picked"), ("codex", "spare"), ("qwen", "spare")]
    gemini = report["entries"][0]
    assert gemini["label"] == "openai/gemini" and gemini["reason"].startswith("picked (#1 of 4): value 0.83")
    assert (
        gemini["score"]["trust"] == pytest.approx(10 / 12, abs=1e-4) and gemini["score"]["trust_events"] == 8
    )
    assert report["entries"][1]["score"]["trust_events"] == 0


async def test_route_at_explore_one_adds_exactly_one_spare(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    target, config = setup(tmp_path, model_server, '"auto"', "\n[learning]\nexplore = 1\n")
    code, out, err = await route(str(target), "--config", str(config))
    assert code == 0, err
    lines = out.splitlines()
    assert (
        lines[0]
        == 'panels.review = "auto": 3 of 4 candidates asked (panels.auto.size = 2, plus 1 to explore).'
    )
    assert lines[1:3] == ["✓ claude  openai/claude  value 0.50", "✓ codex  openai/codex  value 0.50"]
    assert sorted(line[0] for line in lines[3:]) == ["+", "·"]


async def test_route_of_a_listed_panel_says_routing_is_off(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    target, config = setup(tmp_path, model_server, '["gemini", "claude"]')
    code, out, err = await route(str(target), "--explain", "--config", str(config))
    assert code == 0, err
    assert out.splitlines() == [
        "panels.review lists its seats: routing is off, the listed seats are asked (2 of 2).",
        "✓ gemini  openai/gemini",
        "    picked: listed in panels.review",
        "✓ claude  openai/claude",
        "    picked: listed in panels.review",
    ]
    code, out, err = await route(str(target), "--task", "implement", "--json", "--config", str(config))
    assert code == 0, err
    report = json.loads(out)
    assert (report["auto"], report["mode"]) == (False, "listed")
    assert [e["name"] for e in report["entries"]] == SEATS  # No implement panel: every seat.


async def test_route_with_learning_off_gives_pool_order(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    target, config = setup(tmp_path, model_server, '"auto"', "\n[learning]\nenabled = false\nexplore = 1\n")
    write_history(tmp_path / "memory" / "chorus.db", {"qwen": "accept"}, {})
    code, out, err = await route(str(target), "--config", str(config))
    assert code == 0, err
    assert out.splitlines() == [
        'panels.review = "auto": 2 of 4 candidates asked (panels.auto.size = 2; learning off: pool order).',
        "✓ claude  openai/claude",
        "✓ codex  openai/codex",
        "· gemini  openai/gemini  (spare)",
        "· qwen  openai/qwen  (spare)",
    ]


async def test_route_refuses_a_missing_file_and_an_excluded_one(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    _target, config = setup(tmp_path, model_server, '"auto"')
    code, _out, err = await route(str(tmp_path / "nope.py"), "--config", str(config))
    assert code == 2 and "nope.py: no such file" in err and len(err.strip().splitlines()) == 1
    (tmp_path / ".env").write_text("KEY=1\n", encoding="utf-8")
    code, _out, err = await route(str(tmp_path / ".env"), "--config", str(config))
    assert code == 2 and ".env" in err
    assert model_server.requests == []
