"""Bad input from a client gets a one-line error and never fails more than it must (issue 13 items 6, 8).

Each test sends over stdio what a buggy or hostile client could send: malformed diagnostic `data`,
a dict `workDoneToken`, commands with missing or wrong arguments, ranges past the end of a document,
a FIFO's URI; and malformed requests leave one log line each, not a traceback.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.fake_models import FakeModelServer
from tests.lsp_client import ChorusLauncher, lsp_range, review_answer, wait_until
from tests.test_server_errors import send_raw_request
from tests.test_server_framing import RawServer, frame, request

SOURCE = "def total(prices):\n    return sum(prices) + 1\n"
INVALID_PARAMS = -32602
SERVER_PATH_HINTS = ("Traceback", 'File "', '.py"', "/server/", "site-packages")


def assert_clean_invalid_params(error: JsonRpcException) -> None:
    """-32602, one line, no traceback or server file path anywhere in the error."""
    assert error.code == INVALID_PARAMS, (error.code, error.message)
    text = f"{error.message} {error.data!r}"
    assert "\n" not in error.message
    assert not any(hint in text for hint in SERVER_PATH_HINTS), text
    assert not (isinstance(error.data, dict) and "traceback" in error.data)


def chorus_diagnostic(data: Any, line: int = 1) -> types.Diagnostic:
    """A diagnostic that claims to be Chorus's, with `data` as given."""
    return types.Diagnostic(
        range=types.Range(
            start=types.Position(line=line, character=4), end=types.Position(line=line, character=9)
        ),
        message="[2/2] Off by one: the total adds 1",
        source="chorus",
        data=data,
    )


MALFORMED_DATA = [
    {"fixes": "not a list"},
    {"fixes": [5, None, "x"]},
    {"fixes": [{"range": 5, "newText": 1}]},
    {"fixes": [{"range": {"start": {"line": -3}}, "newText": "x"}]},
    {"fixes": [{"newText": "only text"}]},
    [1, 2, 3],
    "a string",
]


async def test_malformed_data_on_a_client_diagnostic_does_not_fail_the_code_action_request(
    chorus: ChorusLauncher,
) -> None:
    good_fix = {"range": lsp_range(1, 2), "newText": "    return sum(prices)\n", "votes": 2}
    async with chorus(["claude"]) as client:
        uri = client.open_document("prices.py", SOURCE)
        where = types.Range(
            start=types.Position(line=1, character=4), end=types.Position(line=1, character=4)
        )
        for data in MALFORMED_DATA:
            actions = await client.code_actions_at(uri, where, [chorus_diagnostic(data)])
            assert actions is not None, data
            titles = [action.title for action in actions]
            assert "Explain with Chorus" in titles, (data, titles)
            assert not [title for title in titles if title.startswith("Fix")], (data, titles)
        mixed = [chorus_diagnostic({"fixes": [5, good_fix], "panel": 2}), chorus_diagnostic([1])]
        actions = await client.code_actions_at(uri, where, mixed)
        assert actions is not None
        fixes = [a for a in actions if isinstance(a, types.CodeAction) and a.title.startswith("Fix")]
        assert [fix.title for fix in fixes] == ["Fix (2/2 models): Off by one: the total adds 1"]
        assert fixes[0].is_preferred, "the first well-formed fix is the preferred one"


@pytest.mark.parametrize("token", [{"a": 1}, [1], 1.5, True])
async def test_an_invalid_work_done_token_gets_invalid_params_without_a_traceback(
    chorus: ChorusLauncher, model_server: FakeModelServer, token: Any
) -> None:
    async with chorus(["claude"]) as client:
        uri = client.open_document("prices.py", SOURCE)
        requests: list[tuple[str, dict[str, Any]]] = [
            ("chorus/reviewSelection", {"range": lsp_range(0, 2)}),
            ("chorus/explainDiagnostics", {"range": lsp_range(0, 2)}),
            ("chorus/implementStub", {"position": {"line": 0, "character": 0}}),
        ]
        for index, (method, params) in enumerate(requests):
            body = {"textDocument": {"uri": uri}, "workDoneToken": token, **params}
            with pytest.raises(JsonRpcException) as refused:
                await send_raw_request(client, method, body, f"token-{index}")
            assert_clean_invalid_params(refused.value)
            assert "work_done_token" in refused.value.message
        assert model_server.requests == [], "nothing reached a model"
        assert (await client.request("chorus/models", {}))["models"][0]["name"] == "claude"


