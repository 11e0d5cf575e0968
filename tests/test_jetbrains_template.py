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
import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, Union

import jsonschema
import pytest
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import register_lsp_features

from orchestration.config import ChorusConfig, merge_settings, parse_config
from orchestration.settings_schema import client_settings_schema, default_client_settings, render
from tests.fake_models import FakeModelServer

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = REPO_ROOT / "clients" / "jetbrains"
TEMPLATE_FILES = ("template.json", "settings.json", "settings.schema.json", "initializationOptions.json")

REVIEWED_LANGUAGES = dict(
    pair.split("=")
    for pair in "python=x.py javascript=x.js javascriptreact=x.jsx typescript=x.ts typescriptreact=x.tsx "
    "java=X.java kotlin=x.kt go=x.go rust=x.rs c=x.c cpp=x.cpp csharp=X.cs php=x.php ruby=x.rb".split()
)
"""languageId → a file name LSP4IJ must map to it (the languages the issue lists)."""


def load(name: str) -> Any:
    return json.loads((TEMPLATE_DIR / name).read_text(encoding="utf-8"))


def language_id_for(file_name: str) -> str | None:
    """The languageId LSP4IJ would send for `file_name`, from the template's file name patterns."""
    for mapping in load("template.json")["fileTypeMappings"]:
        if any(
            fnmatch.fnmatchcase(file_name, pattern) for pattern in mapping["fileType"].get("patterns", [])
        ):
            return str(mapping["languageId"])
    return None


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
    from server.features.documents import LANGUAGE_IDS

    language_ids = {mapping["languageId"] for mapping in load("template.json")["fileTypeMappings"]}
    assert language_ids <= set(LANGUAGE_IDS)


def test_settings_schema_is_what_the_pydantic_models_generate() -> None:
    shipped = (TEMPLATE_DIR / "settings.schema.json").read_text(encoding="utf-8")
    assert json.loads(shipped) == client_settings_schema()
    command = [sys.executable, "-m", "orchestration.settings_schema"]
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


def server_command() -> list[str]:
    """Exactly the template's `programArgs.default`, split the way a shell would."""
    return shlex.split(load("template.json")["programArgs"]["default"])


def server_environment(tmp_path: Path) -> dict[str, str]:
    """The IDE's environment: the venv's scripts on PATH (where `pip install` puts `chorus`)."""
    scripts = Path(sys.executable).parent
    if shutil.which(server_command()[0], path=str(scripts)) is None:
        pytest.fail(f"{server_command()[0]} is not installed in {scripts}: run `pip install -e .`")
    return {
        **os.environ,
        "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }


# -- a minimal LSP4IJ stand-in ----------------------------------------------------------------------
CODE_ACTION_KINDS = "quickfix refactor refactor.extract refactor.inline refactor.rewrite source".split()
LSP4IJ_CAPABILITIES: dict[str, Any] = {
    "workspace": {
        "applyEdit": True,
        "configuration": True,
        "workspaceFolders": True,
        "executeCommand": {"dynamicRegistration": True},
        "workspaceEdit": {"documentChanges": True, "resourceOperations": ["create", "delete", "rename"]},
        "didChangeConfiguration": {"dynamicRegistration": True},
        "didChangeWatchedFiles": {"dynamicRegistration": True},
    },
    "textDocument": {
        "synchronization": {"didSave": True},
        "publishDiagnostics": {
            "relatedInformation": True,
            "codeDescriptionSupport": True,
            "dataSupport": True,
        },
        "codeAction": {
            "dynamicRegistration": True,
            "codeActionLiteralSupport": {"codeActionKind": {"valueSet": CODE_ACTION_KINDS}},
            "dataSupport": True,
            "resolveSupport": {"properties": ["edit"]},
        },
    },
    "window": {
        "workDoneProgress": True,
        "showDocument": {"support": True},
        "showMessage": {"messageActionItem": {"additionalPropertiesSupport": False}},
    },
    "general": {
        "positionEncodings": ["utf-16"],
        "staleRequestSupport": {"cancel": True, "retryOnContentModified": []},
    },
}
"""What LSP4IJ's ClientCapabilitiesFactory declares, for the features Chorus uses."""


def client_converter() -> Any:
    """pygls's converter, plus the hook telling a CodeAction that carries a command from a bare Command."""
    converter = default_converter()

    def command_or_action(data: Any, _type: Any) -> types.Command | types.CodeAction:
        kind = types.Command if isinstance(data.get("command"), str) else types.CodeAction
        return converter.structure(data, kind)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], command_or_action)  # noqa: UP007
    return converter


