"""Driving `chorus serve` over stdio in tests: a pytest-lsp client that plays a real editor's part.

The client records everything the server sends (every diagnostics publish, progress,
`chorus/status`, message requests, applied edits), answers `window/showMessageRequest`
(picking the first action unless told otherwise) and `workspace/applyEdit`, and
structures code actions correctly (lsprotocol alone mistakes a CodeAction that
carries a command for a Command). It also does what server tests keep doing: open and edit
documents in its workspace, send Chorus's requests, ask for code actions.

`ChorusLauncher` (the `chorus` fixture in conftest.py) starts a session with seats on the fake
model server, so that a test states only its seats and what it does with the client.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, cast

import anyio
from lsprotocol import types
from pygls.protocol import JsonRPCNotification, JsonRPCResponseMessage, default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES

from tests.fake_models import FakeModelServer, make_config

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER_COMMAND = [sys.executable, "-m", "server", "serve"]
CLIENT_PROFILES = ["visual-studio-code", "neovim@v0.7.0"]
"""The editors every server test runs as (their real capabilities, as pytest-lsp recorded them)."""

PROVIDER_KEY_WORDS = ("API_KEY", "_TOKEN", "ANTHROPIC", "OPENAI", "GEMINI", "MISTRAL", "AZURE", "COHERE")


class ChorusTestClient(LanguageClient):
    """A pytest-lsp client with Chorus's extra bookkeeping, and the editor actions tests repeat."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.publishes: list[tuple[float, str, list[types.Diagnostic]]] = []
        self.statuses: list[dict[str, Any]] = []
        self.message_requests: list[types.ShowMessageRequestParams] = []
        self.applied_edits: list[types.ApplyWorkspaceEditParams] = []
        self.registrations: list[types.RegistrationParams] = []
        self.initialize_result: types.InitializeResult | None = None
        self.pick: Callable[[Sequence[types.MessageActionItem]], Any] = lambda actions: (
            actions[0] if actions else None
        )
        """Answers `window/showMessageRequest`: an action, None, or an awaitable of one (a late answer)."""
        self.workspace: Path | None = None
        """The workspace folder `chorus_session` opened; documents are written there."""
        self.versions: dict[str, int] = {}
        """The version of each open document, as last sent."""

    def publishes_for(self, uri: str) -> list[list[types.Diagnostic]]:
        """Every diagnostics list published for `uri`, oldest first."""
        return [diagnostics for _when, published, diagnostics in self.publishes if published == uri]

    def open_document(self, name: str, text: str, language: str = "python") -> str:
        """Write `text` to `name` in the workspace, send didOpen, and return the document's URI."""
        assert self.workspace is not None, "the session is not started"
        path = self.workspace / name
        path.write_text(text, encoding="utf-8")
        uri = path.as_uri()
        self.versions[uri] = 1
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)
            )
        )
        return uri

    def change_document(self, uri: str, start: int, end: int, text: str) -> None:
        """Replace lines `start..end-1` (0-based, whole lines) with `text`, as the document's next version."""
        self.versions[uri] += 1
        edit_range = types.Range(
            start=types.Position(line=start, character=0), end=types.Position(line=end, character=0)
        )
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                content_changes=[types.TextDocumentContentChangePartial(range=edit_range, text=text)],
            )
        )

    async def request(self, method: str, params: Any, msg_id: str | None = None) -> Any:
        """Send a request and return its raw JSON result."""
        return await self.protocol.send_request_async(method, params, msg_id=msg_id)

    async def review_selection(self, uri: str, start_line: int, end_line: int) -> Any:
        """`chorus/reviewSelection` of the lines from `start_line` to the start of `end_line` (0-based)."""
        return await self.request("chorus/reviewSelection", selection_params(uri, start_line, end_line))

    async def code_actions_at(
        self,
        uri: str,
        where: types.Range,
        diagnostics: Sequence[types.Diagnostic] = (),
        only: list[str] | None = None,
    ) -> list[types.Command | types.CodeAction] | None:
        """`textDocument/codeAction` for `where`, with `diagnostics` (and the `only` filter) as context."""
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=where,
            context=types.CodeActionContext(diagnostics=list(diagnostics), only=only),
        )
        result = await self.text_document_code_action_async(params)
        return None if result is None else list(result)

    async def request_while_editing(
        self, model_server: FakeModelServer, method: str, params: Any, edit: Callable[[], None]
    ) -> Any:
        """Send a request, make `edit` once a model has been asked, and return the request's answer."""
        results: list[Any] = []
        asked_before = len(model_server.requests)

        async def send() -> None:
            results.append(await self.request(method, params))

        async with anyio.create_task_group() as group:
            group.start_soon(send)
            await model_server.wait_for_requests(asked_before + 1, timeout=30)
            edit()
        return results[0]


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
    async def show_message_request(
        client: ChorusTestClient, params: types.ShowMessageRequestParams
    ) -> types.MessageActionItem | None:
        client.message_requests.append(params)
        picked = client.pick(list(params.actions or []))
        if inspect.isawaitable(picked):
            picked = await picked
        return cast(types.MessageActionItem | None, picked)

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
            "CHORUS_PRELOAD": "0",  # Most tests never call a model; test_server_config covers preloading.
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
    folders: Sequence[Path] | None = None,
) -> AsyncIterator[ChorusTestClient]:
    """Start `chorus serve`, initialize it as `profile` on `workspace`, shut it down afterwards.

    `folders` are the workspace folders the client reports (default: `workspace` alone).
    """
    config = ClientServerConfig(
        server_command=SERVER_COMMAND,
        client_factory=make_client,
        server_env=server_env(workspace / ".cache", env),
    )
    client = await config.start()
    assert isinstance(client, ChorusTestClient)
    client.workspace = workspace
    if configuration is not None:
        client.set_configuration(dict(configuration), section="chorus")
    try:
        client.initialize_result = await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities(profile),
                root_uri=workspace.as_uri(),
                workspace_folders=[
                    types.WorkspaceFolder(uri=folder.as_uri(), name=folder.name)
                    for folder in (folders or [workspace])
                ],
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


