"""Documents closing mid-run, offers nobody answers, private cache files, multi-root privacy globs.

Issue 13 items 10 and 11 (part), issue 12 items 6 (cache files) and the per-folder privacy globs,
each over stdio against `chorus serve`.
"""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from lsprotocol import types

from server.edits import line_edits_between
from server.staleness import EditLog
from tests.fake_models import FakeModelServer, make_config
from tests.lsp_client import (
    ChorusLauncher,
    by_task,
    chorus_session,
    config_options,
    finding,
    review_answer,
    selection_params,
    wait_until,
)

SOURCE = "def total(prices):\n    return sum(prices) + 1\n\n\ndef mean(values):\n    return sum(values)\n"
STUB = """import math


def circle_area(radius):
    # TODO: implement
    pass
"""
GOOD = "def circle_area(radius):\n    return math.pi * radius ** 2\n"


async def test_no_diagnostics_are_published_after_did_close_and_the_result_is_stale(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", review_answer(finding(2, "Off by one: the total adds 1")))
    model_server.script("codex", review_answer(finding(2, "Adds one to the sum")), latency=1.5)
    model_server.script("gemini", review_answer(finding(2, "The + 1 is wrong")), latency=1.5)
    async with chorus(["claude", "codex", "gemini"]) as client:
        uri = client.open_document("prices.py", SOURCE)
        review = asyncio.ensure_future(client.review_selection(uri, 0, 2))
        await wait_until(lambda: [d for d in client.publishes_for(uri) if d])
        before = len(client.publishes_for(uri))
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        result = await review
        assert result["stale"] is True and result["diagnostics"] == []
        assert {m["status"] for m in result["models"]} == {"ok"}, "every seat did answer"
        await anyio.sleep(0.5)
        after = client.publishes_for(uri)[before:]
        assert after == [[]], "only the clearing publish follows the close"


def close(client: Any, uri: str) -> None:
    """Send `didClose` for `uri`."""
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )


async def test_an_implementation_for_a_document_closed_mid_run_is_stale_and_never_offered(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", by_task(implement=json.dumps({"code": GOOD})), latency=1.0)
    async with chorus(["claude"], answer_cache=False) as client:
        uri = client.open_document("shapes.py", STUB)
        params = {"textDocument": {"uri": uri}, "position": {"line": 4, "character": 4}}
        result = await client.request_while_editing(
            model_server, "chorus/implementStub", params, lambda: close(client, uri)
        )
        assert result["stale"] is True and result["candidates"] == []
        assert [m["status"] for m in result["models"]] == ["ok"], "the seat did answer"

        uri = client.open_document("shapes.py", STUB)
        asked = len(model_server.requests)
        command = asyncio.ensure_future(implement_command(client, uri))
        await model_server.wait_for_requests(asked + 1, timeout=30)
        close(client, uri)
        answer = await command
        assert answer["stale"] is True and answer["candidates"] == []
        await wait_until(lambda: [m for m in client.messages if "while the models worked" in m.message])
        await anyio.sleep(0.5)
        assert client.message_requests == [] and client.applied_edits == [], "nothing is offered or applied"
        assert not [d for d in client.publishes_for(uri) if d], "implement publishes no diagnostics"


async def test_an_explanation_for_a_document_closed_mid_run_is_stale_and_offers_no_fix(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    fix = {"start_line": 2, "end_line": 2, "replacement": "    return sum(prices)"}
    explain = json.dumps({"explanation": "It adds one.", "fix": fix})
    model_server.script("claude", by_task(explain=explain), latency=1.0)
    async with chorus(["claude"], answer_cache=False) as client:
        uri = client.open_document("prices.py", SOURCE)
        diagnostic = {"range": selection_params(uri, 1, 2)["range"], "message": "odd", "source": "ruff"}
        params = {**selection_params(uri, 1, 2), "diagnostics": [diagnostic]}
        result = await client.request_while_editing(
            model_server, "chorus/explainDiagnostics", params, lambda: close(client, uri)
        )
        assert result["stale"] is True and result["fixes"] == []
        assert "It adds one." in result["explanation"], "the explanation itself does not go stale"
        assert [m["status"] for m in result["models"]] == ["ok"]

        uri = client.open_document("prices.py", SOURCE)
        asked = len(model_server.requests)
        arguments = [uri, selection_params(uri, 1, 2)["range"], [diagnostic]]
        command = asyncio.ensure_future(
            client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="chorus.explainDiagnostics", arguments=arguments)
            )
        )
        await model_server.wait_for_requests(asked + 1, timeout=30)
        close(client, uri)
        answer = await command
        assert answer["stale"] is True and answer["fixes"] == []
        await anyio.sleep(0.5)
        assert client.message_requests == [] and client.applied_edits == [], "no fix is offered or applied"
        assert not [d for d in client.publishes_for(uri) if d], "explain publishes no diagnostics"


