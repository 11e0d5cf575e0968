"""The user's verdict on findings through the real server: dismiss, mark useful, accept a fix (issue 15).

Every test runs as both editors (the `chorus` fixture) against the fake models, with the memory's
default store in the test's own user data dir (`XDG_DATA_HOME`, set per test by conftest.py), so a
second session in the same test reads the same store: that is the restart.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from lsprotocol import types

from tests.cli_runner import run_chorus
from tests.fake_models import FakeModelServer
from tests.lsp4ij_client import Editor, start_editor
from tests.lsp_client import ChorusLauncher, ChorusTestClient, finding, review_answer, wait_until

SOURCE = """import sqlite3


def find_user(db, name):
    query = "SELECT * FROM users WHERE name = '%s'" % name
    return db.execute(query).fetchall()


def average(values):
    return sum(values) / len(values) + 1
"""
SQL_LINE, MEAN_LINE = 5, 10
"""1-based lines of the two planted bugs."""
SQL_FIX = "    return db.execute('SELECT * FROM users WHERE name = ?', (name,)).fetchall()"
SEATS = ["claude", "codex"]
FINDING_ID = re.compile(r"[0-9a-f]{8,32}")


def script_panel(model_server: FakeModelServer) -> None:
    """Both seats find the SQL injection (with a fix) and the off-by-one."""
    answer = review_answer(
        finding(SQL_LINE, "SQL injection: name is formatted into the query", fix=SQL_FIX, end=SQL_LINE + 1),
        finding(MEAN_LINE, "Off-by-one: the mean gets 1 added", fix="    return sum(values) / len(values)"),
    )
    for seat in SEATS:
        model_server.script(seat, answer)


def on_line(diagnostics: Sequence[types.Diagnostic], line: int) -> list[types.Diagnostic]:
    """The Chorus diagnostics starting on a 1-based line."""
    return [d for d in diagnostics if d.source == "chorus" and d.range.start.line == line - 1]


def finding_id(diagnostic: types.Diagnostic) -> str:
    data: Any = diagnostic.data
    assert isinstance(data, dict), data
    found = data.get("findingId")
    assert isinstance(found, str) and FINDING_ID.fullmatch(found), data
    return found


async def review_all(client: ChorusTestClient, uri: str, text: str = SOURCE) -> list[types.Diagnostic]:
    """Review the whole document (`text`); the diagnostics published for it afterwards."""
    answer = await client.review_selection(uri, 0, len(text.splitlines()))
    assert {m["status"] for m in answer["models"]} == {"ok"}, answer["models"]
    return list(client.diagnostics.get(uri, []))


async def actions_on(
    client: ChorusTestClient, uri: str, diagnostic: types.Diagnostic
) -> list[types.CodeAction]:
    """The code actions an editor gets on a diagnostic."""
    found = await client.code_actions_at(uri, diagnostic.range, [diagnostic])
    return [action for action in found or [] if isinstance(action, types.CodeAction)]


async def execute(client: ChorusTestClient, command: types.Command | None) -> Any:
    """Run a code action's command the way an editor does."""
    assert command is not None
    params = types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    return await client.workspace_execute_command_async(params)


async def model_rows(client: ChorusTestClient, **params: Any) -> dict[str, dict[str, Any]]:
    """`chorus/stats`, per model id."""
    reply = await client.request("chorus/stats", params)
    assert reply["available"], reply
    return {row["model"]: row for row in reply["models"]}


