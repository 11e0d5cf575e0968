"""Recording runs: a review through the fake model server lands in a real SQLite store, whole.

Each test points `[store] path` into tmp_path and reads back with `Store.open`: the run, every seat
(status, tokens, cost, its own findings, the hash of its raw answer), the merged findings with the
ids the diagnostics carry, the conflicts, and how the run ended, cancelled and failing stores too.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestration.machine_form import review_machine_form
from orchestration.memory.settings import StoreConfig
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.pipelines.review import review_selection, stream_review
from orchestration.types.config import ChorusConfig
from orchestration.types.requests import ReviewRequest, SourceDocument
from orchestration.types.results import ResultUpdate
from tests.fake_models import FakeModelServer, make_config

LEDGER = (Path(__file__).resolve().parent.parent / "examples" / "ledger.py").read_text()
OFF_BY_ONE = {
    "start_line": 8,
    "end_line": 8,
    "severity": "error",
    "category": "bug",
    "message": "Off-by-one: range(len(amounts) + 1) reads past the end and raises IndexError.",
    "fix": {"start_line": 8, "end_line": 8, "replacement": "    for i in range(len(amounts)):\n"},
}
SQL = {
    "start_line": 14,
    "end_line": 14,
    "severity": "warning",
    "category": "security",
    "message": "SQL injection: owner is interpolated into the query.",
}


def exists(path: Path) -> bool:
    return path.exists()


def findings(*items: dict[str, Any]) -> str:
    """A model answer in the contract's shape."""
    return json.dumps({"findings": list(items)})


def with_store(config: ChorusConfig, path: Path, **store: Any) -> ChorusConfig:
    """`config` with its memory at `path` (a real SQLite file in the test's tmp_path)."""
    return config.model_copy(update={"store": StoreConfig(path=path, **store)})


def ledger_request(text: str = LEDGER, first: int = 1, last: int | None = None) -> ReviewRequest:
    return ReviewRequest(
        document=SourceDocument(path="examples/ledger.py", text=text), start_line=first, end_line=last
    )


def three_seats(server: FakeModelServer, store_path: Path) -> ChorusConfig:
    """claude finds two problems, codex one of them, gemini fails with HTTP 500."""
    server.script("claude", findings(OFF_BY_ONE, SQL))
    server.script(
        "codex", findings({**OFF_BY_ONE, "severity": "warning", "message": "IndexError at the end"})
    )
    server.script("gemini", status=500)
    return with_store(make_config(server, ["claude", "codex", "gemini"]), store_path)


