"""`chorus/explainDiagnostics`: any tool's diagnostics, or the ones the server already knows."""

from __future__ import annotations

import json
from typing import Any

from lsprotocol import types

from tests.fake_models import FakeModelServer
from tests.lsp_client import ChorusLauncher, by_task, finding, review_answer, selection_params

SOURCE = """import json


def load(path):
    handle = open(path)
    return json.load(handle)
"""
ESLINT_LIKE = {
    "range": {"start": {"line": 4, "character": 13}, "end": {"line": 4, "character": 23}},
    "message": "Resource leak: file is never closed",
    "source": "ruff",
    "code": "SIM115",
    "severity": 2,
}
FIX = {
    "start_line": 5,
    "end_line": 6,
    "replacement": "    with open(path) as handle:\n        return json.load(handle)",
}


def explain_params(uri: str, diagnostics: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    params = selection_params(uri, 4, 6)
    if diagnostics is not None:
        params["diagnostics"] = diagnostics
    return params


async def test_explains_the_diagnostics_sent_and_returns_fixes(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    model_server.script(
        "claude", by_task(explain=json.dumps({"explanation": "The file stays open.", "fix": FIX}))
    )
    model_server.script(
        "codex", by_task(explain=json.dumps({"explanation": "Use a `with` block.", "fix": FIX}))
    )
    async with chorus(["claude", "codex"]) as client:
        uri = client.open_document("loader.py", SOURCE)
        answer = await client.request("chorus/explainDiagnostics", explain_params(uri, [ESLINT_LIKE]))
        assert (
            "The file stays open." in answer["explanation"] and "Use a `with` block." in answer["explanation"]
        )
        [fix] = answer["fixes"]
        assert fix["title"].startswith("Fix (2/2 models)") and fix["kind"] == "quickfix"
        [edit] = fix["edit"]["changes"][uri]
        assert edit["range"]["start"] == {"line": 4, "character": 0}
        assert edit["newText"].startswith("    with open(path) as handle:")
        prompt = model_server.requests_for("claude")[0].prompt
        assert "Resource leak" in prompt and "SIM115" in prompt
        assert [m["status"] for m in answer["models"]] == ["ok", "ok"]
        assert client.shown_documents == [] and client.message_requests == [], "the request only answers"


async def test_without_diagnostics_the_known_ones_are_explained(
    chorus: ChorusLauncher, model_server: FakeModelServer
) -> None:
    leak = finding(5, "The file handle is never closed")
    model_server.script(
        "claude",
        by_task(review=review_answer(leak), explain=json.dumps({"explanation": "Close it.", "fix": None})),
    )
    async with chorus(["claude"]) as client:
        uri = client.open_document("loader.py", SOURCE)
        await client.review_selection(uri, 3, 6)
        pyright = types.Diagnostic(
            range=types.Range(
                start=types.Position(line=5, character=11), end=types.Position(line=5, character=20)
            ),
            message='"load" is not a known attribute of module "json"',
            source="Pyright",
        )
        await client.code_actions_at(uri, pyright.range, [pyright])
        answer = await client.request("chorus/explainDiagnostics", explain_params(uri))
        assert answer["explanation"] and answer["fixes"] == []
        explain_prompt = model_server.requests_for("claude")[-1].prompt
        assert "The file handle is never closed" in explain_prompt, "Chorus's own diagnostic on line 5"
        assert "not a known attribute" in explain_prompt, "the diagnostic the client showed in codeAction"