async def wait_until(probe: Callable[[], T | None], within: float = 10.0) -> T:
    """Poll `probe` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while not (value := probe()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {probe}")
        await asyncio.sleep(0.02)
    return value


class Editor:
    """Open documents, edits applied the way an IDE applies them, and what the server asked of the user."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.client = LanguageClient(converter_factory=client_converter, configuration={"": settings})
        register_lsp_features(self.client)
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}
        self.language_ids: dict[str, str] = {}
        self.message_requests: list[types.ShowMessageRequestParams] = []
        self.applied_edits: list[types.ApplyWorkspaceEditParams] = []
        self.capabilities = types.ServerCapabilities()
        self._answer_server_requests()

    def _answer_server_requests(self) -> None:
        """Requests LSP4IJ answers: capability registration, message buttons, applyEdit."""

        @self.client.feature(types.CLIENT_REGISTER_CAPABILITY)
        def register_capability(params: types.RegistrationParams) -> None:
            return None

        @self.client.feature("chorus/status")
        def ignore_status(params: Any) -> None:
            """LSP4IJ ignores notifications it does not know; so does this client, quietly."""

        @self.client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        def pick_first(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
            self.message_requests.append(params)
            return params.actions[0] if params.actions else None

        @self.client.feature(types.WORKSPACE_APPLY_EDIT)
        def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            self.applied_edits.append(params)
            self.apply_workspace_edit(params.edit)
            return types.ApplyWorkspaceEditResult(applied=True)

    @property
    def shown_documents(self) -> list[types.ShowDocumentParams]:
        return self.client.shown_documents

    def open(self, path: Path, text: str) -> str:
        """Open a file with the languageId the template's mappings give it."""
        path.write_text(text, encoding="utf-8")
        uri, language_id = path.as_uri(), language_id_for(path.name) or "plaintext"
        self.texts[uri], self.versions[uri], self.language_ids[uri] = text, 1, language_id
        item = types.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        return uri

    def text(self, uri: str) -> str:
        return self.texts[uri]

    def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        return list(self.client.diagnostics.get(uri, []))

    def finished_progress(self) -> list[Any] | None:
        """The reports of the first work-done progress that has ended."""
        ended = [
            r
            for r in self.client.progress_reports.values()
            if r and isinstance(r[-1], types.WorkDoneProgressEnd)
        ]
        return ended[0] if ended else None

    async def code_actions(
        self, uri: str, where: types.Range, diagnostics: list[types.Diagnostic] | None = None
    ) -> list[types.CodeAction]:
        """Alt+Enter: the code actions for a range, with the diagnostics under it."""
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=where,
            context=types.CodeActionContext(
                diagnostics=diagnostics or [], trigger_kind=types.CodeActionTriggerKind.Invoked
            ),
        )
        answer = await self.client.text_document_code_action_async(params)
        return [action for action in answer or [] if isinstance(action, types.CodeAction)]

    async def execute(self, command: types.Command | None) -> Any:
        """What LSP4IJ does with a code action that carries a command."""
        assert command is not None
        params = types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
        return await asyncio.wait_for(self.client.workspace_execute_command_async(params), 60)

    def apply_workspace_edit(self, edit: types.WorkspaceEdit) -> None:
        """Apply every text edit locally (bottom-up) and tell the server with incremental didChange."""
        per_uri = dict(edit.changes or {})
        for change in edit.document_changes or []:
            if isinstance(change, types.TextDocumentEdit):
                per_uri.setdefault(change.text_document.uri, []).extend(change.edits)  # type: ignore[arg-type]
        for uri, edits in per_uri.items():
            ordered = sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True)
            for text_edit in ordered:
                self.texts[uri] = replace_range(self.texts[uri], text_edit.range, text_edit.new_text)
            self.versions[uri] += 1
            changes = [
                types.TextDocumentContentChangePartial(range=e.range, text=e.new_text) for e in ordered
            ]
            self.client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                    content_changes=changes,  # type: ignore[arg-type]
                )
            )

    async def close(self) -> None:
        await self.client.shutdown_session()
        await self.client.stop()


def replace_range(text: str, where: types.Range, new_text: str) -> str:
    """`text` with `where` replaced (positions in code points; the test documents are ASCII)."""
    lines = [*text.splitlines(keepends=True), ""]

    def offset(position: types.Position) -> int:
        return sum(len(line) for line in lines[: position.line]) + position.character

    return text[: offset(where.start)] + new_text + text[offset(where.end) :]


def seat_settings(server: FakeModelServer, seats: list[str]) -> dict[str, Any]:
    """Chorus settings whose seats all live on the fake model server."""
    return {
        "models": {
            name: {"model": f"openai/{name}", "api_base": server.base_url, "timeout": 10} for name in seats
        }
    }


def panel_answers(
    server: FakeModelServer,
    seat: str,
    *,
    review: list[dict[str, Any]] | None = None,
    implement: str = "",
    explanation: str = "",
    explain_fix: dict[str, Any] | None = None,
    latency: float = 0.0,
) -> None:
    """Script `seat` to answer each task (told apart by the system prompt) in the contract's shape."""

    def answer(body: dict[str, Any]) -> str:
        system = str((body.get("messages") or [{}])[0].get("content", ""))
        if "You review code" in system:
            return json.dumps({"findings": review or []})
        if "You implement" in system:
            return json.dumps({"code": implement})
        return json.dumps({"explanation": explanation, "fix": explain_fix})

    server.script(seat, answer, latency=latency)


async def start_editor(model_server: FakeModelServer, tmp_path: Path, seats: list[str]) -> Editor:
    """Launch the template's command as LSP4IJ would and initialize it with the template's files."""
    editor = Editor(load("settings.json"))
    config = ClientServerConfig(
        server_command=server_command(),
        server_env=server_environment(tmp_path),
        client_factory=lambda: editor.client,
    )
    await config.start()
    init_options = merge_settings(
        load("initializationOptions.json"), {"chorus": seat_settings(model_server, seats)}
    )
    result = await editor.client.initialize_session(
        types.InitializeParams(
            capabilities=client_converter().structure(LSP4IJ_CAPABILITIES, types.ClientCapabilities),
            initialization_options=init_options,
            root_uri=tmp_path.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name=tmp_path.name)],
        )
    )
    editor.capabilities = result.capabilities
    return editor


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
