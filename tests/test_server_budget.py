"""`chorus/status` carries the budget's state once a `[budget]` limit is near, read from the server's memory.

The seat is a cloud seat (a fake model server on this machine's network address) answering as a
LiteLLM proxy does, its cost in the `x-litellm-response-cost` header; the server's store is the test's
own (`XDG_DATA_HOME`), so the ledger starts empty.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestration.learning.settings import BudgetConfig
from orchestration.types.config import ChorusConfig
from tests.fake_model_scripts import Script
from tests.fake_models import FakeModelServer, seat_config
from tests.lsp_client import (
    ChorusLauncher,
    config_options,
    finding,
    review_answer,
    selection_params,
    wait_until,
)
from tests.test_learning_budget import proxy_priced

SOURCE = "def total(prices):\n    return sum(prices) + 1\n"
OFF_BY_ONE = review_answer(finding(2, "Off by one: the total is one too high"))


@pytest.fixture
def cloud(remote_server: FakeModelServer) -> FakeModelServer:
    """The fake cloud model server (`remote_server`: a non-loopback address)."""
    return remote_server


def budgeted(statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [status for status in statuses if "budget" in status]


async def test_the_status_carries_the_budget_once_a_daily_limit_is_near(
    chorus: ChorusLauncher, cloud: FakeModelServer
) -> None:
    cloud.script("claude", [proxy_priced(OFF_BY_ONE, cost=4.5), Script(OFF_BY_ONE)])
    seat = seat_config(cloud, "claude", input_cost_per_mtok=1.0, output_cost_per_mtok=0.0)
    config = ChorusConfig(models={"claude": seat}, budget=BudgetConfig(daily_usd=5.0))
    options = {**config_options(config), "cache": False}
    async with chorus(init_options=options) as client:
        uri = client.open_document("prices.py", SOURCE)
        await client.request("chorus/reviewSelection", selection_params(uri, 0, 2))
        line = "budget: $4.50 of $5.00 today"
        after = await wait_until(lambda: budgeted(client.statuses))
        assert after == [{"state": "idle", "message": "ready", "active": 0, "budget": line}]
        assert all("budget" not in status for status in client.statuses[:-1]), "none before the run spent"

        answer = await client.request("chorus/reviewSelection", selection_params(uri, 0, 2))
        assert [model["status"] for model in answer["models"]] == ["ok"], "one seat is always kept"
        assert {"state": "busy", "message": "reviewing: 0 of 1 models", "active": 1, "budget": line} in (
            client.statuses
        )
        assert len(cloud.requests) == 2


async def test_no_budget_no_budget_in_the_status(chorus: ChorusLauncher, cloud: FakeModelServer) -> None:
    cloud.script("claude", proxy_priced(OFF_BY_ONE, cost=400.0))
    config = ChorusConfig(models={"claude": seat_config(cloud, "claude")})
    async with chorus(init_options=config_options(config)) as client:
        uri = client.open_document("prices.py", SOURCE)
        await client.request("chorus/reviewSelection", selection_params(uri, 0, 2))
        await wait_until(lambda: client.statuses and client.statuses[-1]["state"] == "idle")
        assert budgeted(client.statuses) == []
