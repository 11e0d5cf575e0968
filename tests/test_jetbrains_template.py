"""The LSP4IJ template in clients/jetbrains: its files, and the server it launches driven the JetBrains way.

LSP4IJ (Red Hat's LSP client for every JetBrains IDE) imports `template.json`, `settings.json`,
`initializationOptions.json` and `settings.schema.json` from the folder. The first tests check those
files; the others launch exactly the template's `programArgs.default` and drive it as LSP4IJ does:
its client capabilities, the settings answered from `settings.json`, the `languageId` from the
file type mappings, and every feature reached through `textDocument/codeAction` and
`workspace/executeCommand` (LSP4IJ sends no custom requests).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from lsprotocol import types

from orchestration.types.config import ChorusConfig, merge_settings, parse_config
from orchestration.types.settings_schema import client_settings_schema, default_client_settings, render
from tests.fake_models import FakeModelServer
from tests.lsp4ij_client import REPO_ROOT, TEMPLATE_DIR, language_id_for, load, panel_answers, start_editor
from tests.lsp_client import wait_until

TEMPLATE_FILES = ("template.json", "settings.json", "settings.schema.json", "initializationOptions.json")

REVIEWED_LANGUAGES = dict(
    pair.split("=")
    for pair in "python=x.py javascript=x.js javascriptreact=x.jsx typescript=x.ts typescriptreact=x.tsx "
    "java=X.java kotlin=x.kt go=x.go rust=x.rs c=x.c cpp=x.cpp csharp=X.cs php=x.php ruby=x.rb".split()
)
"""languageId → a file name LSP4IJ must map to it (the languages the issue lists)."""


# -- the template files ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", TEMPLATE_FILES)
def test_template_files_are_json_objects(name: str) -> None:
    assert isinstance(load(name), dict)


def test_template_has_the_fields_lsp4ij_reads() -> None:
    template = load("template.json")
    assert template["id"] == "chorus" and template["name"] == "Chorus"
    program = template["programArgs"]
    assert shlex.split(program["default"])[:2] == ["chorus", "serve"]
    assert shlex.split(program["windows"])[:2] in (["chorus.exe", "serve"], ["chorus", "serve"])
    assert set(program) <= {"default", "windows", "mac", "unix"}
    for mapping in template["fileTypeMappings"]:
        assert set(mapping) == {"fileType", "languageId"}
        file_type = mapping["fileType"]
        assert set(file_type) <= {"name", "patterns"} and file_type.get("patterns"), mapping
        assert all(isinstance(pattern, str) and pattern for pattern in file_type["patterns"])
        assert isinstance(file_type.get("name", ""), str)


def test_every_reviewed_language_is_mapped_once() -> None:
    patterns = [p for m in load("template.json")["fileTypeMappings"] for p in m["fileType"]["patterns"]]
    assert len(patterns) == len(set(patterns)), "a pattern is mapped twice"
    for language_id, file_name in REVIEWED_LANGUAGES.items():
        assert language_id_for(file_name) == language_id, file_name


def test_every_language_id_is_one_the_server_knows() -> None:
    from server.document_state import LANGUAGE_IDS

    language_ids = {mapping["languageId"] for mapping in load("template.json")["fileTypeMappings"]}
    assert language_ids <= set(LANGUAGE_IDS)


def test_settings_schema_is_what_the_pydantic_models_generate() -> None:
    shipped = (TEMPLATE_DIR / "settings.schema.json").read_text(encoding="utf-8")
    assert json.loads(shipped) == client_settings_schema()
    command = [sys.executable, "-m", "orchestration.types.settings_schema"]
    printed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60)
    assert printed.stdout == shipped == render(client_settings_schema()), "regenerate settings.schema.json"


def test_schema_describes_every_setting_with_its_default() -> None:
    configuration = load("settings.schema.json")["properties"]["chorus"]
    seat = configuration["properties"]["models"]["additionalProperties"]
    for table in (seat, configuration["properties"]["panels"], configuration["properties"]["policy"]):
        for key, prop in table["properties"].items():
            assert prop.get("description"), key
            assert "default" in prop or key in seat.get("required", []), key
    policy = configuration["properties"]["policy"]["properties"]
    assert policy["deadline"]["default"] == ChorusConfig().policy.deadline
    assert policy["exclude"]["default"] == ChorusConfig().policy.exclude
    assert seat["properties"]["timeout"]["exclusiveMinimum"] == 0


@pytest.mark.parametrize(
    ("settings", "valid"),
    [
        ({"models": {"a": {"model": "openai/a", "timeout": 5}}, "panels": {"review": ["a"]}}, True),
        ({"policy": {"deadline": 30, "exclude": ["*.pem"], "quorum": None}}, True),
        ({"models": {"a": {"model": "openai/a", "timeout": 0}}}, False),
        ({"models": {"a": {"model": "openai/a", "temprature": 0.1}}}, False),
        ({"models": {"a": {"timeout": 5}}}, False),
        ({"policy": {"min_agreement": 0}}, False),
        ({"panels": {"review": "a"}}, False),
        ({"modles": {}}, False),
    ],
)
def test_schema_and_server_agree_on_what_is_valid(settings: dict[str, Any], valid: bool) -> None:
    validator = jsonschema.Draft7Validator(load("settings.schema.json"))
    schema_says = validator.is_valid({"chorus": settings})
    try:
        parse_config(settings)
        server_says = True
    except ValueError:
        server_says = False
    assert schema_says == server_says == valid


def test_shipped_settings_are_valid_and_override_nothing() -> None:
    settings = load("settings.json")
    jsonschema.Draft7Validator(load("settings.schema.json")).validate(settings)
    assert settings == default_client_settings()
    workspace_file = {
        "models": {"a": {"model": "openai/a"}},
        "panels": {"review": ["a"]},
        "policy": {"deadline": 7},
    }
    overlaid = parse_config(merge_settings(workspace_file, settings["chorus"]))
    assert overlaid == parse_config(workspace_file)


def test_shipped_initialization_options_change_nothing() -> None:
    options = load("initializationOptions.json")
    jsonschema.Draft7Validator(load("settings.schema.json")).validate(options)
    assert parse_config(options.get("chorus", options)) == ChorusConfig()


def test_readme_walks_through_the_import_and_every_feature() -> None:
    readme = (TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
    for needle in (
        "LSP4IJ",
        "Languages & Frameworks",
        "Language Servers",
        "Import from custom template",
        "Alt+Enter",
        "chorus.reviewSelection",
        "chorus.implementStub",
        "chorus.explainDiagnostics",
        "Background Tasks",
        "[2/3]",
        "chorus serve",
    ):
        assert needle in readme, needle


# -- the launched server, driven like LSP4IJ --------------------------------------------------------
CART_TS = """\
export function cartTotal(prices: number[]): number {
  let total = 0;
  for (let i = 0; i <= prices.length; i++) {
    total += prices[i];
  }
  return total;
}