COMMAND_MISUSE: list[tuple[str, list[Any] | None, str]] = [
    ("chorus.applyEdit", None, "takes [edit, label?]; got 0"),
    ("chorus.applyEdit", [], "got 0"),
    ("chorus.applyEdit", [5], "argument 1 (edit)"),
    ("chorus.applyEdit", [{"changes": 5}], "argument 1 (edit)"),
    ("chorus.applyEdit", [{}, {"not": "a label"}], "argument 2 (label)"),
    ("chorus.reviewSelection", None, "takes [uri, range]"),
    ("chorus.reviewSelection", [5, lsp_range(0, 1)], "argument 1 (uri)"),
    ("chorus.reviewSelection", ["file:///x.py", "not a range"], "argument 2 (range)"),
    ("chorus.implementStub", [{"uri": 1}], "takes [uri, position]"),
    ("chorus.implementStub", ["file:///x.py", {"line": -1, "character": 0}], "argument 2 (position)"),
    ("chorus.explainDiagnostics", ["file:///x.py", lsp_range(0, 1), [{"message": 5}]], "argument 3"),
    ("chorus.explainDiagnostics", ["a", "b", "c", "d"], "got 4"),
]


async def test_commands_with_missing_or_wrong_arguments_get_one_line_invalid_params(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    async with chorus(["claude"]) as client:
        for command, arguments, expected in COMMAND_MISUSE:
            params = (
                {"command": command} if arguments is None else {"command": command, "arguments": arguments}
            )
            with pytest.raises(JsonRpcException) as refused:
                await send_raw_request(client, "workspace/executeCommand", params, f"{command}-{arguments}")
            assert_clean_invalid_params(refused.value)
            assert expected in refused.value.message, (command, arguments, refused.value.message)
        assert model_server.requests == []
        assert client.applied_edits == [], "nothing was applied"


async def test_a_request_for_a_notification_method_is_answered_not_dropped(chorus: ChorusLauncher) -> None:
    async with chorus(["claude"]) as client:
        status = {"state": "idle", "message": "x", "active": 0}
        with pytest.raises(JsonRpcException) as refused, anyio.fail_after(10):
            await send_raw_request(client, "chorus/status", status, "status-as-request")
        assert refused.value.code == -32601 and "notification" in refused.value.message


async def test_a_range_past_the_end_is_invalid_params_and_no_model_is_asked(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", review_answer())
    async with chorus(["claude"]) as client:
        uri = client.open_document("prices.py", SOURCE)
        for method, params in [
            ("chorus/reviewSelection", {"range": lsp_range(40, 41)}),
            ("chorus/explainDiagnostics", {"range": lsp_range(40, 41)}),
            ("chorus/implementStub", {"position": {"line": 40, "character": 0}}),
        ]:
            with pytest.raises(JsonRpcException) as refused:
                await client.request(method, {"textDocument": {"uri": uri}, **params})
            assert_clean_invalid_params(refused.value)
            assert "line 41 is past the end of prices.py (2 lines)" in refused.value.message
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="chorus.reviewSelection", arguments=[uri, lsp_range(40, 41)])
        )
        assert "past the end" in result["error"]
        [warning] = await wait_until(lambda: [m for m in client.messages if "past the end" in m.message])
        assert warning.type == types.MessageType.Warning and "\n" not in warning.message
        assert model_server.requests == [], "nothing reached a model"
        answer = await client.review_selection(uri, 1, 5)
        assert answer["models"][0]["status"] == "ok", "a range that only ends past the end is clamped"


