"""Feedback: the user's verdict on a finding, and suppression memory for the ones dismissed.

A dismissed finding is left out of the next review of the same code (partial results too), also
after a restart (a new writer on the same SQLite file), and comes back when the code around it
changes; a change elsewhere in the file does not bring it back.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from orchestration.memory.feedback import VerdictResult, record_verdict
from orchestration.memory.records import Verdict
from orchestration.memory.settings import StoreConfig
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.pipelines.review import review_selection, stream_review
from orchestration.types.config import ChorusConfig
from orchestration.types.results import ResultUpdate, ReviewResult
from tests.fake_models import FakeModelServer, make_config
from tests.test_memory_recording import LEDGER, OFF_BY_ONE, SQL, findings, ledger_request, with_store


async def verdict(memory: StoreWriter, finding_id: str | None, kind: Verdict) -> VerdictResult:
    """`record_verdict` as a face calls it: off the event loop (it waits for the writer)."""
    return await anyio.to_thread.run_sync(record_verdict, memory, finding_id or "", kind)


def panel(server: FakeModelServer, store_path: Path) -> ChorusConfig:
    server.script("claude", findings(OFF_BY_ONE, SQL))
    server.script("codex", findings(OFF_BY_ONE, SQL))
    return with_store(make_config(server, ["claude", "codex"]), store_path)


def lines_of(result: ReviewResult) -> list[int]:
    return [finding.start_line for finding in result.findings]


async def test_a_dismissed_finding_stays_hidden_on_the_same_code_and_returns_when_it_changes(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    config = panel(model_server, store_path)
    first = await review_selection(ledger_request(), config, memory=memory)
    assert lines_of(first) == [8, 14]
    sql = first.findings[1]
    assert sql.finding_id is not None
    dismissed = await verdict(memory, sql.finding_id, "dismiss")
    assert dismissed.recorded and dismissed.suppressed

    hidden = await review_selection(ledger_request(), config, memory=memory)
    assert lines_of(hidden) == [8]
    assert hidden.notice is not None and "1 finding you dismissed" in hidden.notice

    elsewhere = LEDGER.replace("def ", "def  ", 1)  # Line 6 changes: far from line 14's code.
    assert lines_of(await review_selection(ledger_request(elsewhere), config, memory=memory)) == [8]

    lines = LEDGER.split("\n")
    lines[13] = lines[13].replace("owner", "owner_name")  # The dismissed finding's own line changes.
    changed = await review_selection(ledger_request("\n".join(lines)), config, memory=memory)
    assert lines_of(changed) == [8, 14] and changed.notice is None


async def test_suppression_survives_a_restart_and_hides_partial_results_too(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    config = panel(model_server, store_path)
    first = await review_selection(ledger_request(), config, memory=memory)
    await verdict(memory, first.findings[1].finding_id, "dismiss")
    memory.close()
    restarted = StoreWriter(config.store)
    model_server.script("claude", findings(OFF_BY_ONE, SQL), latency=0.05)
    model_server.script("codex", findings(OFF_BY_ONE, SQL), latency=0.5)
    cache_off = config.model_copy(update={"cache": config.cache.model_copy(update={"enabled": False})})
    updates: list[ReviewResult] = []
    try:
        async with stream_review(ledger_request(), cache_off, memory=restarted) as events:
            async for event in events:
                if isinstance(event, ResultUpdate):
                    updates.append(event.result)
    finally:
        restarted.close()
    assert len(updates) >= 2 and all(lines_of(update) == [8] for update in updates)


async def test_verdicts_are_recorded_and_shown_with_the_run(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    config = panel(model_server, store_path)
    result = await review_selection(ledger_request(), config, memory=memory)
    off_by_one, sql = (finding.finding_id or "" for finding in result.findings)
    assert (await verdict(memory, off_by_one, "accept")).recorded
    assert (await verdict(memory, off_by_one, "useful")).recorded
    assert (await verdict(memory, sql, "dismiss")).suppressed
    assert memory.flush(10)
    with Store.open(config.store) as store:
        detail = store.show(result.run_id or "")
        (suppression,) = store.suppressions()
        stored = store.finding(sql)
    assert detail is not None
    assert [(event.finding_id, event.verdict) for event in detail.feedback] == [
        (off_by_one, "accept"),
        (off_by_one, "useful"),
        (sql, "dismiss"),
    ]
    assert stored is not None and suppression.fingerprint == stored.fingerprint
    assert suppression.finding_id == sql and suppression.cluster_key == "security:injection"


def test_bad_verdicts_and_ids_are_refused_and_unknown_findings_are_not_suppressed(
    memory: StoreWriter,
) -> None:
    with pytest.raises(ValueError, match="verdict"):
        record_verdict(memory, "0123456789abcdef", "like")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finding id"):
        record_verdict(memory, "'; drop table findings; --", "dismiss")
    unknown = record_verdict(memory, "0123456789abcdef", "dismiss")
    assert unknown.recorded and not unknown.suppressed and "no finding" in (unknown.reason or "")
    off = record_verdict(StoreWriter(StoreConfig(enabled=False)), "0123456789abcdef", "dismiss")
    assert not off.recorded and "turned off" in (off.reason or "")
