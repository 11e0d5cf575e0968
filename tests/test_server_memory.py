"""The server's memory (issue 15): one store per configuration, runs recorded, stats and history read
off the loop, the stats code action for LSP4IJ, a store that is off or failing, malformed params.

Every test runs as both editors (the `chorus` fixture) against the fake models; the store is the
default one in the test's own user data dir (`XDG_DATA_HOME`, set per test by conftest.py) unless
a test names another.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.fake_models import FakeModelServer, make_config
from tests.lsp_client import (
    ChorusLauncher,
    ChorusTestClient,
    config_options,
    finding,
    review_answer,
    wait_until,
)
from tests.test_fuzz_lsp import (  # The module-scoped `fuzz` session is shared by name.
    FuzzSession,
    fuzz,  # noqa: F401
    fuzz_settings,
    json_values,
    sometimes_junk,
)
from tests.test_server_errors import send_raw_request

SOURCE = "def average(values):\n    return sum(values) / len(values) + 1\n"
SEATS = ["claude", "codex"]
STATS_TITLE = "Chorus: show model stats"
UNAVAILABLE = "memory is unavailable"
AUTOMATIC = types.CodeActionTriggerKind.Automatic


def options(model_server: FakeModelServer, store: dict[str, Any]) -> dict[str, Any]:
    """initializationOptions with the seats on the fake models and this `[store]`."""
    return {**config_options(make_config(model_server, SEATS)), "store": store}


def script_panel(model_server: FakeModelServer) -> None:
    for seat in SEATS:
        model_server.script(seat, review_answer(finding(2, "Off-by-one: the mean gets 1 added")))


async def review(client: ChorusTestClient) -> tuple[str, Any]:
    uri = client.open_document("mean.py", SOURCE)
    return uri, await client.review_selection(uri, 0, 2)


def stats_action(actions: list[types.Command | types.CodeAction] | None) -> list[types.CodeAction]:
    """The "Chorus: show model stats" code actions among `actions`."""
    return [a for a in actions or [] if isinstance(a, types.CodeAction) and a.title == STATS_TITLE]


async def test_runs_are_recorded_in_the_configured_store_and_history_lists_them(
    chorus: ChorusLauncher, model_server: FakeModelServer, tmp_path: Path
) -> None:
    script_panel(model_server)
    database = tmp_path / "memory" / "chorus.db"
    async with chorus(init_options=options(model_server, {"path": str(database)})) as client:
        uri, answer = await review(client)
        assert answer["diagnostics"][0]["data"]["findingId"]
        history = await client.request("chorus/history", None)
        assert history["available"] and len(history["runs"]) == 1
        [run] = history["runs"]
        where = (run["task"], run["path"], run["start_line"], run["end_line"])
        assert where == ("review", "mean.py", 1, 2), run  # The path is relative to the workspace.
        assert run["workspace"] and uri.endswith(run["workspace"].rstrip("/") + "/mean.py"), run
        assert sorted(run["seats"]) == SEATS and run["outcome"] == "ok"
        assert "# Chorus: recent runs" in history["markdown"] and run["run_id"] in history["markdown"]

        stats = await client.request("chorus/stats", {})
        assert stats["available"], stats
        assert {row["model"] for row in stats["models"]} == {"openai/claude", "openai/codex"}
        assert [(row["task"], row["runs"]) for row in stats["tasks"]] == [("review", 1)]
        assert "| `openai/claude` |" in stats["markdown"] and "Fixes accepted" in stats["markdown"]
    with sqlite3.connect(database) as connection:  # Shut down: everything queued was written.
        assert connection.execute("select count(*) from runs").fetchone() == (1,)


async def test_the_stats_code_action_shows_the_table_as_a_document(
    chorus: ChorusLauncher, model_server: FakeModelServer, profile: str
) -> None:
    script_panel(model_server)
    async with chorus(SEATS) as client:
        uri, _answer = await review(client)
        start = types.Position(line=0, character=0)
        cursor = types.Range(start=start, end=start)
        assert stats_action(await client.code_actions_at(uri, cursor)) == [], "explicit requests stay put"
        quick_fixes = await client.code_actions_at(uri, cursor, only=["quickfix"])
        assert stats_action(quick_fixes) == []

        params = types.CodeActionParams(  # What LSP4IJ sends for its intentions (Alt+Enter anywhere).
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=cursor,
            context=types.CodeActionContext(diagnostics=[], trigger_kind=AUTOMATIC),
        )
        [action] = stats_action(list(await client.text_document_code_action_async(params) or []))
        assert action.kind == types.CodeActionKind.Source and action.command is not None
        assert action.command.command == "chorus.stats"
        assert stats_action(await client.code_actions_at(uri, cursor, only=["source"]))

        reply = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=action.command.command, arguments=action.command.arguments)
        )
        assert reply["available"] and reply["models"]
        if profile == "visual-studio-code":  # It can show documents: the table opens as a markdown file.
            [shown] = await wait_until(lambda: client.shown_documents)
            page = Path(shown.uri.removeprefix("file://"))
            mode, text = await anyio.to_thread.run_sync(
                lambda: (page.stat().st_mode, page.read_text("utf-8"))
            )
            assert page.suffix == ".md" and mode & 0o777 == 0o400
            assert "| `openai/codex` |" in text
        else:  # Neovim 0.7 cannot: a message carries it.
            shown_as = await wait_until(lambda: [m for m in client.messages if "model stats" in m.message])
            assert "| `openai/codex` |" in shown_as[0].message


async def test_with_the_store_off_reviews_work_and_a_dismissal_lasts_the_session(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    script_panel(model_server)
    async with chorus(init_options=options(model_server, {"enabled": False})) as client:
        uri, answer = await review(client)
        [diagnostic] = answer["diagnostics"]
        found = diagnostic["data"]["findingId"]
        assert found is None or isinstance(found, str)
        stats = await client.request("chorus/stats", {"since": "7d"})
        assert not stats["available"] and stats["models"] == [] and "memory is off" in stats["markdown"]
        history = await client.request("chorus/history", {"limit": 3})
        assert history == {"runs": [], "available": False, "markdown": history["markdown"]}
        if found is not None:
            reply = await client.request("chorus/feedback", {"findingId": found, "verdict": "dismiss"})
            assert not reply["recorded"] and reply["hidden"] == 1 and "enabled = false" in reply["reason"]
            assert client.diagnostics[uri] == []
        assert not [m for m in client.messages if UNAVAILABLE in m.message]


async def test_a_failing_store_warns_once_and_reviews_go_on(
    chorus: ChorusLauncher, model_server: FakeModelServer, tmp_path: Path
) -> None:
    script_panel(model_server)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be\n", encoding="utf-8")
    async with chorus(init_options=options(model_server, {"path": str(blocker / "chorus.db")})) as client:
        for _ in range(2):
            _uri, answer = await review(client)
            assert [m["status"] for m in answer["models"]] == ["ok", "ok"]
            assert answer["diagnostics"] and answer["diagnostics"][0]["message"].startswith("[2/2]")
        stats = await client.request("chorus/stats", {})
        assert not stats["available"]
        warnings = await wait_until(lambda: [m for m in client.messages if UNAVAILABLE in m.message])
        assert len(warnings) == 1 and warnings[0].type == types.MessageType.Warning


MALFORMED = [
    ("chorus/feedback", None, "invalid params for chorus/feedback"),
    ("chorus/feedback", {}, "required field missing @ params.finding_id"),
    ("chorus/feedback", {"findingId": 5, "verdict": "dismiss"}, "finding_id must be a finding id"),
    ("chorus/feedback", {"findingId": "0123456789abcdef", "verdict": "meh"}, "verdict"),
    ("chorus/feedback", {"findingId": "not hex!", "verdict": "useful"}, "finding id"),
    ("chorus/feedback", {"findingId": "0123456789abcdef", "verdict": None}, "verdict"),
    ("chorus/stats", {"since": "soon"}, "since"),
    ("chorus/stats", {"since": -5}, "since"),
    ("chorus/stats", {"since": True}, "since"),
    ("chorus/stats", {"task": "deploy"}, "task"),
    ("chorus/history", {"limit": 0}, "limit"),
    ("chorus/history", {"limit": "5"}, "limit"),
    ("chorus/history", {"limit": 10**9}, "limit"),
]


BAD_COMMANDS = [
    ("chorus.dismissFinding", [], "takes [findingId, uri?]"),
    ("chorus.dismissFinding", [5], "argument 1 (findingId)"),
    ("chorus.markUseful", ["zz"], "no finding id"),
    ("chorus.acceptFix", ["0123456789abcdef", 7], "argument 2 (uri)"),
    ("chorus.stats", ["later"], "since"),
    ("chorus.stats", [None, "deploy"], "task"),
    ("chorus.stats", [1, "review", 3], "takes [since?, task?]"),
    ("chorus.history", [-1], "limit"),
    ("chorus.history", [{"limit": 3}], "limit"),
]


REQUEST_IDS = itertools.count()


async def expect_invalid_params(client: ChorusTestClient, method: str, params: Any, named: str) -> None:
    """The request is refused with one clean InvalidParams line that names the problem."""
    with pytest.raises(JsonRpcException) as raised:
        await send_raw_request(client, method, params, f"bad-{next(REQUEST_IDS)}")
    assert raised.value.code == -32602, (params, raised.value)
    assert named in raised.value.message and "\n" not in raised.value.message, raised.value.message
    assert "Traceback" not in f"{raised.value.message} {raised.value.data!r}"


async def test_malformed_params_get_one_line_invalid_params(chorus: ChorusLauncher) -> None:
    async with chorus(SEATS) as client:
        for method, params, named in MALFORMED:
            await expect_invalid_params(client, method, params, named)
        for command, arguments, named in BAD_COMMANDS:
            params = {"command": command, "arguments": arguments}
            await expect_invalid_params(client, "workspace/executeCommand", params, named)
        assert (await client.request("chorus/history", {"limit": 1}))["available"], "the server still answers"


# -- fuzzing the memory's requests and commands (the session and checks of tests/test_fuzz_lsp.py) --
finding_ids = st.sampled_from(["0123456789abcdef", "ffffffff", ""]) | st.text(max_size=40) | json_values
memory_params = {
    "chorus/feedback": st.fixed_dictionaries(
        {"findingId": finding_ids, "verdict": st.sampled_from(["accept", "dismiss", "useful"]) | json_values}
    ),
    "chorus/stats": st.fixed_dictionaries(
        {},
        optional={
            "since": st.sampled_from(["30d", "12h", "1.5w", "0s", "-1d"]) | st.floats() | json_values,
            "task": st.sampled_from(["review", "implement", "explain"]) | json_values,
        },
    ),
    "chorus/history": st.fixed_dictionaries({}, optional={"limit": st.integers(-5, 2000) | json_values}),
}
memory_arguments = {
    "chorus.dismissFinding": st.lists(finding_ids, max_size=3),
    "chorus.markUseful": st.lists(finding_ids, max_size=3),
    "chorus.acceptFix": st.lists(finding_ids, max_size=3),
    "chorus.stats": st.lists(st.sampled_from(["7d", "review", None]) | json_values, max_size=3),
    "chorus.history": st.lists(st.integers(-2, 3000) | json_values, max_size=2),
}


@fuzz_settings(300)
@given(data=st.data(), method=st.sampled_from(sorted(memory_params)))
def test_fuzzed_memory_requests_get_results_or_clean_errors(
    fuzz: FuzzSession,  # noqa: F811 - the fixture imported above
    data: st.DataObject,
    method: str,
) -> None:
    params = data.draw(sometimes_junk(memory_params[method]) | st.none())
    fuzz.request(method, method, params)


@fuzz_settings(300)
@given(data=st.data(), command=st.sampled_from(sorted(memory_arguments)))
def test_fuzzed_memory_commands_get_results_or_clean_errors(
    fuzz: FuzzSession,  # noqa: F811 - the fixture imported above
    data: st.DataObject,
    command: str,
) -> None:
    arguments = data.draw(memory_arguments[command])
    fuzz.request(command, "workspace/executeCommand", {"command": command, "arguments": arguments})


def test_the_server_still_reviews_after_the_memory_fuzzing(fuzz: FuzzSession) -> None:  # noqa: F811
    answer = fuzz.run(fuzz.client.review_selection(fuzz.uris[0], 3, 5))
    assert {m["status"] for m in answer["models"]} == {"ok"}
    assert fuzz.outcomes["result"] > 50 and fuzz.outcomes["InvalidParams"] > 50, fuzz.outcomes
    assert set(fuzz.outcomes) <= {"result", "InvalidParams"}, fuzz.outcomes
