"""`chorus serve` startup and configuration: chorus.toml, initializationOptions, client settings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
from lsprotocol import types

from tests.fake_models import FakeModelServer, make_config
from tests.lsp_client import ChorusLauncher, ChorusTestClient, chorus_session, config_options, wait_until


async def models_answer(client: ChorusTestClient) -> Any:
    """The server's answer to `chorus/models`."""
    return await client.request("chorus/models", {})


async def panels_become(client: ChorusTestClient, expected: dict[str, list[str]]) -> None:
    """Wait until `chorus/models` reports these panels per seat (settings apply asynchronously)."""

    async def current() -> dict[str, list[str]]:
        return {row["name"]: list(row["panels"]) for row in (await models_answer(client))["models"]}

    with anyio.fail_after(10):
        while (found := await current()) != expected:  # noqa: ASYNC110 - polling the server
            await anyio.sleep(0.05)
    assert found == expected


async def test_initialize_answers_at_once_with_every_capability(chorus: ChorusLauncher) -> None:
    started = time.monotonic()
    async with chorus() as client:
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
    chorus: ChorusLauncher, model_server: FakeModelServer, tmp_path: Path
) -> None:
    (tmp_path / "chorus.toml").write_text(
        f'[models.claude]\nmodel = "openai/claude"\napi_base = "{model_server.base_url}"\n'
        f'[models.codex]\nmodel = "openai/codex"\napi_base = "{model_server.base_url}"\n'
        '[panels]\nreview = ["claude", "codex"]\n',
        encoding="utf-8",
    )
    options = {"panels": {"review": ["claude"]}, "models": {"gemini": {"model": "openai/gemini"}}}
    async with chorus(init_options=options) as client:
        rows = {row["name"]: row for row in (await models_answer(client))["models"]}
        assert sorted(rows) == ["claude", "codex", "gemini"]
        assert rows["claude"]["panels"][0] == "review" and "review" not in rows["codex"]["panels"]
        origin = (await models_answer(client))["origin"]
        assert "chorus.toml" in origin and "editor settings" in origin


async def test_client_settings_override_initialization_options(chorus: ChorusLauncher) -> None:
    pulled = {"panels": {"review": ["codex"]}}
    async with chorus(["claude", "codex"], configuration=pulled) as client:
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


async def test_invalid_settings_name_the_key_and_keep_the_last_good_ones(chorus: ChorusLauncher) -> None:
    async with chorus(["claude"]) as client:
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


async def test_invalid_initialization_options_are_reported(chorus: ChorusLauncher) -> None:
    async with chorus(init_options={"models": {"a": {"modle": "x"}}}) as client:
        message = await wait_until(
            lambda: next((m for m in client.messages if m.type == types.MessageType.Error), None)
        )
        assert "models.a" in message.message
        answer = await models_answer(client)
        assert answer["models"] == []


async def test_the_model_client_library_loads_in_the_background_after_start(
    profile: str, tmp_path: Path, model_server: FakeModelServer
) -> None:
    options = config_options(make_config(model_server, ["claude"]))
    async with chorus_session(profile, tmp_path, init_options=options, env={"CHORUS_PRELOAD": "1"}) as client:
        with anyio.fail_after(60):
            while not (await models_answer(client))["providers_loaded"]:  # noqa: ASYNC110 - polling
                await anyio.sleep(0.2)
        assert not model_server.requests, "preloading calls no model"


async def test_preloading_can_be_turned_off(chorus: ChorusLauncher) -> None:
    async with chorus(["claude"]) as client:  # The tests' environment has CHORUS_PRELOAD=0.
        await anyio.sleep(1.5)
        assert (await models_answer(client))["providers_loaded"] is False