def lsp_range(start_line: int, end_line: int) -> dict[str, Any]:
    """A JSON range from the start of `start_line` to the start of `end_line` (0-based)."""
    return {"start": {"line": start_line, "character": 0}, "end": {"line": end_line, "character": 0}}


def selection_params(uri: str, start_line: int, end_line: int) -> dict[str, Any]:
    """The params of a request about lines `start_line..end_line` of `uri` (JSON, as `lsp_range`)."""
    return {"textDocument": {"uri": uri}, "range": lsp_range(start_line, end_line)}


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


def review_answer(*findings: dict[str, Any]) -> str:
    """A fake model's review answer."""
    return json.dumps({"findings": list(findings)})


@dataclass(frozen=True)
class ChorusLauncher:
    """Starts `chorus serve` for one test: as its editor, on its workspace, with seats on its model server.

    `async with chorus(["claude", "codex"]) as client:` initializes with those seats (a mapping gives
    each seat's overrides, as `make_config`); without seats, with `init_options` as given.
    """

    profile: str
    workspace: Path
    model_server: FakeModelServer

    def __call__(
        self,
        seats: list[str] | Mapping[str, Mapping[str, Any]] | None = None,
        *,
        init_options: Mapping[str, Any] | None = None,
        configuration: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        folders: Sequence[Path] | None = None,
        answer_cache: bool = True,
    ) -> AbstractAsyncContextManager[ChorusTestClient]:
        """`answer_cache=False` for a test whose model answers the same question differently, or that
        counts the calls identical requests make (the cache would answer, or share one call)."""
        if seats is not None:
            init_options = config_options(make_config(self.model_server, seats))
        if not answer_cache:
            init_options = {**(init_options or {}), "cache": False}
        return chorus_session(
            self.profile,
            self.workspace,
            init_options=init_options,
            configuration=configuration,
            env=env,
            folders=folders,
        )
