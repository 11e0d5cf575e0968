"""The configuration in force: chorus.toml, overlaid by the client's settings; invalid settings never stick.

Precedence, lowest first: the user's own `chorus.toml`, the workspace's `chorus.toml` (or
`[tool.chorus]`) at the workspace root only (or the file `CHORUS_CONFIG` names instead),
`initializationOptions`, then the client's `chorus` section. An invalid result is reported
with `window/showMessage` naming the key, and the last good configuration stays in force
(defaults, with the error as the problem every request reports, when there was none yet).

Workspace trust: `initializationOptions.workspaceTrusted` (a boolean the VS Code client sends
from `vscode.workspace.isTrusted`) says whether the editor trusts the workspace; without it the
records of `chorus trust` decide. An untrusted workspace config loses its `api_base`,
`api_key_env` and commands; the server says so once (showMessage + log) and `chorus/models`
reports the origin as `... (untrusted)`. The handlers that feed this state are in
`server.features.configuration`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from orchestration.machine_form import JSONObject
from orchestration.providers.local_panel import choose_config
from orchestration.types.config import ChorusConfig, ConfigError, load_layers, merge_settings
from orchestration.types.errors import NoPanelError
from server.messages import CONFIG_SECTION

if TYPE_CHECKING:
    from server.language_server import ChorusLanguageServer

logger = logging.getLogger(__name__)

TRUST_OPTION = "workspaceTrusted"
"""The `initializationOptions` key by which the editor says whether it trusts the workspace."""


def without_nulls(value: Any) -> Any:
    """Settings with null entries removed: an unset client setting keeps the file's value."""
    if isinstance(value, Mapping):
        return {str(key): without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def settings_from(value: Any) -> JSONObject:
    """Client settings as a dict: accepts `{...}` or `{"chorus": {...}}`; anything else is empty."""
    if not isinstance(value, Mapping):
        return {}
    inner = value.get(CONFIG_SECTION)
    chosen = inner if isinstance(inner, Mapping) else value
    cleaned: JSONObject = without_nulls(chosen)
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


@dataclass(slots=True)
class SettingsState:
    """The configuration in force and the layers it was built from."""

    workspace: Path | None = None
    init_options: JSONObject = field(default_factory=dict)
    client_settings: JSONObject = field(default_factory=dict)
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