def late_pick(delay: float) -> Any:
    """A `client.pick` that answers the first action after `delay` seconds."""

    async def pick(actions: Sequence[types.MessageActionItem]) -> types.MessageActionItem | None:
        await anyio.sleep(delay)
        return actions[0] if actions else None

    return pick


async def implement_command(client: Any, uri: str) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="chorus.implementStub", arguments=[uri, {"line": 4, "character": 4}]
        )
    )


async def test_an_offer_nobody_answers_is_withdrawn_and_the_server_keeps_serving(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    review = review_answer(finding(6, "The stub is empty"))
    model_server.script("claude", by_task(review=review, implement=json.dumps({"code": GOOD})))
    async with chorus(["claude"], env={"CHORUS_OFFER_TIMEOUT": "1"}) as client:
        client.pick = late_pick(3.0)
        uri = client.open_document("shapes.py", STUB)
        assert (await implement_command(client, uri))["candidates"]
        await wait_until(lambda: client.message_requests)
        client.change_document(uri, 0, 0, "# a comment\n")
        assert (await client.request("chorus/models", {}))["models"][0]["name"] == "claude"
        actions = await client.code_actions_at(
            uri,
            types.Range(start=types.Position(line=5, character=4), end=types.Position(line=5, character=4)),
        )
        assert actions, "code actions still answer while the offer waits"
        await wait_until(lambda: [m for m in client.log_messages if "withdrawn" in m.message], within=5)
        await anyio.sleep(3.0)
        assert client.applied_edits == [], "a choice after the offer was withdrawn applies nothing"

        with anyio.fail_after(10):
            review = await client.review_selection(uri, 1, 7)
        assert review["stale"] is False, "nothing of the withdrawn offer holds the document"
        assert [d["range"]["start"]["line"] for d in review["diagnostics"]] == [5], "the TODO, one line down"

        client.pick = lambda actions: actions[0]
        assert (await implement_command(client, uri))["candidates"]
        [applied] = await wait_until(lambda: client.applied_edits)
        assert applied.edit.changes is not None and applied.edit.changes[uri][0].range.start.line == 4


async def test_an_offer_moves_with_edits_made_while_the_user_decides(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", by_task(implement=json.dumps({"code": GOOD})))
    async with chorus(["claude"]) as client:
        client.pick = late_pick(1.0)
        uri = client.open_document("shapes.py", STUB)
        assert (await implement_command(client, uri))["candidates"]
        await wait_until(lambda: client.message_requests)
        client.change_document(uri, 0, 0, "import os\nimport sys\n")
        [applied] = await wait_until(lambda: client.applied_edits)
        assert applied.edit.changes is not None
        assert applied.edit.changes[uri][0].range.start.line == 5, "moved down by the two inserted lines"

        client.pick = late_pick(1.0)
        other = client.open_document("other.py", STUB)
        assert (await implement_command(client, other))["candidates"]
        await wait_until(lambda: len(client.message_requests) == 2)
        client.change_document(other, 4, 5, "    # TODO: implement it well\n")
        refused = await wait_until(lambda: [m for m in client.messages if "edited meanwhile" in m.message])
        assert refused[0].type == types.MessageType.Warning
        await anyio.sleep(0.3)
        assert len(client.applied_edits) == 1, "an edit whose lines were edited is not applied"


def test_text_differences_become_the_line_edits_an_edit_log_would_hold() -> None:
    before = "a\nb\nc\nd\n"
    log = EditLog("file:///x", line_edits_between(before, "new\na\nb\nc\nd\n"))
    assert log.delta_for(1, 2) == 1
    log = EditLog("file:///x", line_edits_between(before, "a\nB\nc\nd\n"))
    assert log.delta_for(1, 1) is None and log.delta_for(2, 3) == 0 and log.delta_for(0, 0) == 0
    log = EditLog("file:///x", line_edits_between(before, "a\nd\n"))
    assert log.delta_for(3, 3) == -2 and log.delta_for(1, 2) is None
    log = EditLog("file:///x", line_edits_between(before, "x\nb\nc\ny\nz\n"))
    assert log.delta_for(1, 2) == 0 and log.delta_for(0, 0) is None and log.delta_for(3, 3) is None


async def test_explanation_files_are_private_to_their_owner(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", by_task(explain=json.dumps({"explanation": "It adds one.", "fix": None})))
    async with chorus(["claude"]) as client:
        window = client.capabilities.window if client.capabilities else None
        if not (window and window.show_document and window.show_document.support):
            return  # This editor gets the explanation as a message: no file is written.
        uri = client.open_document("prices.py", SOURCE)
        diagnostic = {"range": selection_params(uri, 1, 2)["range"], "message": "odd", "source": "ruff"}
        arguments = [uri, selection_params(uri, 1, 2)["range"], [diagnostic]]
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="chorus.explainDiagnostics", arguments=arguments)
        )
        [shown] = await wait_until(lambda: client.shown_documents)
        path = Path(shown.uri.removeprefix("file://"))
        text, mode, folder_mode = await anyio.to_thread.run_sync(
            lambda: (path.read_text(encoding="utf-8"), path.stat().st_mode, path.parent.stat().st_mode)
        )
        assert "It adds one." in text
        assert stat.S_IMODE(mode) & 0o077 == 0 and stat.S_IMODE(mode) & stat.S_IRUSR, oct(mode)
        assert stat.S_IMODE(folder_mode) == 0o700, oct(folder_mode)
        names = await anyio.to_thread.run_sync(lambda: [p.name for p in path.parent.iterdir()])
        assert names == [path.name], "no temporary file is left"


async def test_privacy_globs_match_per_workspace_folder(
    profile: str, tmp_path: Path, model_server: FakeModelServer
) -> None:
    model_server.script("claude", review_answer())
    alpha, beta = tmp_path / "alpha", tmp_path / "beta"
    for folder in (alpha / "generated", beta / "generated", beta / "src"):
        folder.mkdir(parents=True)
    config = make_config(model_server, ["claude"], policy={"exclude": ["generated/**"]})
    async with chorus_session(
        profile, alpha, init_options=config_options(config), folders=[alpha, beta]
    ) as client:
        documents = {}
        for path in (alpha / "generated" / "a.py", beta / "generated" / "b.py", beta / "src" / "c.py"):
            path.write_text(SOURCE, encoding="utf-8")
            documents[path] = path.as_uri()
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=path.as_uri(), language_id="python", version=1, text=SOURCE
                    )
                )
            )
        for path in (alpha / "generated" / "a.py", beta / "generated" / "b.py"):
            try:
                await client.review_selection(documents[path], 0, 2)
            except Exception as error:
                assert "generated/**" in str(error), error
            else:
                raise AssertionError(f"{path} should be excluded by its own folder's glob")
        assert model_server.requests == [], "no excluded file reached a model"
        answer = await client.review_selection(documents[beta / "src" / "c.py"], 0, 2)
        assert answer["models"][0]["status"] == "ok"
        assert len(model_server.requests) == 1
