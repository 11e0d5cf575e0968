"""The answer cache: the same question to the same model is answered from the memory, not asked again.

Real HTTP to the fake model server (which records every request it gets) and a real SQLite store in
tmp_path; a fresh `StoreWriter` on the same file stands for a later process (another face, a restart).
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio

from orchestration.memory.cache import answer_key
from orchestration.memory.settings import CacheConfig
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.pipelines.explain import explain_diagnostics
from orchestration.pipelines.review import review_selection
from orchestration.types.config import ChorusConfig, ModelConfig, parse_config
from orchestration.types.requests import DiagnosticInput, ExplainRequest
from orchestration.types.results import ReviewResult
from tests.fake_models import FakeModelServer, make_config
from tests.test_memory_recording import LEDGER, OFF_BY_ONE, findings, ledger_request, with_store


def two_seats(server: FakeModelServer, store_path: Path, **cache: object) -> ChorusConfig:
    server.script("claude", findings(OFF_BY_ONE))
    server.script("codex", findings(OFF_BY_ONE))
    config = with_store(make_config(server, ["claude", "codex"]), store_path)
    return config.model_copy(update={"cache": CacheConfig.model_validate(cache)})


def statuses(result: ReviewResult) -> list[tuple[str, str, bool]]:
    return [(m.name, m.status, m.cached) for m in result.models]


async def test_a_repeated_review_of_unchanged_code_is_served_from_the_cache(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    config = two_seats(model_server, store_path)
    first = await review_selection(ledger_request(), config, memory=memory)
    assert len(model_server.requests) == 2 and not any(m.cached for m in first.models)
    started = time.perf_counter()
    again = await review_selection(ledger_request(), config, memory=memory)
    cached_wall = time.perf_counter() - started
    assert len(model_server.requests) == 2, "the fake server saw no second request"
    assert statuses(again) == [("claude", "ok", True), ("codex", "ok", True)]
    assert all(m.cost_usd == 0.0 and m.tokens_in is None for m in again.models)
    assert again.findings == [
        f.model_copy(update={"finding_id": g.finding_id})
        for f, g in zip(first.findings, again.findings, strict=True)
    ]
    assert cached_wall < 0.5
    assert memory.flush(10)
    with Store.open(config.store) as store:
        detail = store.show(again.run_id or "")
        audit = store.export()["audit"]
    assert detail is not None and [seat.status for seat in detail.seats] == ["cached", "cached"]
    assert detail.run.outcome == "ok"  # A cached answer is an answer.
    assert isinstance(audit, list) and len(audit) == 2, "a cached answer sends nothing: no audit row"


async def test_another_process_reuses_what_the_store_keeps(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    config = two_seats(model_server, store_path)
    await review_selection(ledger_request(), config, memory=memory)
    memory.close()
    later = StoreWriter(config.store)  # A new writer: nothing in this process's recent answers.
    try:
        result = await review_selection(ledger_request(), config, memory=later)
    finally:
        later.close()
    assert len(model_server.requests) == 2 and all(m.cached for m in result.models)


async def test_cache_disabled_asks_the_models_again(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    config = two_seats(model_server, store_path, enabled=False)
    for _ in range(2):
        result = await review_selection(ledger_request(), config, memory=memory)
        assert not any(m.cached for m in result.models)
    assert len(model_server.requests) == 4
    assert parse_config({"cache": False}).cache.enabled is False  # `cache = false` in chorus.toml


async def test_an_expired_answer_is_asked_again(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    config = two_seats(model_server, store_path, ttl_hours=0.1 / 3600)
    await review_selection(ledger_request(), config, memory=memory)
    await anyio.sleep(0.2)
    result = await review_selection(ledger_request(), config, memory=memory)
    assert len(model_server.requests) == 4 and not any(m.cached for m in result.models)


async def test_changed_code_a_failed_answer_or_other_instructions_are_asked_again(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    model_server.script("claude", [findings(OFF_BY_ONE)])
    model_server.script("codex", ["not json at all", findings(OFF_BY_ONE)])
    config = with_store(make_config(model_server, ["claude", "codex"]), store_path)
    first = await review_selection(ledger_request(), config, memory=memory)
    assert [m.status for m in first.models] == ["ok", "invalid"]
    second = await review_selection(ledger_request(), config, memory=memory)
    assert statuses(second) == [("claude", "ok", True), ("codex", "ok", False)]  # Unusable: not kept.
    changed = await review_selection(
        ledger_request(LEDGER.replace("amounts", "values")), config, memory=memory
    )
    assert not any(m.cached for m in changed.models)
    focused = config.models["claude"].model_copy(update={"instructions": "focus on security"})
    other = config.model_copy(update={"models": {**config.models, "claude": focused}})
    result = await review_selection(ledger_request(), other, memory=memory)
    assert statuses(result) == [("claude", "ok", False), ("codex", "ok", True)]
    assert len(model_server.requests) == 2 + 1 + 2 + 1


async def test_identical_requests_in_flight_share_one_call(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    model_server.script("slow", findings(OFF_BY_ONE), latency=0.5)
    config = with_store(make_config(model_server, ["slow"]), store_path)
    await review_selection(ledger_request(last=3), config)  # Loads litellm, outside the measured part.
    model_server.reset()
    results: list[ReviewResult] = []

    async def review() -> None:
        results.append(await review_selection(ledger_request(), config, memory=memory))

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(review)
    assert len(model_server.requests) == 1
    assert sorted(m.cached for result in results for m in result.models) == [False, True, True]
    assert all(result.findings and result.findings[0].votes == 1 for result in results)


async def test_the_explain_panel_is_cached_too(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    model_server.script("claude", '{"explanation": "The loop reads one past the end.", "fix": null}')
    config = with_store(make_config(model_server, ["claude"]), store_path)
    request = ExplainRequest(
        document=ledger_request().document,
        start_line=8,
        end_line=8,
        diagnostics=[DiagnosticInput(start_line=8, end_line=8, message="IndexError")],
    )
    first = await explain_diagnostics(request, config, memory=memory)
    again = await explain_diagnostics(request, config, memory=memory)
    assert again.explanation == first.explanation and again.models[0].cached
    assert first.run_id and again.run_id and first.run_id != again.run_id
    assert len(model_server.requests) == 1


def test_the_key_covers_model_endpoint_settings_instructions_version_schema_and_prompt() -> None:
    seat = ModelConfig(model="openai/a", api_base="http://127.0.0.1:1/v1")
    messages = [{"role": "user", "content": "review this"}]
    base = answer_key(seat, messages, {"type": "object"}, "v1")
    assert base == answer_key(seat.model_copy(), [dict(m) for m in messages], {"type": "object"}, "v1")
    variants = [
        answer_key(seat.model_copy(update={"model": "openai/b"}), messages, {"type": "object"}, "v1"),
        answer_key(seat.model_copy(update={"api_base": "http://127.0.0.1:2/v1"}), messages, None, "v1"),
        answer_key(seat.model_copy(update={"temperature": 0.9}), messages, {"type": "object"}, "v1"),
        answer_key(seat.model_copy(update={"instructions": "be brief"}), messages, {"type": "object"}, "v1"),
        answer_key(seat, messages, {"type": "object"}, "v2"),
        answer_key(seat, messages, {"type": "array"}, "v1"),
        answer_key(seat, [{"role": "user", "content": "review that"}], {"type": "object"}, "v1"),
    ]
    assert base not in variants and len(set(variants)) == len(variants)
