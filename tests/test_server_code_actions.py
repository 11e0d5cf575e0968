"""Code actions, and the executeCommand path each one takes (what LSP4IJ and Cursor users get)."""

from __future__ import annotations

import json
from typing import Any

import anyio
from lsprotocol import types

from tests.fake_models import FakeModelServer
from tests.lsp_client import ChorusLauncher, ChorusTestClient, by_task, finding, review_answer, wait_until

SOURCE = """import sqlite3


def find_user(db, name):
    query = "SELECT * FROM users WHERE name = '%s'" % name
    return db.execute(query).fetchall()


def parse_date(text):
    \"\"\"Parse an ISO date such as 2024-05-01 into (year, month, day).\"\"\"
    raise NotImplementedError
"""
IMPLEMENTATION = (
    "def parse_date(text):\n"
    '    """Parse an ISO date such as 2024-05-01 into (year, month, day)."""\n'
    "    year, month, day = text.split('-')\n"
    "    return int(year), int(month), int(day)\n"
)
PYRIGHT = types.Diagnostic(
    range=types.Range(start=types.Position(line=4, character=4), end=types.Position(line=4, character=9)),
    message='"query" is possibly unbound',
    source="Pyright",
    severity=types.DiagnosticSeverity.Warning,
)


def position(line: int, character: int = 0) -> types.Position:
    return types.Position(line=line, character=character)


async def code_actions(
    client: ChorusTestClient,
    uri: str,
    start: types.Position,
    end: types.Position,
    diagnostics: list[types.Diagnostic] | None = None,
    only: list[str] | None = None,
) -> list[types.CodeAction]:
    result = await client.code_actions_at(uri, types.Range(start=start, end=end), diagnostics or [], only)
    assert result is not None
    assert all(isinstance(action, types.CodeAction) for action in result)
    return [action for action in result if isinstance(action, types.CodeAction)]


async def execute(client: ChorusTestClient, command: types.Command) -> Any:
    """Run a code action's command the way an editor does."""
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    )


async def test_each_feature_is_offered_where_it_applies(chorus: ChorusLauncher) -> None:
    async with chorus() as client:
        uri = client.open_document("app.py", SOURCE)

        selection = await code_actions(client, uri, position(3), position(6))
        assert [a.title for a in selection] == ["Review selection with Chorus"]
        assert selection[0].command is not None and selection[0].command.command == "chorus.reviewSelection"
        assert list(selection[0].command.arguments or []) == [
            uri,
            {"start": {"line": 3, "character": 0}, "end": {"line": 6, "character": 0}},
        ]

        in_stub = await code_actions(client, uri, position(10, 8), position(10, 8))
        assert [a.title for a in in_stub] == ["Implement stub with Chorus"]
        assert in_stub[0].command is not None and in_stub[0].command.command == "chorus.implementStub"
        assert list(in_stub[0].command.arguments or []) == [uri, {"line": 10, "character": 8}]

        outside = await code_actions(client, uri, position(4, 6), position(4, 6))
        assert outside == [], "a bare cursor outside any stub, without diagnostics, gets nothing"

        on_diagnostic = await code_actions(client, uri, position(4, 6), position(4, 6), [PYRIGHT])
        [explain] = on_diagnostic
        assert explain.title == "Explain with Chorus" and explain.kind == types.CodeActionKind.QuickFix
        assert explain.command is not None and explain.command.command == "chorus.explainDiagnostics"
        sent_uri, sent_range, sent_diagnostics = explain.command.arguments or []
        assert sent_uri == uri and sent_range["start"] == {"line": 4, "character": 4}
        assert sent_diagnostics[0]["source"] == "Pyright"

        filtered = await code_actions(client, uri, position(3), position(6), [PYRIGHT], only=["quickfix"])
        assert [a.title for a in filtered] == ["Explain with Chorus"], "the `only` filter is honoured"


