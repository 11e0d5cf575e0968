"""Configuration: chorus.toml, overlaid by the client's settings; invalid settings never stick.

Precedence, lowest first: the user's own `chorus.toml`, the workspace's `chorus.toml` (or
`[tool.chorus]`) at the workspace root only (or the file `CHORUS_CONFIG` names instead),
`initializationOptions`, then the client's `chorus` section (pulled with
`workspace/configuration`, or pushed with `workspace/didChangeConfiguration`).
An invalid result is reported with `window/showMessage` naming the key, and the
last good configuration stays in force (defaults, with the error as the problem every
request reports, when there was none yet): `initialize` never fails because of a config.

Workspace trust: `initializationOptions.workspaceTrusted` (a boolean the VS Code client sends
from `vscode.workspace.isTrusted`) says whether the editor trusts the workspace; without it the
records of `chorus trust` decide. An untrusted workspace config loses its `api_base`,
`api_key_env` and commands; the server says so once (showMessage + log) and `chorus/models`
reports the origin as `... (untrusted)`.

Once initialized, the server imports the model client library (litellm, ~4 s) in a
worker thread, so the user's first request does not wait for it; `CHORUS_PRELOAD=0`
in the server's environment turns that off.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from lsprotocol import types
from pygls.uris import to_fs_path

from orchestration.providers.chat import ensure_litellm
from orchestration.providers.local_panel import choose_config
from orchestration.types.config import ChorusConfig, ConfigError, Task, load_layers, merge_settings
from orchestration.types.errors import NoPanelError
from server.messages import CONFIG_SECTION

if TYPE_CHECKING:
    from server.app import ChorusLanguageServer

logger = logging.getLogger(__name__)

TRUST_OPTION = "workspaceTrusted"
"""The `initializationOptions` key by which the editor says whether it trusts the workspace."""
PRELOAD_ENV = "CHORUS_PRELOAD"
"""Environment variable: "0", "false", "no" or "off" keeps the model client library unloaded until needed."""


def preload_wanted(environ: Mapping[str, str]) -> bool:
    """Whether to import the model client library right after start-up (the default)."""
    return environ.get(PRELOAD_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def without_nulls(value: Any) -> Any:
    """Settings with null entries removed: an unset client setting keeps the file's value."""
    if isinstance(value, Mapping):
        return {str(key): without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def settings_from(value: Any) -> dict[str, Any]:
    """Client settings as a dict: accepts `{...}` or `{"chorus": {...}}`; anything else is empty."""
    if not isinstance(value, Mapping):
        return {}
    inner = value.get(CONFIG_SECTION)
    chosen = inner if isinstance(inner, Mapping) else value
    cleaned: dict[str, Any] = without_nulls(chosen)
    cleaned.pop(TRUST_OPTION, None)
    return cleaned


def trust_from(value: Any) -> bool | None:
    """`workspaceTrusted` from initializationOptions (top level or in the `chorus` section), if a boolean."""
    if not isinstance(value, Mapping):
        return None
    inner = value.get(CONFIG_SECTION)
    for table in (value, inner if isinstance(inner, Mapping) else {}):
        flag = table.get(TRUST_OPTION)
        if isinstance(flag, bool):
            return flag
    return None


def workspace_root(params: types.InitializeParams) -> Path | None:
    """The workspace folder from rootUri, the first workspace folder, or rootPath."""
    uri = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
    if uri:
        path = to_fs_path(uri)
        return Path(path) if path else None
    return Path(params.root_path) if params.root_path else None


@dataclass
class SettingsState:
    """The configuration in force and the layers it was built from."""

    workspace: Path | None = None
    init_options: dict[str, Any] = field(default_factory=dict)
    client_settings: dict[str, Any] = field(default_factory=dict)
    workspace_trusted: bool | None = None
    """The editor's word on workspace trust (None: the records of `chorus trust` decide)."""
    config: ChorusConfig | None = None
    origin: str | None = None
    notice: str | None = None
    problem: str | None = None
    trust_notice: str | None = None
    """The notice about the untrusted workspace config in force, shown once per distinct text."""

    def reload(self, ls: ChorusLanguageServer) -> bool:
        """Rebuild the configuration from every layer; on error keep the old one and tell the user."""
        overrides = merge_settings(self.init_options, self.client_settings)
        try:
            loaded = load_layers(
                self.workspace,
                self.workspace,
                None,
                overrides or None,
                workspace_trusted=self.workspace_trusted,
            )
        except Exception as error:  # A config, however broken, must not fail the server.
            if not isinstance(error, ConfigError):
                logger.exception("loading the configuration failed")
            self.report_config_error(ls, error)
            return False
        if loaded.notice and loaded.notice != self.trust_notice:
            ls.show_message(f"Chorus: {loaded.notice}", types.MessageType.Warning)
        self.trust_notice = loaded.notice
        try:
            chosen, notice = choose_config(loaded.config, os.environ)
            problem = None
        except NoPanelError as error:
            chosen, notice, problem = loaded.config, None, str(error)
        origin = loaded.origin
        self.config, self.origin, self.notice, self.problem = chosen, origin, notice, problem
        logger.info("configuration from %s: %d model(s)", origin or "defaults", len(chosen.models))
        if notice:
            logger.info("%s", notice)
        return True

    def report_config_error(self, ls: ChorusLanguageServer, error: Exception) -> None:
        """Tell the user; keep the last good config, or run on defaults with the error as the problem."""
        message = " ".join(str(error).split()) or type(error).__name__
        kept = " (the previous settings stay in force)" if self.config is not None else ""
        ls.show_message(f"Chorus: {message}{kept}", types.MessageType.Error)
        if self.config is None:
            self.config, self.origin, self.notice = ChorusConfig(), None, None
            self.problem = f"Chorus cannot use its configuration: {message}"

    def require_config(self) -> ChorusConfig:
        """The configuration to run with; raises `NoPanelError` when there is no usable panel."""
        if self.problem is not None:
            raise NoPanelError(self.problem)
        if self.config is None:
            raise NoPanelError("Chorus has no configuration yet (was the server initialized?)")
        return self.config

    def panel_size(self, task: Task) -> int:
        """How many seats answer `task` with the configuration in force."""
        return len(self.config.panel_for(task)) if self.config is not None else 0


async def initialize(ls: ChorusLanguageServer, params: types.InitializeParams) -> None:
    """Read the workspace root and `initializationOptions`, then load the configuration."""
    ls.attach_client_logging()
    ls.settings.workspace = workspace_root(params)
    ls.settings.workspace_trusted = trust_from(params.initialization_options)
    ls.settings.init_options = settings_from(params.initialization_options)
    ls.settings.reload(ls)


async def initialized(ls: ChorusLanguageServer, params: types.InitializedParams) -> None:
    """Ask for change notifications, then pull the client's `chorus` settings."""
    if ls.supports("workspace.did_change_configuration.dynamic_registration"):
        registration = types.Registration(
            id=str(uuid.uuid4()), method=types.WORKSPACE_DID_CHANGE_CONFIGURATION
        )
        try:
            with anyio.fail_after(5):
                await ls.client_register_capability_async(
                    types.RegistrationParams(registrations=[registration])
                )
        except Exception as error:
            logger.info("client did not register didChangeConfiguration: %s", error)
    if await pull_client_settings(ls):
        ls.settings.reload(ls)
    if preload_wanted(os.environ):
        ls.run_in_background(ensure_litellm(), "loading the model client library")


async def pull_client_settings(ls: ChorusLanguageServer) -> bool:
    """Fetch the `chorus` section with `workspace/configuration`; False if the client cannot."""
    if not ls.supports("workspace.configuration"):
        return False
    request = types.ConfigurationParams(items=[types.ConfigurationItem(section=CONFIG_SECTION)])
    try:
        with anyio.fail_after(5):
            answer = await ls.workspace_configuration_async(request)
    except Exception as error:
        logger.warning("workspace/configuration failed: %s", error)
        return False
    ls.settings.client_settings = settings_from(answer[0] if answer else None)
    return True


async def workspace_did_change_configuration(
    ls: ChorusLanguageServer, params: types.DidChangeConfigurationParams
) -> None:
    """Re-read everything: pushed settings when the client sends them, pulled ones otherwise."""
    pushed = params.settings if isinstance(params.settings, Mapping) else None
    if pushed is not None and isinstance(pushed.get(CONFIG_SECTION), Mapping):
        ls.settings.client_settings = settings_from(pushed)
    else:
        await pull_client_settings(ls)
    ls.settings.reload(ls)


def register(server: ChorusLanguageServer) -> None:
    """Register the configuration handlers."""
    server.feature(types.INITIALIZE)(initialize)
    server.feature(types.INITIALIZED)(initialized)
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(workspace_did_change_configuration)
