"""Budgets (`[budget]`): the cost ledger in a real SQLite store, and reviews through the fake model server.

Cloud seats live on a fake model server bound to this machine's network address (to the privacy gate,
a remote model); the local seat on one bound to loopback (a loopback `api_base` is a local seat).
The cloud seats set `input_cost_per_mtok`, so their estimates cost money: with no history, a request
is expected to take `PROMPT_OVERHEAD_TOKENS` + characters / 4 prompt tokens. What a call cost is
recorded from a LiteLLM proxy's `x-litellm-response-cost` header, which the fake server sends when a
script answers 201 with a completion body carrying `__headers__`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from orchestration.learning import budget, spend
from orchestration.learning.settings import BudgetConfig
from orchestration.memory.records import RunStart, SeatCall, StoreWrite
from orchestration.memory.settings import CacheConfig, StoreConfig
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.panel.selection import Candidate, Selection, SelectionContext, select_seats
from orchestration.pipelines.review import review_selection
from orchestration.privacy.gate import PrivacyGate
from orchestration.types.config import ChorusConfig, ModelConfig, PanelsConfig
from orchestration.types.errors import NoPanelError
from orchestration.types.requests import ReviewRequest, SourceDocument
from tests.fake_model_scripts import HEADERS_KEY, Script
from tests.fake_models import FakeModelServer, seat_config

CODE = "def mean(values):\n    return sum(values) / len(values)\n"
DOCUMENT = SourceDocument(path="src/stats.py", text=CODE)
BUG = {
    "start_line": 2,
    "end_line": 2,
    "severity": "error",
    "category": "bug",
    "message": "Division by zero when values is empty.",
    "fix": None,
}
PROMPT_TOKENS = spend.PROMPT_OVERHEAD_TOKENS + len(CODE) / spend.CHARS_PER_TOKEN
"""What a review of DOCUMENT is expected to send a seat with no history, in tokens."""


def answer(*items: dict[str, Any]) -> str:
    return json.dumps({"findings": list(items)})


@pytest.fixture
def cloud(remote_server: FakeModelServer) -> FakeModelServer:
    """The fake cloud model server (`remote_server`: a non-loopback address)."""
    return remote_server


def proxy_priced(text: str, cost: float, tokens_in: int = 900, tokens_out: int = 40) -> Script:
    """A completion as a LiteLLM proxy sends it: its cost in the `x-litellm-response-cost` header."""
    body = {
        "id": "chatcmpl-proxy",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "proxied",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
        HEADERS_KEY: {"x-litellm-response-cost": str(cost)},
    }
    return Script(status=201, error_body=body)


def budget_config(
    local: FakeModelServer,
    cloud: FakeModelServer,
    store_path: Path | None,
    *,
    prices: dict[str, float],
    panel: list[str] | None = None,
    local_seats: tuple[str, ...] = ("local-a",),
    **limits: float,
) -> ChorusConfig:
    """Cloud seats priced per million prompt tokens (`prices`) and local seats; review panel `panel`."""
    models = {
        name: seat_config(cloud, name, input_cost_per_mtok=price, output_cost_per_mtok=0.0)
        for name, price in prices.items()
    }
    models.update({name: seat_config(local, name) for name in local_seats})
    store = StoreConfig(path=store_path) if store_path is not None else StoreConfig(enabled=False)
    return ChorusConfig(
        models=models,
        panels=PanelsConfig(review=panel if panel is not None else list(prices)),
        budget=BudgetConfig(**limits),
        store=store,
        cache=CacheConfig(enabled=False),
    )


def spending(*costs: tuple[float, float], task: str = "review", user: str | None = None) -> list[StoreWrite]:
    """Runs that cost `cost` USD each, started at `at` (seconds since the epoch): `(at, cost)` pairs."""
    records: list[StoreWrite] = []
    for at, cost in costs:
        run = RunStart(task=task, seats=("earlier",), user=user, started_at=at)
        records += [run, SeatCall(run.run_id, "earlier", "openai/earlier", "ok", cost_usd=cost, at=at)]
    return records


def seed_spend(store_path: Path, *costs: tuple[float, float], user: str | None = None) -> None:
    """`spending(*costs)` written to the store at `store_path` (no writer may have it open yet)."""
    with Store.open(StoreConfig(path=store_path)) as store:
        store.write(spending(*costs, user=user))


def spent_earlier(memory: StoreWriter, *costs: tuple[float, float]) -> None:
    """`spending(*costs)` written through the test's own store writer."""
    for record in spending(*costs):
        assert memory.submit(record)
    assert memory.flush(10)


