"""Progress, `chorus/status`, cancellation, and a server that keeps serving while models think."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from tests.fake_models import FakeModelServer
from tests.lsp_client import (
    ChorusLauncher,
    ChorusTestClient,
    finding,
    lsp_range,
    review_answer,
    selection_params,
    wait_until,
)

SOURCE = (
    "def total(prices):\n    return sum(prices) + 1\n\n\n"
    "def mean(values):\n    return sum(values) / len(values)\n"
)
OFF_BY_ONE = review_answer(finding(2, "Off by one: the total is one too high"))


def review_params(uri: str, token: str | None = None) -> dict[str, Any]:
    params = selection_params(uri, 0, 2)
    if token is not None:
        params["workDoneToken"] = token
    return params


def progress_of(client: ChorusTestClient, token: Any) -> tuple[Any, list[Any], Any]:
    reports = client.progress_reports[token]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    return reports[0], reports[1:-1], reports[-1]


@asynccontextmanager
async def slow_session(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> AsyncIterator[tuple[ChorusTestClient, str]]:
    """A session whose one seat, "slow", takes a minute to answer; yields the client and SOURCE's URI."""
    model_server.script("slow", OFF_BY_ONE, latency=60)
    async with chorus({"slow": {"timeout": 90}}, answer_cache=False) as client:  # Ten calls, not one shared.
        yield client, client.open_document("prices.py", SOURCE)


async def request_to_cancel(
    client: ChorusTestClient,
    method: str,
    params: Any,
    cancelled: list[BaseException],
    msg_id: str | None = None,
) -> None:
    """Send a request meant to be cancelled; its RequestCancelled error is appended to `cancelled`."""
    try:
        await client.request(method, params, msg_id=msg_id)
    except JsonRpcRequestCancelled as error:
        cancelled.append(error)


async def test_progress_names_every_model_and_status_follows(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", OFF_BY_ONE)
    model_server.script("codex", OFF_BY_ONE, latency=0.3)
    model_server.script("gemini", status=500)
    async with chorus(["claude", "codex", "gemini"]) as client:
        uri = client.open_document("prices.py", SOURCE)
        answer = await client.request("chorus/reviewSelection", review_params(uri))
        statuses = {m["name"]: m["status"] for m in answer["models"]}
        assert statuses == {"claude": "ok", "codex": "ok", "gemini": "error"}
        assert answer["diagnostics"][0]["message"].startswith("[2/2] "), "the failed seat is not in the panel"

        [token] = list(client.progress_reports)
        begin, reports, end = progress_of(client, token)
        assert "reviewing" in begin.title and begin.cancellable
        assert [r.message.split(" —")[0] for r in reports] == [
            "1/3 models answered",
            "2/3 models answered",
            "3/3 models answered",
        ]
        assert "gemini failed" in reports[-1].message and "claude 0." in reports[-1].message
        assert [r.percentage for r in reports] == [33, 66, 100]
        assert end.message.startswith("3/3 models answered")

        assert client.statuses[0] == {"state": "busy", "message": "reviewing: 0 of 3 models", "active": 1}
        assert {"state": "busy", "message": "reviewing: 2 of 3 models", "active": 1} in client.statuses
        assert client.statuses[-1] == {"state": "idle", "message": "ready", "active": 0}

        rows = {row["name"]: row for row in (await client.request("chorus/models", {}))["models"]}
        assert rows["gemini"]["last_status"]["status"] == "error"
        assert rows["claude"]["last_status"]["status"] == "ok"

        client.progress_reports.setdefault("client-token", [])
        await client.request("chorus/reviewSelection", review_params(uri, "client-token"))
        begin, reports, end = progress_of(client, "client-token")
        assert len(client.progress_reports) == 2, "a client token is used as is, no new one is created"


async def test_cancel_request_cancels_the_model_calls(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    async with slow_session(chorus, model_server) as (client, uri):
        command = types.ExecuteCommandParams(
            command="chorus.reviewSelection", arguments=[uri, lsp_range(0, 2)]
        )
        for method, params in [
            ("chorus/reviewSelection", review_params(uri)),
            ("workspace/executeCommand", command),
        ]:
            before = len(model_server.requests_for("slow"))
            outcome: list[BaseException] = []

            async with anyio.create_task_group() as group:
                group.start_soon(request_to_cancel, client, method, params, outcome, method)
                await model_server.wait_for_requests(before + 1, "slow", timeout=30)
                started = time.monotonic()
                client.cancel_request(types.CancelParams(id=method))
            assert outcome, f"{method} answered RequestCancelled"
            disconnected = await model_server.wait_for_disconnect("slow", timeout=10)
            assert disconnected.finished_at is not None and disconnected.finished_at - started < 5
            model_server.reset()
        await wait_until(
            lambda: client.statuses[-1] == {"state": "idle", "message": "cancelled", "active": 0}
        )
        rows = (await client.request("chorus/models", {}))["models"]
        slow = next(row for row in rows if row["name"] == "slow")
        assert slow["last_status"]["status"] == "cancelled", "chorus/models tells how the seat last fared"


async def test_the_progress_cancel_button_cancels_the_review(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    async with slow_session(chorus, model_server) as (client, uri):
        client.progress_reports.setdefault("button", [])
        outcome: list[BaseException] = []
        async with anyio.create_task_group() as group:
            review = review_params(uri, "button")
            group.start_soon(request_to_cancel, client, "chorus/reviewSelection", review, outcome)
            await model_server.wait_for_requests(1, "slow", timeout=30)
            client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token="button"))
        assert outcome, "the request answered RequestCancelled"
        await model_server.wait_for_disconnect("slow", timeout=10)
        end = client.progress_reports["button"][-1]
        assert isinstance(end, types.WorkDoneProgressEnd) and end.message.startswith("cancelled")


async def test_the_server_keeps_serving_while_ten_reviews_are_in_flight(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    async with slow_session(chorus, model_server) as (client, uri):
        async with anyio.create_task_group() as group:
            for index in range(10):
                review = review_params(uri)
                group.start_soon(
                    request_to_cancel, client, "chorus/reviewSelection", review, [], f"review-{index}"
                )
            await model_server.wait_for_requests(10, "slow", timeout=30)
            client.change_document(uri, 6, 6, "\n\ndef median(values):\n    raise NotImplementedError\n")
            started = time.monotonic()
            in_median = types.Position(line=9, character=4)
            actions = await client.code_actions_at(uri, types.Range(start=in_median, end=in_median))
            elapsed = time.monotonic() - started
            assert [a.title for a in actions or []] == ["Implement stub with Chorus"], "the edit was applied"
            assert elapsed < 2, f"codeAction took {elapsed:.2f} s with ten reviews in flight"
            assert (await client.request("chorus/models", {}))["models"][0]["name"] == "slow"
            busy = await wait_until(lambda: [s for s in client.statuses if s["active"] == 10])
            assert busy[0]["state"] == "busy"
            for index in range(10):
                client.cancel_request(types.CancelParams(id=f"review-{index}"))
        await wait_until(lambda: len([r for r in model_server.requests if r.disconnected]) == 10)
