"""Automatic routing (`panels.<task> = "auto"`): the seats of best expected value, through real stores.

Histories are written the way the memory records them: `StoreWriter.submit` of the store's records
(a run, its seat calls with status, latency and tokens, merged findings and the user's verdicts),
then flushed. Each run here has one seat, so only verdicts move trust (no agreement evidence): a
seat whose ten findings were accepted has trust Beta(2 + 10, 2) = 12/14, one whose ten were
dismissed Beta(2, 12) = 2/14, the prior of weight 1 is 0.5. The end-to-end tests review through the
fake model server, which records which models were asked and what each request carried; the
language server's `chorus/models` and its progress are checked through a real client session.
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestration.learning import routing
from orchestration.learning.route_stats import RouteEvidence
from orchestration.learning.settings import LearningConfig
from orchestration.memory.feedback import record_verdict
from orchestration.memory.records import FeedbackEvent, FindingRecord, RunStart, SeatCall, SeatStatus, Verdict
from orchestration.memory.settings import StoreConfig
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.panel.selection import Selection, SelectionContext, select_seats
from orchestration.pipelines.review import review_selection
from orchestration.privacy.gate import PrivacyGate
from orchestration.types.config import ChorusConfig
from orchestration.types.requests import ReviewRequest, SourceDocument
from tests.fake_models import FakeModelServer, make_config
from tests.lsp_client import ChorusLauncher, config_options, selection_params

NO_EXPLORING = {"learning": LearningConfig(explore=0.0)}
"""A config update for tests that must not draw an exploring seat (5% of requests by default)."""
TEXT = "def total(items):\n    return sum(item.price for item in items)\n"


class CountingWriter(StoreWriter):
    """A real store writer that counts the reads made through it."""

    reads = 0

    def read(self, query: Any, default: Any, timeout: float = 5.0) -> Any:
        CountingWriter.reads += 1
        return super().read(query, default, timeout)


@pytest.fixture
def counting(store_path: Path) -> Iterator[CountingWriter]:
    CountingWriter.reads = 0
    writer = CountingWriter(StoreConfig(path=store_path))
    yield writer
    writer.close()


def config_of(
    seats: dict[str, dict[str, Any]],
    *,
    size: int = 1,
    review: Any = "auto",
    cost_weight: float = 0.0,
    **sections: Any,
) -> ChorusConfig:
    """Seats on no server (routing never calls them); `review` the panel ("auto" or a list); no
    exploration unless `learning` sets `explore`; price ranks only when `cost_weight` says so."""
    models = {name: {"model": f"openai/{name}", **keys} for name, keys in seats.items()}
    sections["learning"] = {"explore": 0.0, **sections.get("learning", {})}  # Drawn only when asked.
    auto = {"size": size, "cost_weight": cost_weight}
    return ChorusConfig.model_validate(
        {"models": models, "panels": {"review": review, "auto": auto}, **sections}
    )


def record_run(
    memory: StoreWriter,
    seat: str,
    label: str,
    *,
    path: str = "src/app.py",
    verdicts: Sequence[tuple[str, Verdict]] = (),
    status: SeatStatus = "ok",
    latency_ms: int = 1000,
    tokens: tuple[int, int] | None = None,
) -> None:
    """One review run on `path` whose only seat `seat` (model `label`) reported one finding per
    (category, verdict) and the user judged it so."""
    run = RunStart(task="review", path=path, seats=(seat,))
    memory.submit(run)
    memory.submit(
        SeatCall(
            run_id=run.run_id, seat=seat, model=label, status=status, latency_ms=latency_ms,
            tokens_in=tokens[0] if tokens else None, tokens_out=tokens[1] if tokens else None,
        )
    )  # fmt: skip
    for line, (category, verdict) in enumerate(verdicts, 1):
        finding_id = secrets.token_hex(8)
        memory.submit(
            FindingRecord(
                finding_id=finding_id, run_id=run.run_id, start_line=line, end_line=line, votes=1,
                panel_size=1, severity="warning", category=category, message="m", models=(seat,),
            )
        )  # fmt: skip
        memory.submit(FeedbackEvent(finding_id=finding_id, verdict=verdict))


def judged(seat: str, label: str, memory: StoreWriter, verdict: Verdict) -> None:
    """Ten findings of category bug by `seat`, each judged `verdict`, in one run."""
    record_run(memory, seat, label, verdicts=[("bug", verdict)] * 10)


async def select(
    config: ChorusConfig, memory: StoreWriter | None, path: str = "src/app.py", text: str = TEXT
) -> Selection:
    """The review seats a request on `path` gets (every step, as a pipeline runs them)."""
    if memory is not None:
        assert memory.flush(10)
    document = SourceDocument(path=path, text=text)
    gate = PrivacyGate.for_document(path, config.policy, None)
    return await select_seats(SelectionContext(config, "review", gate, document, memory))


def names(selection: Selection) -> tuple[list[str], list[str]]:
    return [c.name for c in selection.asked], [c.name for c in selection.spare]


async def test_a_fresh_store_orders_candidates_by_weight_then_pool_order(memory: StoreWriter) -> None:
    config = config_of({"a": {}, "b": {"weight": 3.0}, "c": {}, "d": {"weight": 2.0}}, size=2)
    selection = await select(config, memory)
    assert names(selection) == (["b", "d"], ["a", "c"])
    assert selection.reasons["b"].startswith("picked (#1 of 4): value 0.75 = trust 0.75 (prior, no evidence")
    assert selection.reasons["a"].startswith("left out (#3 of 4, the top 2 are asked): value 0.50")


async def test_a_trusted_candidate_beats_an_untrusted_one(memory: StoreWriter) -> None:
    judged("doubted", "openai/doubted", memory, "dismiss")
    judged("trusted", "openai/trusted", memory, "accept")
    config = config_of({"doubted": {}, "fresh": {}, "trusted": {}}, size=1)
    selection = await select(config, memory)
    assert names(selection) == (["trusted"], ["fresh", "doubted"])
    assert "value 0.86 = trust 0.86 (10 events; .py findings: bug 100%)" in selection.reasons["trusted"]
    assert selection.reasons["doubted"].startswith("left out (#3 of 3, the top 1 are asked): value 0.14")


async def test_the_languages_category_mix_weights_trust(memory: StoreWriter) -> None:
    """a is right on security and wrong on style, b the reverse: Python files have had security
    findings, Markdown files style findings, so each language gets its own best seat."""
    for seat, right, wrong in (("a", "security", "style"), ("b", "style", "security")):
        where_right, where_wrong = ("src/x.py", "docs/x.md") if seat == "a" else ("docs/x.md", "src/x.py")
        record_run(memory, seat, f"openai/{seat}", path=where_right, verdicts=[(right, "accept")] * 6)
        record_run(memory, seat, f"openai/{seat}", path=where_wrong, verdicts=[(wrong, "dismiss")] * 6)
    config = config_of({"a": {}, "b": {}}, size=1)
    python, markdown = await select(config, memory, "lib/y.py"), await select(config, memory, "README.MD")
    assert (names(python)[0], names(markdown)[0]) == (["a"], ["b"])
    assert ".py findings: security 100%" in python.reasons["a"]
    assert ".md findings: style 100%" in markdown.reasons["b"]


async def test_each_effort_is_a_candidate_with_its_own_trust(
    model_server: FakeModelServer, memory: StoreWriter, store_path: Path
) -> None:
    judged("gpt@low", "openai/gpt@low", memory, "dismiss")
    judged("gpt@high", "openai/gpt@high", memory, "accept")
    config = make_config(
        model_server, {"gpt": {"efforts": ["low", "high"]}}, panels={"review": "auto", "auto": {"size": 1}}
    ).model_copy(update=NO_EXPLORING)
    pool = routing.candidates(config, "review")
    assert [(c.name, c.seat.reasoning_effort, c.seat.label) for c in pool] == [
        ("gpt@low", "low", "openai/gpt@low"),
        ("gpt@high", "high", "openai/gpt@high"),
    ]
    selection = await select(config, memory)
    assert names(selection) == (["gpt@high"], ["gpt@low"])
    assert "trust 0.86 (10 events;" in selection.reasons["gpt@high"]
    assert "trust 0.14 (10 events;" in selection.reasons["gpt@low"]

    model_server.script("gpt", json.dumps({"findings": []}))
    config = config.model_copy(update={"store": StoreConfig(path=store_path)})
    result = await review_selection(
        ReviewRequest(document=SourceDocument(path="app.py", text=TEXT)), config, memory=memory
    )
    assert [(m.name, m.model, m.status) for m in result.models] == [("gpt@high", "openai/gpt@high", "ok")]
    (sent,) = model_server.requests_for("gpt")
    assert sent.body["reasoning_effort"] == "high"


async def test_recent_errors_lower_a_candidates_value(memory: StoreWriter) -> None:
    for index in range(10):
        record_run(memory, "flaky", "openai/flaky", status="error" if index % 2 else "ok")
        record_run(memory, "steady", "openai/steady")
    config = config_of({"flaky": {"weight": 1.5}, "steady": {}}, size=1)  # flaky's prior is higher
    selection = await select(config, memory)
    assert names(selection) == (["steady"], ["flaky"])
    assert "availability 0.55 (5 of 10 recent calls failed)" in selection.reasons["flaky"]
    assert "availability 1.00 (0 of 10 recent calls failed)" in selection.reasons["steady"]


async def test_a_p95_beyond_the_deadlines_share_lowers_a_candidates_value(memory: StoreWriter) -> None:
    for _ in range(5):
        record_run(memory, "slow", "openai/slow", latency_ms=16_000)
        record_run(memory, "quick", "openai/quick", latency_ms=2_000)
    config = config_of({"slow": {"weight": 1.5}, "quick": {}}, size=1, policy={"deadline": 10})
    selection = await select(config, memory)
    assert names(selection) == (["quick"], ["slow"])
    assert "latency 0.50 (p95 16.0 s, allowed 8 s)" in selection.reasons["slow"]
    assert "latency 1.00 (p95 2.0 s, allowed 8 s)" in selection.reasons["quick"]


async def test_expected_cost_beyond_the_budget_share_lowers_a_candidates_value(memory: StoreWriter) -> None:
    for _ in range(3):
        record_run(memory, "dear", "openai/dear", tokens=(10_000, 1_000))
        record_run(memory, "cheap", "openai/cheap", tokens=(10_000, 1_000))
    dear = {"weight": 1.5, "input_cost_per_mtok": 9.0, "output_cost_per_mtok": 10.0}  # $0.1 a call
    cheap = {"input_cost_per_mtok": 0.1, "output_cost_per_mtok": 0.0}  # $0.001
    config = config_of({"dear": dear, "cheap": cheap}, size=1, budget={"per_request_usd": 0.02})
    selection = await select(config, memory)
    assert names(selection) == (["cheap"], ["dear"])
    assert "× cost 0.20 (~$0.1000 a call, share $0.0200)" in selection.reasons["dear"]
    assert "× cost 1.00 (~$0.0010 a call, share $0.0200)" in selection.reasons["cheap"]


async def test_without_a_budget_price_ranks_by_cost_weight(memory: StoreWriter) -> None:
    for _ in range(3):
        record_run(memory, "dear", "openai/dear", tokens=(10_000, 1_000))
        record_run(memory, "cheap", "openai/cheap", tokens=(10_000, 1_000))
    dear = {"weight": 1.5, "input_cost_per_mtok": 9.0, "output_cost_per_mtok": 10.0}  # $0.1 a call
    cheap = {"input_cost_per_mtok": 0.1, "output_cost_per_mtok": 0.0}  # $0.001: a hundredth
    ignoring = await select(config_of({"dear": dear, "cheap": cheap}, size=1), memory)
    assert names(ignoring) == (["dear"], ["cheap"])  # Prior 0.6 against 0.5.
    weighing = await select(config_of({"dear": dear, "cheap": cheap}, size=1, cost_weight=0.25), memory)
    assert names(weighing) == (["cheap"], ["dear"])
    assert "× cost 0.32 (~$0.1000 a call, no per-request budget)" in weighing.reasons["dear"]  # 0.01 ** 0.25
    assert "× cost 1.00 (~$0.0010 a call, no per-request budget)" in weighing.reasons["cheap"]


async def test_exploration_adds_exactly_one_spare_at_one_and_none_at_zero(memory: StoreWriter) -> None:
    judged("a", "openai/a", memory, "accept")
    seats: dict[str, dict[str, Any]] = {name: {} for name in ("a", "b", "c", "d")}
    always = config_of(seats, size=2, learning={"explore": 1.0})
    never = config_of(seats, size=2, learning={"explore": 0.0})
    explored: set[str] = set()
    for index in range(20):
        text = f"{TEXT}# version {index}\n"
        asked, spare = names(await select(always, memory, text=text))
        assert len(asked) == 3 and len(spare) == 1 and asked[:2] == ["a", "b"]
        explored.add(asked[2])
        reasons = (await select(always, memory, text=text)).reasons
        assert [name for name, why in reasons.items() if why.startswith("picked to explore")] == [asked[2]]
        assert names(await select(never, memory, text=text)) == (["a", "b"], ["c", "d"])
    assert explored == {"c", "d"}  # The draw is seeded per document: both spares got their turn.


def test_the_exploration_draw_is_driven_by_its_generator() -> None:
    config = config_of({name: {} for name in ("a", "b", "c", "d", "e")}, size=2, learning={"explore": 0.5})
    pool = routing.candidates(config, "review")
    empty = RouteEvidence(calls={}, trust={}, language=None, mix={}, findings=0)
    draws = [routing.decide(pool, empty, config, random.Random(seed)).explored for seed in range(40)]
    assert draws == [routing.decide(pool, empty, config, random.Random(seed)).explored for seed in range(40)]
    assert 5 < sum(draw is None for draw in draws) < 35 and set(draws) - {None} == {"c", "d", "e"}
    document = SourceDocument(path="a.py", text=TEXT)
    first = routing.exploration_rng(document, "review", now=7200.0).random()
    assert first == routing.exploration_rng(document, "review", now=10_799.0).random()  # same hour
    assert first != routing.exploration_rng(document, "review", now=10_800.0).random()


async def test_the_decision_is_the_same_after_the_store_is_closed_and_reopened(store_path: Path) -> None:
    config = config_of({n: {} for n in ("a", "b", "c", "d")}, size=2, learning={"explore": 1.0})
    first = StoreWriter(StoreConfig(path=store_path))
    try:
        judged("b", "openai/b", first, "accept")
        judged("a", "openai/a", first, "dismiss")
        record_run(first, "c", "openai/c", status="timeout")
        before = await select(config, first)
    finally:
        first.close()
    again = StoreWriter(StoreConfig(path=store_path))
    try:
        after = await select(config, again)
    finally:
        again.close()
    assert names(after) == names(before) and names(before)[0][:2] == ["b", "d"]
    assert after.reasons == before.reasons


async def test_learning_off_asks_the_pool_in_order_and_reads_nothing(counting: CountingWriter) -> None:
    judged("c", "openai/c", counting, "accept")
    config = config_of({n: {} for n in ("a", "b", "c")}, size=2, learning={"enabled": False, "explore": 1.0})
    selection = await select(config, counting)
    assert names(selection) == (["a", "b"], ["c"])
    assert (selection.reasons["a"], CountingWriter.reads) == ("picked (#1 in pool order): learning is off", 0)
    on = config_of({n: {} for n in ("a", "b", "c")}, size=2)
    assert names(await select(on, counting))[0][0] == "c" and CountingWriter.reads == 1


async def test_a_listed_panel_is_asked_as_listed(counting: CountingWriter) -> None:
    judged("c", "openai/c", counting, "accept")
    seats: dict[str, dict[str, Any]] = {n: {} for n in ("a", "b", "c", "d")}
    config = config_of(seats, review=["d", "a", "b"], learning={"explore": 1.0})
    selection = await select(config, counting)
    assert [(c.name, c.seat) for c in selection.asked] == [(n, config.models[n]) for n in ("d", "a", "b")]
    assert (selection.spare, selection.skipped, selection.reasons, CountingWriter.reads) == ([], [], {}, 0)
    assert routing.planned_seats(config, "review") == 3


async def test_a_failing_or_absent_store_gives_pool_order(memory: StoreWriter, store_path: Path) -> None:
    judged("c", "openai/c", memory, "accept")
    config = config_of({n: {} for n in ("a", "b", "c")}, size=2, learning={"explore": 1.0})
    assert names(await select(config, memory))[0][0] == "c"
    memory.close()
    database = sqlite3.connect(store_path)
    database.execute("DROP TABLE seat_calls")
    database.commit()
    database.close()
    broken = StoreWriter(StoreConfig(path=store_path))
    try:
        failing = await select(config, broken)
    finally:
        broken.close()
    absent = await select(config, None)
    for selection in (failing, absent):
        assert names(selection) == (["a", "b"], ["c"])
        assert selection.reasons["c"] == "left out (#3 in pool order, 2 asked): no memory could be read"


async def test_a_pool_no_larger_than_the_size_is_asked_whole(counting: CountingWriter) -> None:
    config = config_of({"a": {}, "b": {"efforts": ["low", "high"]}}, size=3)
    assert routing.planned_seats(config, "review") == 3
    selection = await select(config, counting)
    assert names(selection) == (["a", "b@low", "b@high"], []) and CountingWriter.reads == 0
    assert routing.planned_seats(config_of({"a": {}}, size=3), "review") == 1


def test_a_stores_evidence_is_read_per_label_and_task(store_path: Path) -> None:
    from orchestration.learning.route_stats import read_evidence

    writer = StoreWriter(StoreConfig(path=store_path))
    for latency in (100, 200, 300, 400, 5000):
        record_run(writer, "a", "openai/a@high", latency_ms=latency, tokens=(1000, 100))
    record_run(writer, "a", "openai/a@high", status="timeout")
    record_run(writer, "a", "openai/a@high", status="cached")
    writer.close()
    with Store.open(StoreConfig(path=store_path)) as store:
        evidence = read_evidence(
            store, learning=LearningConfig(), weights={"openai/a@high": 1.0, "openai/b": 2.0},
            task="review", path="x.PY", min_agreement=2,
        )  # fmt: skip
        other = read_evidence(
            store, learning=LearningConfig(), weights={"openai/a@high": 1.0}, task="explain",
            path=None, min_agreement=2,
        )  # fmt: skip
    calls = evidence.calls["openai/a@high"]
    assert (calls.calls, calls.failures, calls.p95_latency_ms) == (6, 1, 5000)
    assert (calls.tokens_in, calls.tokens_out) == (1000.0, 100.0)
    assert evidence.trust["openai/b"].mean == pytest.approx(2 / 3) and evidence.language == ".py"
    assert other.calls["openai/a@high"].calls == 0 and other.mix == {}


async def test_an_automatic_review_asks_the_trusted_seats(
    model_server: FakeModelServer, memory: StoreWriter, store_path: Path
) -> None:
    """Real reviews make the history (a listed panel), the user's verdicts teach trust, and the next
    review of an automatic panel asks only the two best seats."""
    seats = ["claude", "codex", "gemini"]
    bug = {"severity": "warning", "category": "bug"}
    alone = [{"start_line": k, "end_line": k, "message": f"line {k} ({k})", **bug} for k in range(1, 20, 2)]
    model_server.script("claude", json.dumps({"findings": []}))
    model_server.script("codex", json.dumps({"findings": alone}))
    model_server.script("gemini", json.dumps({"findings": []}))
    store = {"store": StoreConfig(path=store_path), **NO_EXPLORING}
    listed = make_config(model_server, seats, panels={"review": seats}).model_copy(update=store)
    history = "".join(f"value_{line} = compute({line})\n" for line in range(1, 30))
    result = await review_selection(
        ReviewRequest(document=SourceDocument(path="h.py", text=history)), listed, memory=memory
    )
    for finding in result.findings:
        await anyio.to_thread.run_sync(record_verdict, memory, finding.finding_id or "", "dismiss")
    assert memory.flush(10) and len(result.findings) == 10

    model_server.reset()
    automatic = {"review": "auto", "auto": {"size": 2}}
    auto = make_config(model_server, seats, panels=automatic).model_copy(update=store)
    result = await review_selection(
        ReviewRequest(document=SourceDocument(path="app.py", text=TEXT)), auto, memory=memory
    )
    assert sorted(m.name for m in result.models) == ["claude", "gemini"]
    assert {r.model for r in model_server.requests} == {"claude", "gemini"}
    assert model_server.requests_for("codex") == []


async def test_chorus_models_explains_the_routing_and_progress_counts_the_picked_seats(
    chorus: ChorusLauncher, model_server: FakeModelServer, tmp_path: Path
) -> None:
    seats = ["claude", "codex", "gemini"]
    for seat in seats:
        model_server.script(seat, json.dumps({"findings": []}))
    config = make_config(model_server, seats, panels={"review": "auto", "auto": {"size": 2}})
    store = {"store": {"path": str(tmp_path / "m.db")}}
    options = {**config_options(config.model_copy(update=NO_EXPLORING)), **store}
    async with chorus(init_options=options) as client:
        models = await client.request("chorus/models", {})
        assert list(models["routing"]) == ["review"]  # Only the automatic panel is routed.
        review = models["routing"]["review"]
        assert (review["mode"], review["path"], review["size"]) == ("routed", None, 2)
        states = [(entry["name"], entry["state"]) for entry in review["entries"]]
        assert states == [("claude", "picked"), ("codex", "picked"), ("gemini", "spare")]
        assert review["entries"][0]["reason"].startswith("picked (#1 of 3): value 0.50 = trust 0.50 (prior")
        params = selection_params(client.open_document("mean.py", TEXT), 0, 2)
        params["workDoneToken"] = "routed"
        client.progress_reports.setdefault("routed", [])
        answer = await client.request("chorus/reviewSelection", params)
        assert [m["name"] for m in answer["models"]] == ["claude", "codex"]
        assert client.progress_reports["routed"][0].message == "asking 2 models"
    assert model_server.requests_for("gemini") == []
