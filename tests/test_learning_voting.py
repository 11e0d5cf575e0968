"""Weighted consensus: `policy.voting`, through real reviews of the fake model server into a real store.

The history is made the way a user makes it: a recorded review of three seats, then verdicts on its
findings (`record_verdict`). claude reported ten findings alone and the user accepted them; codex
and gemini reported ten others together and the user dismissed them. Each model's trust is then
worked out by hand (`orchestration.learning.trust`: prior Beta(2, 2), a verdict counts 1, agreement
0.25): claude Beta(2 + 10, 2 + 2.5), codex and gemini Beta(2 + 2.5, 2 + 10), each on 20 events.

In the review after it, claude and codex report one problem and codex and gemini another. Counted,
both stay warnings at `[2/3]`. Weighted, the first (trust 16.5/21 of the panel's: 79%; the chance
that one of its seats is right, 1 − (1 − 12/16.5)(1 − 4.5/16.5) = 0.80) reaches what two seats of the
panel's mean trust would give (0.67) and stays a warning; the second (9/21: 43%; 0.47) does not and
is kept at info. Counted votes are what a review without a memory gives, byte for byte.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestration.machine_form import DiagnosticForm, review_machine_form
from orchestration.memory.feedback import record_verdict
from orchestration.memory.records import Verdict
from orchestration.memory.settings import StoreConfig
from orchestration.memory.writer import StoreWriter
from orchestration.pipelines.review import review_selection
from orchestration.types.config import ChorusConfig
from orchestration.types.requests import ReviewRequest, SourceDocument
from orchestration.types.results import ReviewResult
from tests.cli_runner import run_chorus, write_seats_config
from tests.fake_models import FakeModelServer, make_config

SEATS = ["claude", "codex", "gemini"]
HISTORY = "".join(f"value_{line} = compute({line})\n" for line in range(1, 41))
FINAL = (
    "def total(items):\n"
    "    result = 0\n"
    "    for item in items:\n"
    "        result += item.price\n"
    "    return result\n"
    "\n"
    "def average(items):\n"
    "    return total(items) / len(items)\n"
)
LOOP = {
    "start_line": 4,
    "end_line": 4,
    "severity": "warning",
    "category": "bug",
    "message": "item.price may be None, and adding None raises TypeError.",
}
EMPTY = {
    "start_line": 8,
    "end_line": 8,
    "severity": "warning",
    "category": "bug",
    "message": "average divides by zero when items is empty.",
}
TRUSTED = 12 / 16.5
"""claude's trust after the history: Beta(12, 4.5)'s mean."""
DOUBTED = 4.5 / 16.5
"""codex's and gemini's: Beta(4.5, 12)'s mean."""


def findings(*items: dict[str, Any]) -> str:
    """A model answer in the contract's shape."""
    return json.dumps({"findings": list(items)})


def seats_config(server: FakeModelServer, store_path: Path, **policy: Any) -> ChorusConfig:
    config = make_config(server, SEATS, policy=policy)
    return config.model_copy(update={"store": StoreConfig(path=store_path)})


def request(text: str, path: str) -> ReviewRequest:
    return ReviewRequest(document=SourceDocument(path=path, text=text))


def unchecked(line: int) -> dict[str, Any]:
    return {
        "start_line": line,
        "end_line": line,
        "severity": "warning",
        "category": "bug",
        "message": f"compute({line}) is called unchecked: input {line} may be out of its range.",
    }


async def build_history(
    server: FakeModelServer, memory: StoreWriter, store_path: Path, count: int = 10
) -> None:
    """One recorded review: claude alone on `count` findings (accepted), codex and gemini together on
    `count` others (dismissed). Lines are two apart, so no two findings merge."""
    alone = [unchecked(2 * k + 1) for k in range(count)]
    together = [unchecked(2 * (k + count) + 1) for k in range(count)]
    server.script("claude", findings(*alone))
    server.script("codex", findings(*together))
    server.script("gemini", findings(*together))
    config = seats_config(server, store_path, voting="count")
    result = await review_selection(request(HISTORY, "history.py"), config, memory=memory)
    assert sorted(len(f.models) for f in result.findings) == [1] * count + [2] * count
    for finding in result.findings:
        verdict: Verdict = "accept" if finding.models == ["claude"] else "dismiss"
        await anyio.to_thread.run_sync(record_verdict, memory, finding.finding_id or "", verdict)
    assert memory.flush(10)


def script_final(server: FakeModelServer) -> None:
    """claude and codex report the loop problem; codex and gemini the empty list."""
    server.script("claude", findings(LOOP))
    server.script("codex", findings(LOOP, EMPTY))
    server.script("gemini", findings(EMPTY))


def diagnostics(result: ReviewResult) -> list[DiagnosticForm]:
    """The machine form's diagnostics, without the ids only a recorded run has."""
    form = review_machine_form(result, SourceDocument(path="final.py", text=FINAL), "file:///final.py")
    for diagnostic in form["diagnostics"]:
        diagnostic["data"]["findingId"] = None
    return form["diagnostics"]


async def final_review(
    server: FakeModelServer, memory: StoreWriter | None, store_path: Path, **settings: Any
) -> ReviewResult:
    script_final(server)
    learning = settings.pop("learning", None)
    config = seats_config(server, store_path, **settings)
    if learning is not None:
        config = config.model_copy(update={"learning": config.learning.model_copy(update=learning)})
    return await review_selection(request(FINAL, "final.py"), config, memory=memory)


