"""A minimal LSP4IJ stand-in: the JetBrains client's capabilities, settings and edit handling.

LSP4IJ (Red Hat's LSP client for every JetBrains IDE) launches the template's `programArgs.default`
from `clients/jetbrains`, sends its own client capabilities, answers `workspace/configuration` from
`settings.json`, maps file names to a `languageId` with the template's `fileTypeMappings`, and
reaches every feature through `textDocument/codeAction` and `workspace/executeCommand`. `Editor` and
`start_editor` do the same against `chorus serve`, so tests can drive it the JetBrains way.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, Union

import pytest
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import register_lsp_features

from orchestration.types.config import merge_settings
from tests.fake_models import FakeModelServer

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = REPO_ROOT / "clients" / "jetbrains"


def load(name: str) -> Any:
    """One of the template's JSON files, parsed."""
    return json.loads((TEMPLATE_DIR / name).read_text(encoding="utf-8"))


def language_id_for(file_name: str) -> str | None:
    """The languageId LSP4IJ would send for `file_name`, from the template's file name patterns."""
    for mapping in load("template.json")["fileTypeMappings"]:
        if any(
            fnmatch.fnmatchcase(file_name, pattern) for pattern in mapping["fileType"].get("patterns", [])
        ):
            return str(mapping["languageId"])
    return None


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
