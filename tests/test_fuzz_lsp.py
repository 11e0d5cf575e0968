"""Property-based fuzzing of every Chorus request, command and code action, over stdio (issue 13).

One `chorus serve` runs for the whole module (seats on the fake model server, which answers
every task at once); hypothesis sends it thousands of generated params (well-formed, almost
well-formed and junk) about open documents, missing files, a directory, a device and a FIFO.
Every reply must be a result or a JSON-RPC error with a one-line message and no traceback or
server path; no -32603 at all; and the server must still answer a normal request afterwards.
The case counts are printed at the end (run with `-s` to see them).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Awaitable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygls.exceptions import JsonRpcException

from tests.fake_models import FakeModelServer, make_config
from tests.lsp_client import (
    ChorusTestClient,
    by_task,
    chorus_session,
    config_options,
    finding,
    review_answer,
)
from tests.test_server_errors import send_raw_request

SOURCE = """import math


def total(prices):
    return sum(prices) + 1


def circle_area(radius):
    # TODO: implement
    pass
"""
ALLOWED_ERRORS = {
    -32602: "InvalidParams",
    -32601: "MethodNotFound",
    -32803: "RequestFailed",
    -32800: "Cancelled",
}
LEAKS = ("Traceback", 'File "', "/server/", "/orchestration/", "site-packages")
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]


def fuzz_settings(examples: int) -> Any:
    """The deterministic profile every property runs with, at `examples` cases."""
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=SUPPRESSED,
    )


@dataclass
class FuzzSession:
    """One running server, its event loop, and what the fuzzing saw."""

    loop: asyncio.AbstractEventLoop
    client: ChorusTestClient
    uris: list[str]
    cases: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    sent: int = 0

    def run(self, work: Awaitable[Any], within: float = 30.0) -> Any:
        async def bounded() -> Any:
            return await asyncio.wait_for(work, within)

        return self.loop.run_until_complete(bounded())

    def check(self, kind: str, work: Awaitable[Any]) -> None:
        """Await one reply; it must be a result or an allowed, clean, one-line error."""
        self.cases[kind] += 1
        try:
            self.run(work)
        except JsonRpcException as error:
            assert error.code in ALLOWED_ERRORS, (kind, error.code, error.message)
            assert "\n" not in error.message, error.message
            text = f"{error.message} {error.data!r}"
            assert not any(leak in text for leak in LEAKS), text
            self.outcomes[ALLOWED_ERRORS[error.code]] += 1
        else:
            self.outcomes["result"] += 1

    def request(self, kind: str, method: str, params: Any) -> None:
        """Send `params` exactly as generated (the typed client would refuse or mangle junk)."""
        self.sent += 1
        msg_id = f"fuzz-{self.sent}"

        async def send() -> Any:
            return await send_raw_request(self.client, method, params, msg_id)

        self.check(kind, send())


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzSession]:
    workspace = tmp_path_factory.mktemp("fuzz")
    loop = asyncio.new_event_loop()
    with FakeModelServer() as models:
        explain = json.dumps(
            {
                "explanation": "It adds one.",
                "fix": {"start_line": 5, "end_line": 5, "replacement": "    return sum(prices)"},
            }
        )
        implement = json.dumps({"code": "def circle_area(radius):\n    return math.pi * radius ** 2\n"})
        review = review_answer(finding(5, "Off by one", fix="    return sum(prices)"))
        models.script("*", by_task(review=review, implement=implement, explain=explain))
        config = make_config(models, ["claude", "codex"])
        stack = AsyncExitStack()
        client = loop.run_until_complete(
            stack.enter_async_context(
                chorus_session(
                    "visual-studio-code",
                    workspace,
                    init_options=config_options(config),
                    env={"CHORUS_OFFER_TIMEOUT": "2"},
                )
            )
        )
        uris = [
            client.open_document("app.py", SOURCE),
            client.open_document("notes.md", "# notes\n", "markdown"),
        ]
        uris += [
            (workspace / "missing.py").as_uri(),
            workspace.as_uri(),
            "untitled:Untitled-1",
            "",
            "file:///dev/zero",
        ]
        if hasattr(os, "mkfifo"):  # A FIFO must be refused without ever being opened for a blocking read.
            os.mkfifo(workspace / "pipe.py")
            uris.append((workspace / "pipe.py").as_uri())
        session = FuzzSession(loop, client, uris)
        try:
            yield session
        finally:
            total = sum(session.cases.values())
            print(f"\nfuzzed {total} cases: {dict(session.cases)}; outcomes {dict(session.outcomes)}")
            loop.run_until_complete(stack.aclose())
            loop.close()


# -- strategies ----------------------------------------------------------------------------------
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
numbers = st.integers(0, 14) | st.integers(-3, 2**32) | scalars


def sometimes_junk(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `strategy`, sometimes any JSON value in its place."""
    return st.one_of(strategy, strategy, strategy, json_values)


positions = sometimes_junk(st.fixed_dictionaries({"line": numbers, "character": numbers}))
ranges = sometimes_junk(st.fixed_dictionaries({"start": positions, "end": positions}))
tokens = st.none() | st.integers(-5, 2**31) | st.text(min_size=1, max_size=8) | json_values
fixes = st.fixed_dictionaries(
    {"range": ranges, "newText": sometimes_junk(st.text(max_size=20))}, optional={"votes": scalars}
)
chorus_data = st.fixed_dictionaries(
    {},
    optional={
        "fixes": sometimes_junk(st.lists(sometimes_junk(fixes), max_size=3)),
        "panel": scalars,
        "votes": scalars,
    },
)
diagnostics = sometimes_junk(
    st.fixed_dictionaries(
        {"range": ranges, "message": sometimes_junk(st.text(max_size=30))},
        optional={
            "source": st.sampled_from(["chorus", "ruff", "Pyright"]) | scalars,
            "data": chorus_data | json_values,
            "severity": numbers,
            "code": numbers,
        },
    )
)