async def test_a_review_with_three_seats_one_failing_is_recorded_whole(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    config = three_seats(model_server, store_path)
    result = await review_selection(ledger_request(), config, memory=memory)

    assert result.run_id is not None
    ids = [finding.finding_id for finding in result.findings]
    assert len(ids) == 2 and all(ids) and len(set(ids)) == 2
    form = review_machine_form(result, ledger_request().document, "file:///ledger.py")
    assert [d["data"]["findingId"] for d in form["diagnostics"]] == ids and form["runId"] == result.run_id
    ok = [m for m in result.models if m.status == "ok"]
    assert [m.name for m in ok] == ["claude", "codex"]
    assert all(m.tokens_in and m.tokens_out and m.cost_usd == 0.0 and not m.cached for m in ok)

    assert memory.flush(10)
    with Store.open(config.store) as store:
        (run,) = store.history()
        assert (run.run_id, run.task, run.outcome) == (result.run_id, "review", "partial")
        assert (run.path, run.start_line, run.end_line) == ("examples/ledger.py", 1, 19)
        assert run.seats == ("claude", "codex", "gemini") and run.ended_at is not None
        assert run.content_hash == hashlib.sha256(LEDGER.encode()).hexdigest()
        assert run.prompt_version and run.config_hash
        detail = store.show(run.run_id)
    assert detail is not None
    seats = {seat.seat: seat for seat in detail.seats}
    assert {name: seat.status for name, seat in seats.items()} == {
        "claude": "ok",
        "codex": "ok",
        "gemini": "error",
    }
    claude = seats["claude"]
    assert claude.tokens_in == ok[0].tokens_in and claude.tokens_out and claude.cost_usd == 0.0
    answered = model_server.requests_for("claude")[0].answer or ""
    assert claude.answer_hash == hashlib.sha256(answered.encode()).hexdigest()
    assert [opinion.message for opinion in claude.findings] == [OFF_BY_ONE["message"], SQL["message"]]
    assert "500" in (seats["gemini"].error_class or "") and seats["gemini"].answer_hash is None
    assert [finding.finding_id for finding in detail.findings] == ids
    assert all(finding.fingerprint for finding in detail.findings)
    by_line = {finding.start_line: finding for finding in detail.findings}
    assert by_line[8].votes == 2 and by_line[8].models == ("claude", "codex") and by_line[8].fix is None
    kinds = {(conflict.kind, conflict.models_for, conflict.models_against) for conflict in detail.conflicts}
    assert ("missing", ("claude",), ("codex",)) in kinds  # Only claude saw the SQL injection.
    assert ("severity_split", ("claude",), ("codex",)) in kinds  # error against warning on line 8.


async def test_partial_results_carry_the_ids_the_final_one_has(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    model_server.script("fast", findings(OFF_BY_ONE), latency=0.05)
    model_server.script("slow", findings(OFF_BY_ONE), latency=0.6)
    config = with_store(make_config(model_server, ["fast", "slow"]), store_path)
    updates = []
    async with stream_review(ledger_request(), config, memory=memory) as events:
        async for event in events:
            if isinstance(event, ResultUpdate):
                updates.append(event.result)
    partial, final = updates[0], updates[-1]
    assert not partial.final and final.final and partial.run_id == final.run_id is not None
    assert [f.finding_id for f in partial.findings] == [f.finding_id for f in final.findings]


async def test_a_cancelled_run_ends_cancelled(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    model_server.script("slow", findings(OFF_BY_ONE), latency=5)
    config = with_store(make_config(model_server, ["slow"]), store_path)
    with anyio.move_on_after(1.0):
        await review_selection(ledger_request(), config, memory=memory)
    assert memory.flush(10)
    with Store.open(config.store) as store:
        (run,) = store.history()
        audit = store.export()["audit"]
    assert run.outcome == "cancelled"
    assert isinstance(audit, list) and [row["outcome"] for row in audit] == ["cancelled"]


async def test_a_cancelled_run_records_the_seats_that_had_finished_and_the_rest_cancelled(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    model_server.script("fast", findings(OFF_BY_ONE), latency=0.05)
    model_server.script("slow", findings(OFF_BY_ONE), latency=5)
    config = with_store(make_config(model_server, ["fast", "slow"]), store_path)
    with anyio.move_on_after(1.5):
        await review_selection(ledger_request(), config, memory=memory)
    assert memory.flush(10)
    with Store.open(config.store) as store:
        (run,) = store.history()
        detail = store.show(run.run_id)
    assert run.outcome == "cancelled" and detail is not None
    seats = {seat.seat: seat for seat in detail.seats}
    assert {name: seat.status for name, seat in seats.items()} == {"fast": "ok", "slow": "cancelled"}
    fast = seats["fast"]
    assert fast.tokens_in and fast.tokens_out and fast.latency_ms is not None  # What was spent is kept.
    assert seats["slow"].error_class == "request cancelled" and seats["slow"].tokens_in is None


async def test_without_a_memory_nothing_is_recorded_and_ids_are_none(model_server: FakeModelServer) -> None:
    model_server.script("claude", findings(OFF_BY_ONE))
    result = await review_selection(ledger_request(), make_config(model_server, ["claude"]))
    assert result.run_id is None and result.findings[0].finding_id is None
    form = review_machine_form(result, ledger_request().document)
    assert form["diagnostics"][0]["data"]["findingId"] is None and form["runId"] is None
    assert "finding_id" not in result.findings[0].model_dump()


async def test_a_store_turned_off_records_nothing(model_server: FakeModelServer, store_path: Path) -> None:
    model_server.script("claude", findings(OFF_BY_ONE))
    writer = StoreWriter(StoreConfig(path=store_path, enabled=False))
    result = await review_selection(ledger_request(), make_config(model_server, ["claude"]), memory=writer)
    assert result.run_id is None and result.findings and not exists(store_path)


def _remount(directory: Path, mode: str) -> bool:
    return subprocess.run(["mount", "-o", f"remount,{mode}", str(directory)], check=False).returncode == 0


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[Path]:
    """A store with one run on a tmpfs remounted read-only (root only), put back afterwards."""
    directory = tmp_path / "ro"
    directory.mkdir()
    mounted = os.geteuid() == 0 and (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(directory)], check=False
        ).returncode
        == 0
    )
    if not mounted:
        pytest.skip("a read-only store needs root and mount (tmpfs)")
    path = directory / "chorus.db"
    Store.open(StoreConfig(path=path)).close()
    try:
        assert _remount(directory, "ro")
        yield path
    finally:
        _remount(directory, "rw")
        subprocess.run(["umount", "-l", str(directory)], check=False)


async def test_a_read_only_store_never_fails_or_slows_a_review(
    model_server: FakeModelServer, read_only_store: Path
) -> None:
    model_server.script("claude", findings(OFF_BY_ONE))
    model_server.script("codex", findings(OFF_BY_ONE))
    config = with_store(make_config(model_server, ["claude", "codex"]), read_only_store)
    baseline = await review_selection(ledger_request(), config)  # Also loads litellm.
    warnings: list[str] = []
    writer = StoreWriter(config.store, on_warning=warnings.append)
    try:
        started = anyio.current_time()
        for _ in range(3):
            result = await review_selection(ledger_request(), config, memory=writer)
            assert [f.message for f in result.findings] == [f.message for f in baseline.findings]
            assert all(m.status == "ok" for m in result.models)
        assert anyio.current_time() - started < 5
        assert writer.flush(10)
    finally:
        writer.close()
    assert len(warnings) == 1 and writer.written == 0 and writer.dropped > 0
    assert len(model_server.requests) == 2 * 2  # Later runs reuse the answers this process still holds.


async def test_a_canary_key_in_the_code_and_the_environment_never_reaches_the_store(
    model_server: FakeModelServer, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seat_key = "sk-test-SEATCANARY0123456789abcdefghij"
    code_key = "sk-live-CODECANARY0123456789abcdefghij"
    monkeypatch.setenv("CHORUS_TEST_SEAT_KEY", seat_key)
    text = LEDGER + f'\nAPI_KEY = "{code_key}"\n'
    leaked = {
        **SQL,
        "start_line": 21,
        "end_line": 21,
        "message": f"hardcoded key {code_key}, sent {seat_key}",
    }
    fix = {"start_line": 21, "end_line": 21, "replacement": 'API_KEY = "<redacted:api-key>"\n'}
    model_server.script("claude", findings({**leaked, "fix": fix}, OFF_BY_ONE))
    model_server.script("codex", status=401, error_body={"error": {"message": f"bad key {seat_key}"}})
    config = with_store(
        make_config(
            model_server,
            {
                "claude": {"api_key_env": "CHORUS_TEST_SEAT_KEY"},
                "codex": {"api_key_env": "CHORUS_TEST_SEAT_KEY"},
            },
        ),
        store_path,
        keep_code=True,
    )
    writer = StoreWriter(config.store)
    try:
        for _ in range(2):  # The second run is served from the cache: a cache entry is written too.
            result = await review_selection(ledger_request(text), config, memory=writer)
            assert result.run_id is not None and result.findings
        assert writer.flush(10) and writer.dropped == 0
    finally:
        writer.close()
    files = [path for path in store_path.parent.iterdir() if path.is_file()]
    assert store_path in files
    for path in files:
        data = path.read_bytes()
        for canary in (seat_key, code_key):
            assert canary.encode() not in data and canary[8:].encode() not in data, path.name
    with Store.open(config.store) as store:
        (detail,) = [store.show(run.run_id) for run in store.history(limit=1)]
    assert detail is not None and detail.code is not None and "<redacted:" in detail.code


CHUNKED = "\n".join(
    line
    for k in range(6)
    for line in [
        f"def step_{k}(values):",
        "    total = 0",
        *[f"    total += values[{i}] * {k}" for i in range(8)],
        "    return total",
        "",
        "",
    ]
)


async def test_a_seat_asked_in_chunks_is_recorded_as_one_seat_with_its_tokens_summed(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    model_server.script("small", findings())
    config = with_store(make_config(model_server, {"small": {"max_input_tokens": 1100}}), store_path)
    request = ReviewRequest(document=SourceDocument(path="steps.py", text=CHUNKED))
    result = await review_selection(request, config, memory=memory)
    calls = model_server.requests_for("small")
    assert len(calls) > 1 and result.notice and "in parts" in result.notice
    (status,) = result.models
    words = sum(len(str(m.get("content", "")).split()) for call in calls for m in call.messages)
    assert status.status == "ok" and status.tokens_in == words  # The fake server counts words as tokens.
    assert status.tokens_out == len(calls) * len(findings().split())
    assert memory.flush(10)
    with Store.open(config.store) as store:
        detail = store.show(result.run_id or "")
        audit = store.export()["audit"]
    assert detail is not None and [(s.seat, s.tokens_in) for s in detail.seats] == [
        ("small", status.tokens_in)
    ]
    assert detail.seats[0].answer_hash and isinstance(audit, list) and len(audit) == len(calls)


async def test_a_locked_or_unreachable_store_never_fails_or_slows_a_review(
    model_server: FakeModelServer, store_path: Path
) -> None:
    model_server.script("claude", findings(OFF_BY_ONE))
    config = with_store(make_config(model_server, ["claude"]), store_path)
    baseline = await review_selection(ledger_request(), config)  # Also loads litellm.
    Store.open(config.store).close()
    lock = sqlite3.connect(store_path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # Another process holding the file: every writer must wait.
    locked = StoreWriter(config.store)
    unreachable = StoreConfig(url="postgresql://chorus@127.0.0.1:9/nothing", path=store_path)
    warnings: list[str] = []
    down = StoreWriter(unreachable, on_warning=warnings.append)
    try:
        for memory in (locked, down):
            started = anyio.current_time()
            result = await review_selection(ledger_request(), config, memory=memory)
            assert anyio.current_time() - started < 2.0
            assert [f.message for f in result.findings] == [f.message for f in baseline.findings]
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        locked.close()
        down.close()
    assert len(warnings) == 1 and down.written == 0
    with Store.open(config.store) as store:  # Once the lock is gone, the waiting writer wrote its run.
        assert [run.outcome for run in store.history()] == ["ok"]


def test_an_untrusted_workspace_config_cannot_move_the_store(tmp_path: Path) -> None:
    from orchestration.types.config import load_layers

    (tmp_path / "chorus.toml").write_text(
        '[store]\npath = "/tmp/elsewhere.db"\nurl = "postgresql://evil@example.com/db"\nuser = "alice"\n'
        "keep_code = true\n[cache]\nttl_hours = 1\n"
    )
    loaded = load_layers(tmp_path, tmp_path, workspace_trusted=False)
    assert set(loaded.ignored) >= {"store.path", "store.url", "store.user"}
    store = loaded.config.store
    assert store.url is None and store.user is None and store.path == StoreConfig().path
    assert store.keep_code and loaded.config.cache.ttl_hours == 1  # Harmless keys still apply.
    trusted = load_layers(tmp_path, tmp_path, workspace_trusted=True).config.store
    assert (trusted.path, trusted.user) == (Path("/tmp/elsewhere.db"), "alice")