async def test_review_accept_one_fix_dismiss_another_then_the_cli_restart_and_changed_code(
    chorus: ChorusLauncher, model_server: FakeModelServer, tmp_path: Path
) -> None:
    """Issue 15's whole flow: the server records the review, the accepted fix and the dismissal; the
    command line reads exactly those from the same store; a new server still hides the dismissed
    finding on the same code and shows it again once that code changes."""
    script_panel(model_server)
    async with chorus(SEATS) as client:
        uri = client.open_document("app.py", SOURCE)
        published = await review_all(client, uri)
        [sql], [mean] = on_line(published, SQL_LINE), on_line(published, MEAN_LINE)
        assert finding_id(sql) != finding_id(mean)

        fix = next(a for a in await actions_on(client, uri, sql) if a.title.startswith("Fix ("))
        assert fix.edit is not None and fix.edit.changes is not None
        [edit] = fix.edit.changes[uri]  # What an editor does: apply the edit, then run the command.
        client.change_document(uri, edit.range.start.line, edit.range.end.line, edit.new_text)
        assert (await execute(client, fix.command))["verdict"] == "accept"
        lines = SOURCE.splitlines(keepends=True)
        start, end = edit.range.start.line, edit.range.end.line
        fixed = "".join(lines[:start]) + edit.new_text + "".join(lines[end:])

        actions = await actions_on(client, uri, mean)
        titles = [action.title for action in actions]
        assert "Dismiss: not a problem" in titles and "Mark as useful" in titles, titles
        dismiss = next(a for a in actions if a.title == "Dismiss: not a problem")
        assert dismiss.kind == types.CodeActionKind.QuickFix and dismiss.command is not None
        assert dismiss.command.command == "chorus.dismissFinding"
        assert list(dismiss.command.arguments or []) == [finding_id(mean), uri]
        assert list(dismiss.diagnostics or []) == [mean]

        reply = await execute(client, dismiss.command)
        assert reply["recorded"] and reply["suppressed"] and reply["hidden"] == 1, reply
        remaining = client.diagnostics[uri]  # Published before the reply: gone at once.
        assert on_line(remaining, MEAN_LINE) == []

        rows = await model_rows(client)
        assert set(rows) == {"openai/claude", "openai/codex"}, rows
        for row in rows.values():
            assert (row["calls"], row["merged"], row["dismissed"], row["accepted"]) == (1, 2, 1, 1), row
            assert row["dismissal_rate"] == row["acceptance_rate"] == 0.5

    cli_stats = await cli_json(tmp_path, "stats", "--json")
    for row in cli_stats["models"]:
        assert (row["calls"], row["merged"], row["dismissed"], row["accepted"]) == (1, 2, 1, 1), row
    [run] = (await cli_json(tmp_path, "history", "--json"))["runs"]
    assert (run["task"], run["outcome"]) == ("review", "ok") and run["path"].endswith("app.py")
    shown = await cli_json(tmp_path, "show", run["run_id"], "--json")
    verdicts = {(event["finding_id"], event["verdict"]) for event in shown["feedback"]}
    assert verdicts == {(finding_id(sql), "accept"), (finding_id(mean), "dismiss")}

    mean_line = MEAN_LINE - (len(SOURCE.splitlines()) - len(fixed.splitlines()))  # Moved up by the fix.
    for seat in SEATS:
        model_server.script(seat, review_answer(finding(mean_line, "Off-by-one: the mean gets 1 added")))
    async with chorus(SEATS) as client:  # A new server on the same store, the fixed file.
        uri = client.open_document("app.py", fixed)
        published = await review_all(client, uri, fixed)
        assert on_line(published, mean_line) == [], "the dismissed finding stays hidden on the same code"

        client.change_document(uri, mean_line - 2, mean_line - 1, "def mean_plus_one(values):\n")
        published = await review_all(client, uri, fixed)
        assert len(on_line(published, mean_line)) == 1, "changed code: the finding is back"

        history = await client.request("chorus/history", {"limit": 5})
        assert [run["task"] for run in history["runs"]] == ["review"] * 3


async def cli_json(cwd: Path, *args: str) -> dict[str, Any]:
    """`chorus ARGS` (the command line, reading the store of this test's user data dir) as JSON."""
    done = await anyio.to_thread.run_sync(functools.partial(run_chorus, *args, cwd=cwd))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert isinstance(answer, dict)
    return answer