async def test_documents_that_are_not_open_must_be_regular_file_uris(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    async with chorus(["claude"]) as client:
        assert client.workspace is not None
        (client.workspace / "big.py").write_text("x = 1\n" * 200_000)
        for uri, expected in [
            ("untitled:1", "not a file: URI"),
            ("relative.py", "not a file: URI"),
            ("file:///dev/zero", "not a regular file"),
            (client.workspace.as_uri(), "not a regular file"),
            ((client.workspace / "missing.py").as_uri(), "cannot be read: No such file"),
            ((client.workspace / "big.py").as_uri(), "larger than policy.max_file_bytes"),
        ]:
            with pytest.raises(JsonRpcException) as refused:
                await client.review_selection(uri, 0, 1)
            assert_clean_invalid_params(refused.value)
            assert expected in refused.value.message, (uri, refused.value.message)
        assert model_server.requests == []


@contextmanager
def fifo_at(path: Path) -> Iterator[Path]:
    """A FIFO at `path`; afterwards a writer opens and closes it, so a server stuck opening it goes on."""
    os.mkfifo(path)
    try:
        yield path
    finally:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # No reader is waiting on it: nothing is stuck.


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
async def test_a_fifo_uri_is_refused_at_once_and_the_server_keeps_answering(
    chorus: ChorusLauncher, model_server: FakeModelServer, tmp_path: Path
) -> None:
    async with chorus(["claude"]) as client:
        with fifo_at(tmp_path / "pipe.py") as fifo:
            with pytest.raises(JsonRpcException) as refused, anyio.fail_after(5):
                await client.review_selection(fifo.as_uri(), 0, 1)
            assert_clean_invalid_params(refused.value)
            assert "not a regular file" in refused.value.message, refused.value.message
            with anyio.fail_after(5):
                models = await client.request("chorus/models", {})
            assert models["models"][0]["name"] == "claude"
    assert model_server.requests == []


def messages_through(server: RawServer, last_id: str, within: float = 15.0) -> list[dict[str, Any]]:
    """Everything the server sends until (and including) its response to `last_id`."""
    deadline = time.monotonic() + within
    seen: list[dict[str, Any]] = []
    while not any(m.get("id") == last_id and "method" not in m for m in seen):
        assert time.monotonic() < deadline, f"no response to {last_id} within {within} s"
        seen += server.messages_until(0.2)
    return seen


MALFORMED_REQUESTS: dict[str, tuple[str, Any]] = {
    "bad-review": ("chorus/reviewSelection", {"textDocument": 5}),
    "bad-hover": ("textDocument/hover", {"position": "x"}),
    "bad-explain": ("chorus/explainDiagnostics", {"textDocument": {"uri": "file:///x.py"}, "range": [1]}),
    "bad-actions": ("textDocument/codeAction", None),
}


def test_a_malformed_request_logs_one_line_and_no_traceback(tmp_path: Path) -> None:
    server = RawServer(tmp_path)
    try:
        server.write(frame(request(1, "initialize", {"capabilities": {}, "rootUri": tmp_path.as_uri()})))
        assert "result" in server.response(1, within=30)
        server.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        for msg_id, (method, params) in MALFORMED_REQUESTS.items():
            server.write(frame({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}))
        bad_change = {"textDocument": {"uri": "file:///bad-change.py"}, "contentChanges": 5}
        server.write(frame({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": bad_change}))
        server.write(frame({"jsonrpc": "2.0", "id": "after", "method": "chorus/models", "params": {}}))
        messages = messages_through(server, "after")
        messages += server.messages_until(0.3)
    finally:
        stderr = server.close()
    replies = {m["id"]: m for m in messages if "id" in m and "method" not in m}
    for msg_id in MALFORMED_REQUESTS:
        assert replies[msg_id]["error"]["code"] == INVALID_PARAMS, replies[msg_id]
    assert "models" in replies["after"]["result"]
    assert not any(hint in stderr for hint in SERVER_PATH_HINTS), stderr
    client_log = [m["params"]["message"] for m in messages if m.get("method") == "window/logMessage"]
    reported = {msg_id: (method, repr(msg_id)) for msg_id, (method, _params) in MALFORMED_REQUESTS.items()}
    reported["bad-change"] = ("textDocument/didChange", "textDocument/didChange")
    for method, mark in reported.values():
        on_stderr = [line for line in stderr.splitlines() if mark in line]
        on_client = [line for line in client_log if mark in line]
        assert len(on_stderr) <= 1 and len(on_client) <= 1 and on_stderr + on_client, (mark, stderr)
        assert all(method in line and "invalid params" in line for line in on_stderr + on_client)