export function applyDiscount(total: number, percent: number): number {
  throw new Error("not implemented");
}
"""
LOOP_LINE = 3
FIXED_LOOP = "  for (let i = 0; i < prices.length; i++) {\n"
DISCOUNT_BODY = (
    "export function applyDiscount(total: number, percent: number): number {\n"
    "  return total * (1 - percent / 100);\n"
    "}"
)
GUARD_FIX = {
    "start_line": LOOP_LINE + 1,
    "end_line": LOOP_LINE + 1,
    "replacement": "    total += prices[i] ?? 0;\n",
}
OFF_BY_ONE = {
    "start_line": LOOP_LINE,
    "end_line": LOOP_LINE,
    "severity": "error",
    "category": "bug",
    "message": "Off-by-one: i <= prices.length reads past the end and adds undefined (NaN).",
    "fix": {"start_line": LOOP_LINE, "end_line": LOOP_LINE, "replacement": FIXED_LOOP},
}


async def test_review_from_a_code_action_publishes_agreement_counts_and_a_quick_fix(
    model_server: FakeModelServer, tmp_path: Path
) -> None:
    panel_answers(model_server, "claude", review=[OFF_BY_ONE], latency=0.05)
    panel_answers(model_server, "codex", review=[{**OFF_BY_ONE, "message": "Loop runs one past the end."}])
    panel_answers(model_server, "gemini", review=[], latency=0.1)
    editor = await start_editor(model_server, tmp_path, ["claude", "codex", "gemini"])
    try:
        commands = editor.capabilities.execute_command_provider
        assert commands is not None and "chorus.reviewSelection" in commands.commands
        uri = editor.open(tmp_path / "cart.ts", CART_TS)
        assert editor.language_ids[uri] == "typescript"

        selection = types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=6, character=1)
        )
        actions = await editor.code_actions(uri, selection)
        review = next(a for a in actions if a.command and a.command.command == "chorus.reviewSelection")
        assert review.title == "Review selection with Chorus"
        await editor.execute(review.command)

        diagnostics = await wait_until(lambda: [d for d in editor.diagnostics(uri) if d.source == "chorus"])
        loop = next(d for d in diagnostics if d.range.start.line == LOOP_LINE - 1)
        assert loop.message.startswith("[2/3]") and "Off-by-one" in loop.message
        assert loop.severity == types.DiagnosticSeverity.Error
        assert {info.message.split(":")[0] for info in loop.related_information or []} == {"claude", "codex"}

        reports = await wait_until(editor.finished_progress)
        begin, *middle, end = reports
        assert isinstance(begin, types.WorkDoneProgressBegin) and "Chorus" in begin.title
        assert any("3/3 models answered" in (r.message or "") for r in middle)
        assert isinstance(end, types.WorkDoneProgressEnd)

        fixes = await editor.code_actions(uri, loop.range, [loop])
        fix = next(a for a in fixes if a.kind == types.CodeActionKind.QuickFix and a.edit is not None)
        assert fix.title.startswith("Fix (2/3 models)")
        editor.apply_workspace_edit(fix.edit)
        assert editor.text(uri).splitlines()[LOOP_LINE - 1] == FIXED_LOOP.rstrip("\n")
        await wait_until(lambda: not [d for d in editor.diagnostics(uri) if d.source == "chorus"])
    finally:
        await editor.close()


async def test_implement_stub_is_applied_through_workspace_apply_edit(
    model_server: FakeModelServer, tmp_path: Path
) -> None:
    for seat in ("claude", "codex"):
        panel_answers(model_server, seat, implement=DISCOUNT_BODY)
    editor = await start_editor(model_server, tmp_path, ["claude", "codex"])
    try:
        uri = editor.open(tmp_path / "cart.ts", CART_TS)
        cursor = types.Position(line=9, character=4)
        actions = await editor.code_actions(uri, types.Range(start=cursor, end=cursor))
        implement = next(a for a in actions if a.command and a.command.command == "chorus.implementStub")
        assert implement.title == "Implement stub with Chorus"
        await editor.execute(implement.command)

        offer = await wait_until(lambda: editor.message_requests)
        assert offer[0].actions and "1." in offer[0].actions[0].title
        applied = await wait_until(lambda: editor.applied_edits)
        assert applied[0].label and uri in (applied[0].edit.changes or {})
        assert "return total * (1 - percent / 100);" in editor.text(uri)
        assert "not implemented" not in editor.text(uri)
        assert editor.text(uri).startswith(CART_TS.split("export function applyDiscount")[0])
    finally:
        await editor.close()


async def test_explain_opens_the_explanation_as_a_document(
    model_server: FakeModelServer, tmp_path: Path
) -> None:
    explanation = "`prices[i]` is `undefined` when `i == prices.length`, so `total` becomes NaN."
    for seat in ("claude", "codex"):
        panel_answers(model_server, seat, explanation=explanation, explain_fix=GUARD_FIX)
    editor = await start_editor(model_server, tmp_path, ["claude", "codex"])
    try:
        uri = editor.open(tmp_path / "cart.ts", CART_TS)
        start, end = types.Position(line=LOOP_LINE, character=4), types.Position(line=LOOP_LINE, character=21)
        ts_error = types.Diagnostic(
            range=types.Range(start=start, end=end),
            message="Object is possibly 'undefined'.",
            source="ts",
            code=2532,
            severity=types.DiagnosticSeverity.Error,
        )
        actions = await editor.code_actions(uri, ts_error.range, [ts_error])
        explain = next(a for a in actions if a.command and a.command.command == "chorus.explainDiagnostics")
        assert explain.title == "Explain with Chorus"
        answer = await editor.execute(explain.command)

        shown = await wait_until(lambda: editor.shown_documents)
        document = Path(shown[0].uri.removeprefix("file://"))
        assert document.suffix == ".md"
        assert explanation in await asyncio.to_thread(document.read_text, encoding="utf-8")
        assert "Object is possibly 'undefined'" in model_server.requests_for("claude")[0].prompt
        assert answer["fixes"] and answer["models"][0]["status"] == "ok"
        offer = await wait_until(lambda: editor.message_requests)
        assert "fix" in offer[0].message.lower()
        await wait_until(lambda: editor.applied_edits)
        assert "total += prices[i] ?? 0;" in editor.text(uri)
    finally:
        await editor.close()
