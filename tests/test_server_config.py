"""`chorus serve` startup and configuration: chorus.toml, initializationOptions, client settings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from lsprotocol import types

from tests.fake_models import FakeModelServer, make_config
from tests.lsp_client import CLIENT_PROFILES, ChorusTestClient, chorus_session, config_options, wait_until

pytestmark = pytest.mark.parametrize("profile", CLIENT_PROFILES)


async def models_answer(client: ChorusTestClient) -> Any:
    """The server's answer to `chorus/models`."""
    return await client.protocol.send_request_async("chorus/models", {})


async def panels_become(client: ChorusTestClient, expected: dict[str, list[str]]) -> None:
    """Wait until `chorus/models` reports these panels per seat (settings apply asynchronously)."""

    async def current() -> dict[str, list[str]]:
        return {row["name"]: list(row["panels"]) for row in (await models_answer(client))["models"]}

    with anyio.fail_after(10):
        while (found := await current()) != expected:  # noqa: ASYNC110 - polling the server
            await anyio.sleep(0.05)
    assert found == expected


async def test_initialize_answers_at_once_with_every_capability(profile: str, tmp_path: Path) -> None:
    started = time.monotonic()
    async with chorus_session(profile, tmp_path) as client:
        elapsed = time.monotonic() - started
        assert elapsed < 10, f"initialize took {elapsed:.1f} s"
        assert client.initialize_result is not None
        capabilities = client.initialize_result.capabilities
        assert capabilities.execute_command_provider is not None
        assert set(capabilities.execute_command_provider.commands) >= {
            "chorus.reviewSelection",
            "chorus.implementStub",
            "chorus.explainDiagnostics",
            "chorus.applyEdit",
        }
        assert isinstance(capabilities.code_action_provider, types.CodeActionOptions)
        assert types.CodeActionKind.QuickFix in (capabilities.code_action_provider.code_action_kinds or [])
        sync = capabilities.text_document_sync
        assert isinstance(sync, types.TextDocumentSyncOptions)
        assert sync.change == types.TextDocumentSyncKind.Incremental and sync.open_close
        answer = await models_answer(client)
        assert answer["origin"] == "defaults"
        assert answer["models"] or answer["problem"], "without models, the problem is reported"


async def test_config_from_toml_overlaid_by_initialization_options(
    profile: str, tmp_path: Path, model_server: FakeModelServer
) -> None:
    (tmp_path / "chorus.toml").write_text(
        f'[models.claude]\nmodel = "openai/claude"\napi_base = "{model_server.base_url}"\n'
        f'[models.codex]\nmodel = "openai/codex"\napi_base = "{model_server.base_url}"\n'
        '[panels]\nreview = ["claude", "codex"]\n',
        encoding="utf-8",
    )
    options = {"panels": {"review": ["claude"]}, "models": {"gemini": {"model": "openai/gemini"}}}
    async with chorus_session(profile, tmp_path, init_options=options) as client:
        rows = {row["name"]: row for row in (await models_answer(client))["models"]}
        assert sorted(rows) == ["claude", "codex", "gemini"]
        assert rows["claude"]["panels"][0] == "review" and "review" not in rows["codex"]["panels"]
        origin = (await models_answer(client))["origin"]
        assert "chorus.toml" in origin and "editor settings" in origin


async def test_client_settings_override_initialization_options(
    profile: str, tmp_path: Path, model_server: FakeModelServer
) -> None:
    init = config_options(make_config(model_server, ["claude", "codex"]))
    pulled = {"panels": {"review": ["codex"]}}
    async with chorus_session(profile, tmp_path, init_options=init, configuration=pulled) as client:
        everything = ["review", "implement", "explain"]
        assert client.capabilities is not None
        if client.capabilities.workspace and client.capabilities.workspace.configuration:
            # workspace/configuration (pulled after `initialized`) overrides initializationOptions.
            await panels_become(client, {"claude": ["implement", "explain"], "codex": everything})
        else:
            await panels_become(client, {"claude": everything, "codex": everything})
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"chorus": {"panels": {"review": ["claude"]}}})
        )
        await panels_become(client, {"claude": everything, "codex": ["implement", "explain"]})


async def test_invalid_settings_name_the_key_and_keep_the_last_good_ones(
    profile: str, tmp_path: Path, model_server: FakeModelServer
) -> None:
    init = config_options(make_config(model_server, ["claude"]))
    async with chorus_session(profile, tmp_path, init_options=init) as client:
        bad = {"chorus": {"models": {"claude": {"model": "openai/claude", "timeout": -1}}, "polcy": {}}}
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=bad))
        message = await wait_until(
            lambda: next((m for m in client.messages if m.type == types.MessageType.Error), None)
        )
        assert "models.claude.timeout" in message.message and "polcy" in message.message
        await wait_until(lambda: [m for m in client.log_messages if "models.claude.timeout" in m.message])
        answer = await models_answer(client)
        assert [row["name"] for row in answer["models"]] == ["claude"], (
            "the last good configuration stays in force"
        )


async def test_invalid_initialization_options_are_reported(profile: str, tmp_path: Path) -> None:
    async with chorus_session(profile, tmp_path, init_options={"models": {"a": {"modle": "x"}}}) as client:
        message = await wait_until(
            lambda: next((m for m in client.messages if m.type == types.MessageType.Error), None)
        )
        assert "models.a" in message.message
        answer = await models_answer(client)
        assert answer["models"] == []