async def todays_output(server: FakeModelServer, store_path: Path) -> list[DiagnosticForm]:
    """What the final review gives without any memory: today's counted votes."""
    return diagnostics(await final_review(server, None, store_path))


async def test_weighted_votes_keep_what_trusted_seats_agree_on_and_count_mode_is_todays(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    today = await todays_output(model_server, store_path)
    assert [(d["message"][:6], d["severity"]) for d in today] == [("[2/3] ", 2), ("[2/3] ", 2)]
    await build_history(model_server, memory, store_path)

    weighted = await final_review(model_server, memory, store_path, voting="weighted")
    loop, empty = weighted.findings
    assert loop.confidence == pytest.approx((TRUSTED + DOUBTED) / (TRUSTED + 2 * DOUBTED), abs=1e-4)
    assert empty.confidence == pytest.approx(2 * DOUBTED / (TRUSTED + 2 * DOUBTED), abs=1e-4)
    assert [(d["message"], d["severity"]) for d in diagnostics(weighted)] == [
        (f"[2/3 · 79%] {LOOP['message']}", 2),  # 1.0 reaches 2 × 1.27 / 3: kept a warning
        (f"[2/3 · 43%] {EMPTY['message']}", 3),  # 0.55 does not: kept at info
    ]
    assert (loop.models, empty.models) == (["claude", "codex"], ["codex", "gemini"])
    assert "confidence" in weighted.findings[0].model_dump()

    counted = await final_review(model_server, memory, store_path, voting="count")
    assert diagnostics(counted) == today
    assert all(f.confidence is None and "confidence" not in f.model_dump() for f in counted.findings)
    automatic = await final_review(model_server, memory, store_path)  # "auto": 20+ events each
    assert [(d["message"][:7], d["severity"]) for d in diagnostics(automatic)] == [
        ("[2/3 · ", 2),
        ("[2/3 · ", 3),
    ]  # Each recorded review adds agreement evidence: the percentages moved a little.


async def test_auto_counts_votes_until_a_seat_has_enough_events(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    today = await todays_output(model_server, store_path)
    await build_history(model_server, memory, store_path, count=4)  # 8 events per model
    automatic = await final_review(model_server, memory, store_path, voting="auto")
    assert diagnostics(automatic) == today
    weighted = await final_review(model_server, memory, store_path, voting="weighted")
    assert [d["message"][:7] for d in diagnostics(weighted)] == ["[2/3 · ", "[2/3 · "]
    lowered = await final_review(
        model_server, memory, store_path, voting="auto", learning={"min_events_for_weighted": 8}
    )
    assert [d["message"][:7] for d in diagnostics(lowered)] == ["[2/3 · ", "[2/3 · "]


async def test_learning_turned_off_counts_votes(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    today = await todays_output(model_server, store_path)
    await build_history(model_server, memory, store_path)
    off = await final_review(model_server, memory, store_path, voting="weighted", learning={"enabled": False})
    assert diagnostics(off) == today


async def test_a_store_that_cannot_be_read_counts_votes(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    today = await todays_output(model_server, store_path)
    await build_history(model_server, memory, store_path)
    database = sqlite3.connect(store_path)  # The trust's verdicts can no longer be read.
    database.execute("DROP TABLE rollup_verdicts")
    database.commit()
    database.close()
    broken = StoreWriter(StoreConfig(path=store_path))
    try:
        started = anyio.current_time()
        result = await final_review(model_server, broken, store_path, voting="weighted")
        assert anyio.current_time() - started < 5
    finally:
        broken.close()
    assert diagnostics(result) == today


async def test_the_arbiter_is_told_each_seats_trust_when_votes_are_weighted(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    await build_history(model_server, memory, store_path)
    model_server.script("judge", json.dumps({"clusters": []}))
    for voting in ("weighted", "count"):  # Weighted first: each recorded review adds evidence.
        script_final(model_server)
        config = make_config(
            model_server,
            [*SEATS, "judge"],
            panels={"review": SEATS, "arbiter": "judge"},
            policy={"voting": voting},
        ).model_copy(update={"store": StoreConfig(path=store_path)})
        result = await review_selection(request(FINAL, "final.py"), config, memory=memory)
        assert result.arbiter is not None and result.arbiter.status == "ok"
    weighted, counted = (call.prompt for call in model_server.requests_for("judge")[-2:])
    assert "proven right" not in counted
    assert "weigh their words accordingly): claude 73%, codex 27%, gemini 27%." in weighted


async def test_chorus_review_json_shows_the_weighted_confidence(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    store_path = tmp_path / "memory" / "chorus.db"
    writer = StoreWriter(StoreConfig(path=store_path))
    try:
        await build_history(model_server, writer, store_path)
    finally:
        writer.close()
    script_final(model_server)
    (tmp_path / "final.py").write_text(FINAL, encoding="utf-8")
    config = write_seats_config(tmp_path, model_server, SEATS, f'[store]\npath = "{store_path}"\n')
    run = await anyio.to_thread.run_sync(
        lambda: run_chorus("review", str(tmp_path / "final.py"), "--json", "--config", str(config))
    )
    assert run.returncode == 0, run.stderr
    messages = [d["message"] for d in json.loads(run.stdout)["diagnostics"]]
    assert messages == [f"[2/3 · 79%] {LOOP['message']}", f"[2/3 · 43%] {EMPTY['message']}"]