def request() -> ReviewRequest:
    return ReviewRequest(document=DOCUMENT)


def statuses(result: Any) -> dict[str, tuple[str, str | None]]:
    return {model.name: (model.status, model.error) for model in result.models}


# -- the ledger ------------------------------------------------------------------------------------


def test_the_ledger_counts_today_and_this_month_in_utc(store_path: Path) -> None:
    now = 1_786_000_000.0  # 2026-08-06 07:06 UTC
    today, month = spend.day_start(now), spend.month_start(now)
    assert time.gmtime(today)[3:6] == (0, 0, 0) and time.gmtime(month)[2:6] == (1, 0, 0, 0)
    seed_spend(
        store_path,
        (month - 60, 7.0),  # Last month's last minute.
        (month, 1.0),  # This month's first second.
        (today - 60, 2.0),  # Yesterday, this month.
        (today + 5, 0.25),
        (now - 1, 0.5),
    )
    with Store.open(StoreConfig(path=store_path)) as store:
        assert spend.ledger(store, now) == spend.Ledger(today_usd=0.75, month_usd=3.75)
        next_month = spend.month_start(month + 40 * spend.DAY_S)
        assert spend.ledger(store, next_month + 1) == spend.Ledger(today_usd=0.0, month_usd=0.0)
        assert spend.ledger(store, month + 1) == spend.Ledger(today_usd=1.0, month_usd=3.75)
        assert spend.ledger(store, month - 30) == spend.Ledger(today_usd=7.0, month_usd=7.0)


def test_the_ledger_of_one_user_and_of_everyone(store_path: Path) -> None:
    now = time.time()
    seed_spend(store_path, (now - 2, 1.5), user="ada")
    seed_spend(store_path, (now - 1, 0.25), user="bob")
    with Store.open(StoreConfig(path=store_path)) as store:
        assert spend.ledger(store, now).today_usd == pytest.approx(1.75)
        assert spend.ledger(store, now, user="ada").today_usd == pytest.approx(1.5)
        assert spend.ledger(store, now, user="nobody") == spend.Ledger(0.0, 0.0)


def test_a_seats_history_is_its_answered_calls_for_its_label_and_task(store_path: Path) -> None:
    now = time.time()
    with Store.open(StoreConfig(path=store_path)) as store:
        review, explain = RunStart(task="review", started_at=now), RunStart(task="explain", started_at=now)
        model, old = "openai/claude", now - 40 * spend.DAY_S
        store.write([
            review, explain,
            SeatCall(review.run_id, "claude", model, "ok", tokens_in=1000, tokens_out=100, cost_usd=0.3),
            SeatCall(review.run_id, "again", model, "ok", tokens_in=3000, tokens_out=300, cost_usd=0.5),
            SeatCall(review.run_id, "claude (arbiter)", model, "ok", tokens_in=9, tokens_out=9),
            SeatCall(review.run_id, "broken", model, "error", tokens_in=50_000, tokens_out=0),
            SeatCall(review.run_id, "old", model, "ok", tokens_in=7, tokens_out=7, at=old),
            SeatCall(explain.run_id, "claude", model, "ok", tokens_in=5, tokens_out=5),
        ])  # fmt: skip
        history = spend.seat_history(store, ["openai/claude", "openai/codex"], "review", now)
    assert history == {"openai/claude": spend.SeatHistory(2, 2000.0, 200.0, 0.4)}


def test_a_seats_estimate_is_its_expected_tokens_times_its_price() -> None:
    seat = ModelConfig(
        model="openai/x", api_base="https://models.example/v1", input_cost_per_mtok=3.0,
        output_cost_per_mtok=15.0, max_tokens=1000,
    )  # fmt: skip
    default = spend.estimated_cost(seat, None, 4000)
    assert default == pytest.approx((800 + 1000) * 3e-6 + 1000 * 15e-6)
    known = spend.SeatHistory(calls=4, tokens_in=2000.0, tokens_out=100.0, cost_usd=None)
    assert spend.estimated_cost(seat, known, 4000) == pytest.approx(2000 * 3e-6 + 100 * 15e-6)
    local = ModelConfig(model="openai/x", api_base="http://127.0.0.1:9/v1", input_cost_per_mtok=3.0)
    assert spend.estimated_cost(local, known, 4000) == 0.0
    unpriced = ModelConfig(model="openai/unmapped-by-anyone", api_base="https://models.example/v1")
    proxied = spend.SeatHistory(calls=2, tokens_in=10.0, tokens_out=10.0, cost_usd=0.02)
    assert spend.estimated_cost(unpriced, proxied, 4000) == 0.02
    assert spend.estimated_cost(unpriced, None, 4000) == 0.0


