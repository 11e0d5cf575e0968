"""`chorus/implementStub`: ranked candidates with their edits; nothing applied until asked."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from lsprotocol import types

from tests.fake_models import FakeModelServer
from tests.lsp_client import ChorusLauncher, by_task

SOURCE = """import math


def circle_area(radius):
    # TODO: implement
    pass
"""
GOOD = "def circle_area(radius):\n    return math.pi * radius ** 2\n"
OTHER = "def circle_area(radius):\n    return math.pi * radius * radius\n"


def implement_params(uri: str) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": 4, "character": 6}}


async def test_candidates_come_ranked_with_edits_and_nothing_is_applied(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", by_task(implement=json.dumps({"code": GOOD})))
    model_server.script("codex", by_task(implement=json.dumps({"code": GOOD})))
    model_server.script("gemini", by_task(implement=json.dumps({"code": OTHER})))
    async with chorus(["claude", "codex", "gemini"]) as client:
        uri = client.open_document("shapes.py", SOURCE)
        answer = await client.request("chorus/implementStub", implement_params(uri))
        first, second = answer["candidates"]
        assert (first["votes"], sorted(first["models"]), first["valid"]) == (2, ["claude", "codex"], True)
        assert (second["votes"], second["models"]) == (1, ["gemini"])
        assert "(2/3 models, valid" in first["title"]
        [edit] = first["edit"]["changes"][uri]
        assert edit["range"]["start"] == {"line": 3, "character": 0}
        assert "math.pi * radius ** 2" in edit["newText"] and "TODO" not in edit["newText"]
        assert answer["stub"]["name"] == "circle_area"
        assert client.applied_edits == [] and client.message_requests == [], (
            "the server applies nothing itself"
        )

        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="chorus.applyEdit", arguments=[first["edit"], first["title"]])
        )
        assert result == {"applied": True}
        [applied] = client.applied_edits
        assert applied.label == first["title"]
        assert applied.edit.changes is not None and applied.edit.changes[uri][0].new_text == edit["newText"]


async def test_candidates_move_with_edits_made_while_the_models_worked(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script("claude", by_task(implement=json.dumps({"code": GOOD})), latency=1.5)
    async with chorus(["claude"]) as client:
        uri = client.open_document("shapes.py", SOURCE)
        add_docstring = partial(client.change_document, uri, 0, 0, '"""Shapes."""\n')
        params = implement_params(uri)
        result = await client.request_while_editing(
            model_server, "chorus/implementStub", params, add_docstring
        )
        [candidate] = result["candidates"]
        assert candidate["edit"]["changes"][uri][0]["range"]["start"]["line"] == 4, "moved down one line"