async def test_review_command_publishes_and_fix_quick_fixes_follow(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    fix = "    return db.execute('SELECT * FROM users WHERE name = ?', (name,)).fetchall()"
    answer = review_answer(finding(5, "SQL injection: name is formatted into the query", fix=fix, end=6))
    model_server.script("claude", answer)
    model_server.script("codex", answer)
    async with chorus(["claude", "codex"]) as client:
        uri = client.open_document("app.py", SOURCE)
        [review] = await code_actions(client, uri, position(3), position(6))
        assert review.command is not None
        result = await execute(client, review.command)
        assert result["diagnostics"][0]["message"].startswith("[2/2] ")
        [published] = await wait_until(lambda: client.diagnostics.get(uri))
        assert published.source == "chorus"

        actions = await code_actions(client, uri, published.range.start, published.range.start, [published])
        titles = [a.title for a in actions]
        assert titles[0] == "Explain with Chorus"
        [quick_fix] = [a for a in actions if a.title.startswith("Fix (")]
        assert quick_fix.title.startswith("Fix (2/2 models): SQL injection")
        assert quick_fix.is_preferred and list(quick_fix.diagnostics or []) == [published]
        assert quick_fix.edit is not None and quick_fix.edit.changes is not None
        [text_edit] = quick_fix.edit.changes[uri]
        assert text_edit.range.start.line == 4 and "(name,)" in text_edit.new_text


async def test_implement_command_offers_candidates_and_applies_the_chosen_one(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", by_task(implement=json.dumps({"code": IMPLEMENTATION})))
    model_server.script(
        "codex", by_task(implement=json.dumps({"code": IMPLEMENTATION.replace("'-'", '"-"')}))
    )
    model_server.script(
        "gemini", by_task(implement=json.dumps({"code": "def parse_date(text):\n    return (\n"}))
    )
    async with chorus(["claude", "codex", "gemini"]) as client:
        client.pick = lambda actions: actions[-1]
        uri = client.open_document("app.py", SOURCE)
        [implement] = await code_actions(client, uri, position(10, 4), position(10, 4))
        assert implement.command is not None
        result = await execute(client, implement.command)
        candidates = result["candidates"]
        assert candidates[0]["valid"] and candidates[0]["votes"] == 2, (
            "the agreed, valid candidate comes first"
        )
        assert not candidates[-1]["valid"] and candidates[-1]["problems"]
        [offer] = await wait_until(lambda: client.message_requests)
        titles = [action.title for action in offer.actions or []]
        assert titles == [f"{i}. {c['title']}" for i, c in enumerate(candidates, 1)]
        [applied] = await wait_until(lambda: client.applied_edits)
        assert applied.edit.changes is not None
        [text_edit] = applied.edit.changes[uri]
        expected = candidates[-1]["edit"]["changes"][uri][0]
        assert text_edit.new_text == expected["newText"], "the candidate the user picked is applied"
        assert text_edit.range.start.line == 8


async def test_explain_command_shows_the_explanation_and_offers_the_fix(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    explanation = json.dumps(
        {
            "explanation": "Pyright cannot prove `query` is assigned on every path.",
            "fix": {"start_line": 5, "end_line": 5, "replacement": "    query = 'SELECT 1'"},
        }
    )
    model_server.script("claude", by_task(explain=explanation))
    async with chorus(["claude"]) as client:
        uri = client.open_document("app.py", SOURCE)
        [explain] = await code_actions(client, uri, position(4, 6), position(4, 6), [PYRIGHT])
        assert explain.command is not None
        result = await execute(client, explain.command)
        assert "Pyright cannot prove" in result["explanation"]
        assert '"query" is possibly unbound' in model_server.requests_for("claude")[0].prompt
        window = client.capabilities.window if client.capabilities else None
        if window and window.show_document and window.show_document.support:
            [shown] = await wait_until(lambda: client.shown_documents)
            document = anyio.Path(shown.uri.removeprefix("file://"))
            assert "Pyright cannot prove" in await document.read_text(encoding="utf-8")
            assert not (await document.stat()).st_mode & 0o222, "the generated document is read-only"
        else:
            message = await wait_until(lambda: [m for m in client.messages if "Pyright cannot" in m.message])
            assert message[0].type == types.MessageType.Info
        [offer] = await wait_until(lambda: client.message_requests)
        assert (offer.actions or [])[0].title.startswith("1. Fix (1/1 models)")
        [applied] = await wait_until(lambda: client.applied_edits)
        assert applied.edit.changes is not None
        assert applied.edit.changes[uri][0].new_text.startswith("    query = 'SELECT 1'")
