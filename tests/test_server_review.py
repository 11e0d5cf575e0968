"""`chorus/reviewSelection` against the fake model server: results, progressive publishing, staleness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
from lsprotocol import types

from tests.fake_models import FakeModelServer
from tests.lsp_client import (
    ChorusLauncher,
    ChorusTestClient,
    finding,
    review_answer,
    selection_params,
    wait_until,
)

SOURCE = """import sqlite3


def find_user(db, name):
    query = "SELECT * FROM users WHERE name = '%s'" % name
    return db.execute(query).fetchall()


def count_users(db):
    rows = db.execute("SELECT * FROM users").fetchall()
    return len(rows) + 1
"""
INJECTION = finding(5, "SQL injection: name is formatted into the query", fix="    query = 'SELECT 1'")
OFF_BY_ONE = finding(11, "Off by one: the count is one too high", fix="    return len(rows)")


def chorus_lines(diagnostics: list[types.Diagnostic]) -> list[int]:
    return sorted(d.range.start.line for d in diagnostics if d.source == "chorus")


@asynccontextmanager
async def review_edited_meanwhile(
    chorus: ChorusLauncher, model_server: FakeModelServer, start: int, end: int, text: str
) -> AsyncIterator[tuple[ChorusTestClient, str, Any]]:
    """Review lines 4-6 with one slow seat and replace lines `start..end-1` while it thinks.

    Yields the session's client, the document's URI and the review's answer.
    """
    model_server.script("claude", review_answer(INJECTION), latency=1.5)
    async with chorus(["claude"]) as client:
        uri = client.open_document("app.py", SOURCE)
        result = await client.request_while_editing(
            model_server,
            "chorus/reviewSelection",
            selection_params(uri, 3, 6),
            lambda: client.change_document(uri, start, end, text),
        )
        yield client, uri, result


async def hover_at(client: ChorusTestClient, uri: str, line: int, character: int) -> types.Hover | None:
    """What the editor shows when the pointer rests at (line, character), 0-based."""
    position = types.Position(line=line, character=character)
    params = types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=position)
    return await client.text_document_hover_async(params)


async def test_review_returns_merged_diagnostics_and_publishes_them(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", review_answer(INJECTION))
    model_server.script("codex", review_answer(finding(5, "SQL injection via string formatting")))
    model_server.script("gemini", review_answer())
    async with chorus(["claude", "codex", "gemini"]) as client:
        uri = client.open_document("app.py", SOURCE)
        answer = await client.review_selection(uri, 3, 6)
        [diagnostic] = answer["diagnostics"]
        assert diagnostic["message"].startswith("[2/3] ")
        assert "injection" in diagnostic["message"].lower()
        assert (
            diagnostic["source"] == "chorus" and diagnostic["code"] == "bug" and diagnostic["severity"] == 1
        )
        assert diagnostic["range"]["start"]["line"] == 4
        assert sorted(diagnostic["data"]["models"]) == ["claude", "codex"]
        assert diagnostic["data"]["fixes"][0]["newText"].startswith("    query = 'SELECT 1'")
        related = diagnostic["relatedInformation"]
        assert {item["location"]["uri"] for item in related} == {uri}
        assert sorted(item["message"].split(":")[0] for item in related) == ["claude", "codex"]
        assert [(m["name"], m["status"]) for m in answer["models"]] == [
            ("claude", "ok"),
            ("codex", "ok"),
            ("gemini", "ok"),
        ]
        published = await wait_until(lambda: client.diagnostics.get(uri))
        assert [d.message for d in published] == [diagnostic["message"]]
        assert "name = '%s'" in model_server.requests_for("claude")[0].prompt, "the model saw the selection"


async def test_publishes_before_the_slowest_model_answers(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", review_answer(INJECTION))
    model_server.script("codex", review_answer(INJECTION), latency=0.5)
    model_server.script("gemini", review_answer(INJECTION), latency=2.5)
    async with chorus(["claude", "codex", "gemini"]) as client:
        uri = client.open_document("app.py", SOURCE)
        answer = await client.review_selection(uri, 3, 6)
        gemini = model_server.requests_for("gemini")[0]
        gemini_done = await wait_until(lambda: gemini.finished_at)  # set just after the answer is sent
        assert gemini_done is not None
        publishes = [
            (when, diagnostics) for when, published, diagnostics in client.publishes if published == uri
        ]
        assert len(publishes) >= 3, "one publish per answer, then the final merge"
        first_when, first = publishes[0]
        assert first_when < gemini_done, "the fast model's findings arrive before the slowest model answers"
        assert first[0].message.startswith("[1/1] ")
        assert publishes[-1][1][0].message.startswith("[3/3] ")
        assert answer["diagnostics"][0]["message"].startswith("[3/3] ")


async def test_a_new_review_replaces_diagnostics_only_inside_its_range(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", [review_answer(INJECTION), review_answer(OFF_BY_ONE), review_answer()])
    async with chorus(["claude"], answer_cache=False) as client:  # The model answers lines 3-6 anew.
        uri = client.open_document("app.py", SOURCE)
        await client.review_selection(uri, 3, 6)
        await client.review_selection(uri, 8, 11)
        assert chorus_lines(client.diagnostics[uri]) == [4, 10]
        await client.review_selection(uri, 3, 6)
        assert chorus_lines(client.diagnostics[uri]) == [10], (
            "lines 4-6 are clean now; line 11 keeps its finding"
        )


async def test_results_move_with_edits_above_the_reviewed_lines(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    edit_above = (1, 1, "import os\nimport re\n")
    async with review_edited_meanwhile(chorus, model_server, *edit_above) as (client, uri, result):
        [diagnostic] = result["diagnostics"]
        assert diagnostic["range"]["start"]["line"] == 6, "two lines were inserted above line 5"
        assert diagnostic["data"]["fixes"][0]["range"]["start"]["line"] == 6
        assert chorus_lines(client.diagnostics[uri]) == [6]


async def test_results_are_dropped_when_the_reviewed_lines_were_edited(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    edit_inside = (4, 5, "    query = 'SELECT * FROM users WHERE name = ?'\n")
    async with review_edited_meanwhile(chorus, model_server, *edit_inside) as (client, uri, result):
        assert result["stale"] is True
        assert result["diagnostics"] == []
        assert not chorus_lines(client.diagnostics.get(uri, [])), "nothing stale was published"


async def test_published_diagnostics_follow_later_edits(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", review_answer(INJECTION, OFF_BY_ONE))
    async with chorus(["claude"]) as client:
        uri = client.open_document("app.py", SOURCE)
        await client.review_selection(uri, 0, 11)
        assert chorus_lines(client.diagnostics[uri]) == [4, 10]
        client.change_document(uri, 0, 0, "# Users.\n")
        [original] = [d for d in client.diagnostics[uri] if d.range.start.line == 4]
        shifted = types.Range(
            start=types.Position(line=5, character=original.range.start.character),
            end=types.Position(line=5, character=original.range.end.character),
        )
        moved = [attrs.evolve(original, range=shifted)]  # Where the editor shows it after the edit.
        actions = await client.code_actions_at(uri, moved[0].range, moved)
        [quick_fix] = [
            a for a in actions or [] if isinstance(a, types.CodeAction) and a.title.startswith("Fix")
        ]
        assert quick_fix.edit is not None and quick_fix.edit.changes is not None
        assert quick_fix.edit.changes[uri][0].range.start.line == 5, "the stored fix moved with the edit"
        count = len(client.publishes_for(uri))
        client.change_document(uri, 11, 12, "    return len(rows)\n")
        await wait_until(lambda: len(client.publishes_for(uri)) > count)
        assert chorus_lines(client.diagnostics[uri]) == [5], "editing line 12 removed its diagnostic"


async def test_hover_shows_each_models_words(chorus: ChorusLauncher, model_server: FakeModelServer) -> None:
    model_server.script("claude", review_answer(INJECTION))
    model_server.script("codex", review_answer(finding(5, "SQL injection via string formatting")))
    async with chorus(["claude", "codex"]) as client:
        uri = client.open_document("app.py", SOURCE)
        await client.review_selection(uri, 3, 6)
        hover = await hover_at(client, uri, 4, 8)
        assert hover is not None and isinstance(hover.contents, types.MarkupContent)
        assert "\\[2/2\\]" in hover.contents.value  # escaped: model text never becomes markup
        assert "claude: SQL injection: name is formatted into the query" in hover.contents.value
        assert "codex: SQL injection via string formatting" in hover.contents.value
        nothing = await hover_at(client, uri, 0, 0)
        assert nothing is None