async def test_applying_a_fix_records_it_as_accepted(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    script_panel(model_server)
    async with chorus(SEATS) as client:
        uri = client.open_document("app.py", SOURCE)
        [sql] = on_line(await review_all(client, uri), SQL_LINE)
        actions = await actions_on(client, uri, sql)
        fix = next(a for a in actions if a.title.startswith("Fix ("))
        assert fix.edit is not None and fix.edit.changes is not None
        assert fix.command is not None and fix.command.command == "chorus.acceptFix"
        assert list(fix.command.arguments or []) == [finding_id(sql), uri]

        [edit] = fix.edit.changes[uri]  # What an editor does: apply the edit, then run the command.
        client.change_document(uri, edit.range.start.line, edit.range.end.line, edit.new_text)
        reply = await execute(client, fix.command)
        assert reply == {
            "findingId": finding_id(sql),
            "verdict": "accept",
            "recorded": True,
            "suppressed": False,
            "reason": None,
            "hidden": 0,
        }
        await wait_until(lambda: on_line(client.diagnostics.get(uri, []), SQL_LINE) == [])
        kept = [d for d in client.diagnostics[uri] if "Off-by-one" in d.message]
        assert len(kept) == 1, "accepting one fix keeps the other finding"

        rows = await model_rows(client, since="1h", task="review")
        for row in rows.values():
            assert (row["accepted"], row["dismissed"], row["acceptance_rate"]) == (1, 0, 0.5), row
        assert (await model_rows(client, task="implement")) == {}


async def test_feedback_request_marks_useful_and_the_diagnostic_stays(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    script_panel(model_server)
    async with chorus(SEATS) as client:
        uri = client.open_document("app.py", SOURCE)
        [mean] = on_line(await review_all(client, uri), MEAN_LINE)
        reply = await client.request("chorus/feedback", {"findingId": finding_id(mean), "verdict": "useful"})
        assert reply["recorded"] and reply["hidden"] == 0
        assert len(on_line(client.diagnostics[uri], MEAN_LINE)) == 1
        rows = await model_rows(client)
        assert all(row["useful"] == 1 and row["dismissed"] == 0 for row in rows.values()), rows

        useful = next(a for a in await actions_on(client, uri, mean) if a.title == "Mark as useful")
        await execute(client, useful.command)
        noted = await wait_until(lambda: [m for m in client.messages if "useful" in m.message])
        assert noted[0].type == types.MessageType.Info


async def test_lsp4ij_reaches_dismiss_and_stats_through_code_actions(
    model_server: FakeModelServer, tmp_path: Path
) -> None:
    """The JetBrains way (tests/lsp4ij_client.py): quick fixes asked with `only: [quickfix]` on the
    diagnostic, intentions asked automatically anywhere, everything run with executeCommand."""
    script_panel(model_server)
    editor = await start_editor(model_server, tmp_path, SEATS)
    try:
        uri = editor.open(tmp_path / "app.py", SOURCE)
        whole = types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=10, character=0)
        )
        review = next(
            a for a in await editor.code_actions(uri, whole) if a.title == "Review selection with Chorus"
        )
        await editor.execute(review.command)
        [mean] = await wait_until(lambda: on_line(editor.diagnostics(uri), MEAN_LINE))

        quick_fixes = await intention_or_fix(editor, uri, mean.range, [mean], only=["quickfix"])
        assert {"Dismiss: not a problem", "Mark as useful"} <= {a.title for a in quick_fixes}
        dismiss = next(a for a in quick_fixes if a.title == "Dismiss: not a problem")
        assert (await editor.execute(dismiss.command))["hidden"] == 1
        assert on_line(editor.diagnostics(uri), MEAN_LINE) == []

        cursor = types.Range(
            start=types.Position(line=1, character=0), end=types.Position(line=1, character=0)
        )
        intentions = await intention_or_fix(editor, uri, cursor, [])
        stats = next(a for a in intentions if a.title == "Chorus: show model stats")
        reply = await editor.execute(stats.command)
        assert {row["dismissed"] for row in reply["models"]} == {1}
        [shown] = await wait_until(lambda: editor.shown_documents)
        page = Path(shown.uri.removeprefix("file://"))
        text = await anyio.to_thread.run_sync(page.read_text)
        assert "# Chorus: model stats" in text and "| `openai/claude` |" in text
    finally:
        await editor.close()


async def intention_or_fix(
    editor: Editor,
    uri: str,
    where: types.Range,
    diagnostics: list[types.Diagnostic],
    only: list[str] | None = None,
) -> list[types.CodeAction]:
    """What LSP4IJ asks: an automatic `textDocument/codeAction` (quick fixes filtered to `only`)."""
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=where,
        context=types.CodeActionContext(
            diagnostics=diagnostics, only=only, trigger_kind=types.CodeActionTriggerKind.Automatic
        ),
    )
    answer = await editor.client.text_document_code_action_async(params)
    return [action for action in answer or [] if isinstance(action, types.CodeAction)]
