"""Driving `chorus serve` over stdio in tests: a pytest-lsp client that plays a real editor's part.

The client records everything the server sends (every diagnostics publish, progress,
`chorus/status`, message requests, applied edits), answers `window/showMessageRequest`
(picking the first action unless told otherwise) and `workspace/applyEdit`, and
structures code actions correctly (lsprotocol alone mistakes a CodeAction that
carries a command for a Command).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Union

import anyio
from lsprotocol import types
from pygls.protocol import JsonRPCNotification, JsonRPCResponseMessage, default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER_COMMAND = [sys.executable, "-m", "server", "serve"]
CLIENT_PROFILES = ["visual-studio-code", "neovim@v0.7.0"]
"""The editors every server test runs as (their real capabilities, as pytest-lsp recorded them)."""

PROVIDER_KEY_WORDS = ("API_KEY", "_TOKEN", "ANTHROPIC", "OPENAI", "GEMINI", "MISTRAL", "AZURE", "COHERE")


class ChorusTestClient(LanguageClient):
    """A pytest-lsp client with Chorus's extra bookkeeping."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.publishes: list[tuple[float, str, list[types.Diagnostic]]] = []
        self.statuses: list[dict[str, Any]] = []
        self.message_requests: list[types.ShowMessageRequestParams] = []
        self.applied_edits: list[types.ApplyWorkspaceEditParams] = []
        self.registrations: list[types.RegistrationParams] = []
        self.initialize_result: types.InitializeResult | None = None
        self.pick: Callable[[Sequence[types.MessageActionItem]], types.MessageActionItem | None] = (
            lambda actions: actions[0] if actions else None
        )

    def publishes_for(self, uri: str) -> list[list[types.Diagnostic]]:
        """Every diagnostics list published for `uri`, oldest first."""
        return [diagnostics for _when, published, diagnostics in self.publishes if published == uri]


def client_converter() -> Any:
    """pygls's converter, telling CodeActions from Commands, keeping custom messages as plain JSON.

    pygls turns untyped results into namedtuples, which mangle keys such as the URIs in a
    WorkspaceEdit's `changes`; Chorus's custom results and notifications stay dicts here.
    """
    converter = default_converter()
    converter.register_structure_hook(JsonRPCResponseMessage, lambda value, kind: kind(**value))
    converter.register_structure_hook(JsonRPCNotification, lambda value, kind: kind(**value))

    def command_or_action(value: Any, _kind: Any) -> types.Command | types.CodeAction:
        if isinstance(value.get("command"), str):
            return converter.structure(value, types.Command)
        return converter.structure(value, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], command_or_action)  # noqa: UP007
    return converter


def make_client() -> ChorusTestClient:
    """The client, with pytest-lsp's default handlers plus Chorus's."""
    client = ChorusTestClient(converter_factory=client_converter)
    for method, handler in DEFAULT_CLIENT_FEATURES.items():
        if method != types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS:
            client.feature(method)(handler)

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def publish_diagnostics(client: ChorusTestClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.publishes.append((time.monotonic(), params.uri, list(params.diagnostics)))

    @client.feature("chorus/status")
    def status(client: ChorusTestClient, params: Any) -> None:
        client.statuses.append(dict(params))

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def show_message_request(
        client: ChorusTestClient, params: types.ShowMessageRequestParams
    ) -> types.MessageActionItem | None:
        client.message_requests.append(params)
        return client.pick(list(params.actions or []))

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(
        client: ChorusTestClient, params: types.ApplyWorkspaceEditParams
    ) -> types.ApplyWorkspaceEditResult:
        client.applied_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(client: ChorusTestClient, params: types.RegistrationParams) -> None:
        client.registrations.append(params)

    return client


def server_env(cache_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's environment: this one minus provider keys, with a private cache directory."""
    env = {key: value for key, value in os.environ.items() if not any(w in key for w in PROVIDER_KEY_WORDS)}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            "XDG_CACHE_HOME": str(cache_dir),
            "CHORUS_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def config_options(config: Any) -> dict[str, Any]:
    """A ChorusConfig as `initializationOptions` (JSON)."""
    options: dict[str, Any] = json.loads(config.model_dump_json(exclude_defaults=True))
    return options


@asynccontextmanager
async def chorus_session(
    profile: str,
    workspace: Path,
    *,
    init_options: Mapping[str, Any] | None = None,
    configuration: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[ChorusTestClient]:
    """Start `chorus serve`, initialize it as `profile` on `workspace`, shut it down afterwards."""
    config = ClientServerConfig(
        server_command=SERVER_COMMAND,
        client_factory=make_client,
        server_env=server_env(workspace / ".cache", env),
    )
    client = await config.start()
    assert isinstance(client, ChorusTestClient)
    if configuration is not None:
        client.set_configuration(dict(configuration), section="chorus")
    try:
        client.initialize_result = await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities(profile),
                root_uri=workspace.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name=workspace.name)],
                initialization_options=dict(init_options) if init_options is not None else None,
            )
        )
        yield client
    finally:
        try:
            with anyio.fail_after(10):
                await client.shutdown_session()
        finally:
            await client.stop()


def open_document(client: LanguageClient, path: Path, text: str, language: str = "python") -> str:
    """Write `text` to `path`, send didOpen, and return the document's URI."""
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)
        )
    )
    return uri


def change_document(client: LanguageClient, uri: str, version: int, start: int, end: int, text: str) -> None:
    """Replace lines `start..end-1` (0-based, whole lines) with `text`."""
    edit_range = types.Range(
        start=types.Position(line=start, character=0), end=types.Position(line=end, character=0)
    )
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=edit_range, text=text)],
        )
    )


def lsp_range(start_line: int, end_line: int) -> dict[str, Any]:
    """A JSON range from the start of `start_line` to the start of `end_line` (0-based)."""
    return {"start": {"line": start_line, "character": 0}, "end": {"line": end_line, "character": 0}}


async def wait_until(predicate: Callable[[], Any], within: float = 15.0) -> Any:
    """Poll `predicate` until it returns something truthy (without blocking the event loop)."""
    with anyio.fail_after(within):
        while not (value := predicate()):  # noqa: ASYNC110 - the state lives in the client's handlers
            await anyio.sleep(0.02)
    return value


def finding(
    line: int, message: str, *, severity: str = "error", fix: str | None = None, end: int | None = None
) -> dict[str, Any]:
    """One finding in a fake model's review answer."""
    last = end or line
    return {
        "start_line": line,
        "end_line": last,
        "severity": severity,
        "category": "bug",
        "message": message,
        "fix": None if fix is None else {"start_line": line, "end_line": last, "replacement": fix},
    }


def by_task(review: str = "", implement: str = "", explain: str = "") -> Callable[[dict[str, Any]], str]:
    """A fake model's answer chosen by the task its system prompt names."""

    def answer(body: dict[str, Any]) -> str:
        system = str((body.get("messages") or [{}])[0].get("content", ""))
        if system.startswith("You implement"):
            return implement
        if system.startswith("You explain"):
            return explain
        return review

    return answer


async def request(client: LanguageClient, method: str, params: Any, msg_id: str | None = None) -> Any:
    """Send a request and return its raw JSON result."""
    return await client.protocol.send_request_async(method, params, msg_id=msg_id)


def review_answer(*findings: dict[str, Any]) -> str:
    """A fake model's review answer."""
    return json.dumps({"findings": list(findings)})