def document(fuzz_uris: list[str]) -> st.SearchStrategy[Any]:
    uris = st.sampled_from(fuzz_uris) | st.sampled_from(fuzz_uris[:1]) | st.text(max_size=20)
    return sometimes_junk(st.fixed_dictionaries({"uri": uris}))


def params_with(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    return sometimes_junk(st.fixed_dictionaries(required, optional=optional))


# -- properties ------------------------------------------------------------------------------------
@fuzz_settings(500)
@given(data=st.data())
def test_review_selection_params(fuzz: FuzzSession, data: st.DataObject) -> None:
    params = data.draw(
        params_with({"textDocument": document(fuzz.uris), "range": ranges}, {"workDoneToken": tokens})
    )
    fuzz.request("chorus/reviewSelection", "chorus/reviewSelection", params)


@fuzz_settings(400)
@given(data=st.data())
def test_implement_stub_params(fuzz: FuzzSession, data: st.DataObject) -> None:
    params = data.draw(
        params_with({"textDocument": document(fuzz.uris), "position": positions}, {"workDoneToken": tokens})
    )
    fuzz.request("chorus/implementStub", "chorus/implementStub", params)


@fuzz_settings(400)
@given(data=st.data())
def test_explain_diagnostics_params(fuzz: FuzzSession, data: st.DataObject) -> None:
    optional = {"workDoneToken": tokens, "diagnostics": sometimes_junk(st.lists(diagnostics, max_size=3))}
    params = data.draw(params_with({"textDocument": document(fuzz.uris), "range": ranges}, optional))
    fuzz.request("chorus/explainDiagnostics", "chorus/explainDiagnostics", params)


@fuzz_settings(200)
@given(
    params=st.none() | json_values,
    method=st.sampled_from(["chorus/models", "chorus/status", "chorus/unknown"]),
)
def test_other_chorus_methods(fuzz: FuzzSession, params: Any, method: str) -> None:
    fuzz.request(method, method, params)


@fuzz_settings(600)
@given(data=st.data())
def test_code_action_params(fuzz: FuzzSession, data: st.DataObject) -> None:
    context = params_with(
        {"diagnostics": sometimes_junk(st.lists(diagnostics, max_size=3))},
        {
            "only": sometimes_junk(
                st.lists(
                    st.sampled_from(["quickfix", "refactor", "refactor.rewrite", ""]) | st.text(max_size=8),
                    max_size=2,
                )
            )
        },
    )
    params = data.draw(
        params_with({"textDocument": document(fuzz.uris), "range": ranges, "context": context}, {})
    )
    fuzz.request("textDocument/codeAction", "textDocument/codeAction", params)


@fuzz_settings(200)
@given(data=st.data())
def test_hover_params(fuzz: FuzzSession, data: st.DataObject) -> None:
    params = data.draw(params_with({"textDocument": document(fuzz.uris), "position": positions}, {}))
    fuzz.request("textDocument/hover", "textDocument/hover", params)


def command_arguments(fuzz: FuzzSession, command: str) -> st.SearchStrategy[Any]:
    uri = st.sampled_from(fuzz.uris) | scalars
    shapes = {
        "chorus.reviewSelection": st.tuples(uri, ranges),
        "chorus.implementStub": st.tuples(uri, positions),
        "chorus.explainDiagnostics": st.tuples(
            uri, ranges, sometimes_junk(st.lists(diagnostics, max_size=2))
        ),
        "chorus.applyEdit": st.tuples(
            sometimes_junk(
                st.fixed_dictionaries(
                    {"changes": st.dictionaries(uri, st.lists(sometimes_junk(fixes), max_size=2), max_size=2)}
                )
            ),
            scalars,
        ),
    }
    exact = shapes[command].map(list)
    return (
        st.none()
        | exact
        | exact.map(lambda args: args[:-1])
        | exact.map(lambda args: [*args, 1])
        | st.lists(json_values, max_size=4)
    )


@fuzz_settings(800)
@given(
    data=st.data(),
    command=st.sampled_from(
        ["chorus.reviewSelection", "chorus.implementStub", "chorus.explainDiagnostics", "chorus.applyEdit"]
    ),
)
def test_commands(fuzz: FuzzSession, data: st.DataObject, command: str) -> None:
    arguments = data.draw(command_arguments(fuzz, command))
    params = {"command": command} if arguments is None else {"command": command, "arguments": arguments}
    fuzz.request(command, "workspace/executeCommand", params)


def test_the_server_still_answers_normally_after_fuzzing(fuzz: FuzzSession) -> None:
    answer = fuzz.run(fuzz.client.review_selection(fuzz.uris[0], 3, 5))
    assert {m["status"] for m in answer["models"]} == {"ok"}
    assert answer["diagnostics"] and answer["diagnostics"][0]["range"]["start"]["line"] == 4
    actions = fuzz.run(fuzz.client.protocol.send_request_async("chorus/models", {}))
    assert [row["name"] for row in actions["models"]] == ["claude", "codex"]
    total = sum(fuzz.cases.values())
    assert total >= 2000, fuzz.cases
    assert fuzz.outcomes["result"] > 100 and fuzz.outcomes["InvalidParams"] > 100, fuzz.outcomes
