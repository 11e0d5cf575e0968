"""`chorus/implementStub`: ranked candidates with their edits; nothing applied until asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from lsprotocol import types

from tests.fake_models import FakeModelServer, make_config
from tests.lsp_client import (
    CLIENT_PROFILES,
    by_task,
    change_document,
    chorus_session,
    config_options,
    open_document,
    request,
)

pytestmark = pytest.mark.parametrize("profile", CLIENT_PROFILES)

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
    profile: str, tmp_path: Path, model_server: FakeModelServer
) -> None:
    model_server.script("claude", by_task(implement=json.dumps({"code": GOOD})))
    model_server.script("codex", by_task(implement=json.dumps({"code": GOOD})))
    model_server.script("gemini", by_task(implement=json.dumps({"code": OTHER})))
    init = config_options(make_config(model_server, ["claude", "codex", "gemini"]))
    async with chorus_session(profile, tmp_path, init_options=init) as client:
        uri = open_document(client, tmp_path / "shapes.py", SOURCE)
        answer = await request(client, "chorus/implementStub", implement_params(uri))
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
    profile: str, tmp_path: Path, model_server: FakeModelServer
) -> None:
    model_server.script("claude", by_task(implement=json.dumps({"code": GOOD})), latency=1.5)
    init = config_options(make_config(model_server, ["claude"]))
    async with chorus_session(profile, tmp_path, init_options=init) as client:
        uri = open_document(client, tmp_path / "shapes.py", SOURCE)
        results: list[dict[str, Any]] = []

        async def implement() -> None:
            results.append(await request(client, "chorus/implementStub", implement_params(uri)))

        async with anyio.create_task_group() as group:
            group.start_soon(implement)
            await model_server.wait_for_requests(1, "claude", timeout=30)
            change_document(client, uri, 2, 0, 0, '"""Shapes."""\n')
        [candidate] = results[0]["candidates"]
        assert candidate["edit"]["changes"][uri][0]["range"]["start"]["line"] == 4, "moved down one line"