def test_the_status_line_appears_near_a_limit() -> None:
    limits = BudgetConfig(daily_usd=5.0, monthly_usd=100.0)
    assert budget.budget_text(limits, spend.Ledger(3.0, 30.0)) is None
    assert budget.budget_text(limits, spend.Ledger(4.62, 30.0)) == "budget: $4.62 of $5.00 today"
    assert (
        budget.budget_text(limits, spend.Ledger(1.0, 100.5))
        == "budget reached: $100.50 of $100.00 this month"
    )
    assert budget.budget_text(limits, None) is None
    assert budget.budget_text(BudgetConfig(per_request_usd=1.0), spend.Ledger(99.0, 99.0)) is None


# -- reviews through the pipeline ------------------------------------------------------------------


async def test_a_daily_limit_crossed_mid_day_leaves_the_next_review_to_local_seats(
    model_server: FakeModelServer, cloud: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    spent_earlier(memory, (time.time() - 3600, 1.25))  # This morning's reviews.
    cloud.script("claude", [proxy_priced(answer(BUG), cost=4.0), Script(answer(BUG))])
    cloud.script("codex", answer(BUG))
    model_server.script("local-a", answer(BUG))
    config = budget_config(
        model_server, cloud, store_path, prices={"claude": 30.0, "codex": 1.0}, daily_usd=5.0
    )

    first = await review_selection(request(), config, memory=memory)
    assert statuses(first)["claude"][0] == statuses(first)["codex"][0] == "ok"
    assert first.notice is None and model_server.requests == [], "under the limit, the panel is asked"
    claude, codex = (model for model in first.models)
    assert claude.cost_usd == 4.0, "the proxy's figure"
    assert codex.tokens_in and codex.cost_usd == pytest.approx(codex.tokens_in * 1e-6), "codex's own price"
    assert memory.flush(10)
    with Store.open(config.store) as store:
        assert spend.ledger(store).today_usd == pytest.approx(1.25 + 4.0 + codex.cost_usd)

    second = await review_selection(request(), config, memory=memory)
    assert len(cloud.requests) == 2, "no cloud seat was asked again"
    assert len(model_server.requests_for("local-a")) == 1
    assert statuses(second)["local-a"][0] == "ok" and len(second.findings) == 1
    assert statuses(second)["claude"] == ("skipped", "daily budget $5.00 reached: $5.25 spent")
    assert statuses(second)["codex"] == ("skipped", "daily budget $5.00 reached: $5.25 spent")
    assert second.notice == (
        "Daily budget reached ($5.25 of $5.00): cloud seats skipped (claude, codex); local-a serves."
    )


async def test_nearing_a_limit_drops_the_most_expensive_seat_first(
    model_server: FakeModelServer, cloud: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    spent_earlier(memory, (time.time() - 60, 3.9))
    cloud.script("*", answer(BUG))
    model_server.script("local-a", answer(BUG))
    config = budget_config(
        model_server, cloud, store_path, prices={"claude": 300.0, "codex": 1.0}, daily_usd=5.0
    )
    # claude is expected to cost PROMPT_TOKENS × $300/M ≈ $0.24: $3.90 + that passes 80% of $5.00.
    result = await review_selection(request(), config, memory=memory)
    assert [r.model for r in cloud.requests] == ["codex"]
    assert len(model_server.requests_for("local-a")) == 1
    assert statuses(result)["claude"] == (
        "skipped", "daily budget $5.00: $3.90 spent, past 80% of it with this request"
    )  # fmt: skip
    assert (
        result.notice == "Daily budget nearly spent ($3.90 of $5.00): dropped claude; asked local-a instead."
    )


async def test_past_the_nearing_line_the_cheapest_cloud_seat_stays_when_no_local_seat_is_configured(
    cloud: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    spent_earlier(memory, (time.time() - 60, 4.5))
    cloud.script("*", answer(BUG))
    prices = {"claude": 300.0, "codex": 1.0, "gemini": 30.0}
    config = budget_config(cloud, cloud, store_path, prices=prices, local_seats=(), daily_usd=5.0)
    result = await review_selection(request(), config, memory=memory)
    assert [r.model for r in cloud.requests] == ["codex"], "one seat is always kept"
    assert [name for name, (status, _) in statuses(result).items() if status == "skipped"] == [
        "claude",
        "gemini",
    ]
    assert result.notice == "Daily budget nearly spent ($4.50 of $5.00): dropped claude, gemini."


async def test_the_per_request_limit_drops_the_most_expensive_seats_until_the_estimate_fits(
    cloud: FakeModelServer,
) -> None:
    cloud.script("*", answer(BUG))
    prices = {"claude": 300.0, "codex": 1.0}
    config = budget_config(cloud, cloud, None, prices=prices, local_seats=(), per_request_usd=0.05)
    result = await review_selection(request(), config)  # No store: the estimate is the default.
    assert [r.model for r in cloud.requests] == ["codex"]
    claude, total = PROMPT_TOKENS * 300e-6, PROMPT_TOKENS * 301e-6
    assert statuses(result)["claude"] == (
        "skipped", f"per-request budget $0.05: this seat ~${claude:.2f}, the request ~${total:.2f}"
    )  # fmt: skip
    assert result.notice == "Per-request budget $0.05: dropped claude."


async def test_at_the_limit_with_no_local_seat_nothing_is_asked_and_the_error_says_why(
    cloud: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    spent_earlier(memory, (time.time() - 60, 6.0))
    cloud.script("*", answer(BUG))
    config = budget_config(cloud, cloud, store_path, prices={"claude": 3.0}, local_seats=(), daily_usd=5.0)
    with pytest.raises(NoPanelError, match=r"claude: daily budget \$5\.00 reached: \$6\.00 spent"):
        await review_selection(request(), config, memory=memory)
    assert cloud.requests == []


async def test_the_monthly_limit_counts_the_whole_month(
    model_server: FakeModelServer, cloud: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    spent_earlier(memory, (spend.month_start(time.time()) + 1, 20.0))
    cloud.script("*", answer(BUG))
    model_server.script("local-a", answer(BUG))
    config = budget_config(model_server, cloud, store_path, prices={"claude": 3.0}, monthly_usd=10.0)
    result = await review_selection(request(), config, memory=memory)
    assert cloud.requests == [] and len(model_server.requests_for("local-a")) == 1
    assert statuses(result)["claude"] == ("skipped", "monthly budget $10.00 reached: $20.00 spent")
    assert (
        result.notice
        == "Monthly budget reached ($20.00 of $10.00): cloud seats skipped (claude); local-a serves."
    )


class CountingWriter(StoreWriter):
    """A real store writer that counts the reads made through it."""

    reads = 0

    def read(self, query: Any, default: Any, timeout: float = 5.0) -> Any:
        self.reads += 1
        return super().read(query, default, timeout)


async def test_without_a_budget_nothing_is_read_and_the_seats_are_the_panels(
    model_server: FakeModelServer, cloud: FakeModelServer, store_path: Path
) -> None:
    seed_spend(store_path, (time.time() - 60, 1_000.0))
    config = budget_config(model_server, cloud, store_path, prices={"claude": 300.0, "codex": 1.0})
    writer = CountingWriter(config.store)
    try:
        gate = PrivacyGate(config.policy)
        selection = await select_seats(SelectionContext(config, "review", gate, DOCUMENT, writer))
        assert [c.name for c in selection.asked] == ["claude", "codex"]
        assert selection.skipped == [] and selection.notice is None
        assert writer.reads == 0
        limited = config.model_copy(update={"budget": BudgetConfig(daily_usd=2000.0)})
        selection = await select_seats(SelectionContext(limited, "review", gate, DOCUMENT, writer))
        assert [c.name for c in selection.asked] == ["claude", "codex"] and writer.reads == 1
    finally:
        writer.close()


async def test_a_failing_store_leaves_the_daily_limit_unchecked_and_the_review_whole(
    cloud: FakeModelServer, tmp_path: Path
) -> None:
    (tmp_path / "blocker").write_text("a file where the store's folder should be\n")
    cloud.script("*", answer(BUG))
    prices = {"claude": 3.0, "codex": 1.0}
    unopenable = tmp_path / "blocker" / "chorus.db"
    config = budget_config(
        cloud, cloud, unopenable, prices=prices, local_seats=(), daily_usd=5.0, per_request_usd=1.0
    )
    writer = StoreWriter(config.store)
    try:
        result = await review_selection(request(), config, memory=writer)
    finally:
        writer.close()
    assert {name: status for name, (status, _) in statuses(result).items()} == {"claude": "ok", "codex": "ok"}
    assert result.notice is None


async def test_a_dropped_seat_gives_way_to_a_cheaper_spare_candidate(
    cloud: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    spent_earlier(memory, (time.time() - 60, 3.95))
    prices = {"claude": 300.0, "codex": 1.0, "opus": 900.0, "gemini": 30.0}
    config = budget_config(cloud, cloud, store_path, prices=prices, local_seats=(), daily_usd=5.0)
    seat = config.models
    selection = Selection(
        asked=[Candidate("claude", seat["claude"]), Candidate("codex", seat["codex"])],
        spare=[Candidate("opus", seat["opus"]), Candidate("gemini", seat["gemini"])],
    )
    context = SelectionContext(config, "review", PrivacyGate(config.policy), DOCUMENT, memory)
    await budget.admit(context, selection)
    assert [c.name for c in selection.asked] == ["gemini", "codex"]
    assert [c.name for c in selection.spare] == ["opus"]
    assert [s.name for s in selection.skipped] == ["claude"]
    assert selection.reasons["gemini"] == "asked instead of claude (budget)"
    assert (
        selection.notice
        == "Daily budget nearly spent ($3.95 of $5.00): dropped claude; asked gemini instead."
    )


# -- what a call is recorded to cost ---------------------------------------------------------------


async def test_a_proxys_reported_cost_is_what_gets_recorded(
    cloud: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    cloud.script("claude", proxy_priced(answer(BUG), cost=0.0123, tokens_in=1000, tokens_out=10))
    config = budget_config(cloud, cloud, store_path, prices={"claude": 300.0}, local_seats=())
    result = await review_selection(request(), config, memory=memory)
    (status,) = result.models
    assert status.cost_usd == pytest.approx(0.0123), "the proxy's figure wins over the seat's own price"
    assert memory.flush(10)
    with Store.open(config.store) as store:
        detail = store.show(result.run_id or "")
    assert detail is not None
    assert [(c.seat, c.cost_usd, c.tokens_in) for c in detail.seats] == [
        ("claude", pytest.approx(0.0123), 1000)
    ]


async def test_record_usage_prices_tokens_by_the_seats_own_price_unless_a_proxy_reports_one(
    cloud: FakeModelServer,
) -> None:
    from orchestration.providers.base import CallUsage
    from orchestration.providers.loading import ensure_litellm, loaded_litellm
    from orchestration.providers.usage import record_usage

    await ensure_litellm()
    seat = seat_config(cloud, "claude", input_cost_per_mtok=3.0, output_cost_per_mtok=15.0)
    cloud.script(
        "claude",
        [proxy_priced("x", cost=0.5, tokens_in=1000, tokens_out=100), Script("four answer words here")],
    )
    messages = [{"role": "user", "content": "one two three"}]
    costs = []
    for _ in range(2):
        response = await loaded_litellm().acompletion(
            model=seat.model, api_base=seat.api_base, api_key="unused", messages=messages, max_retries=0
        )
        usage = CallUsage()
        record_usage(response, usage, local=False, seat=seat)
        costs.append((usage.tokens_in, usage.tokens_out, usage.cost_usd))
    assert costs[0] == (1000, 100, pytest.approx(0.5))
    assert costs[1] == (3, 4, pytest.approx(3 * 3e-6 + 4 * 15e-6))
    usage = CallUsage()
    record_usage(response, usage, local=False)  # No seat: litellm's map, which has no price for it.
    assert usage.cost_usd is None
    record_usage(response, usage, local=True, seat=seat)  # A priced seat on this machine (a proxy) costs.
    assert usage.cost_usd == pytest.approx(3 * 3e-6 + 4 * 15e-6)
    record_usage(
        response,
        usage,
        local=True,
        seat=seat.model_copy(update={"input_cost_per_mtok": None, "output_cost_per_mtok": None}),
    )
    assert usage.cost_usd == 0.0


async def test_a_seats_own_price_is_what_a_review_records(
    cloud: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    cloud.script("claude", answer(BUG))
    config = budget_config(cloud, cloud, store_path, prices={"claude": 300.0}, local_seats=())
    result = await review_selection(request(), config, memory=memory)
    (status,) = result.models
    assert status.tokens_in is not None
    assert status.cost_usd == pytest.approx(status.tokens_in * 300e-6)
