"""Chorus configuration: the models, which seats sit on each panel, and the policy.

Layers, lowest first (`load_layers`): the user's own `chorus.toml` (`trust.user_config_file()`),
then either the file named by `--config` / `CHORUS_CONFIG` or the workspace's `chorus.toml` /
`[tool.chorus]` in `pyproject.toml` (found between the starting folder and the workspace root,
never above it), then the editor's settings (same keys). Every layer but an untrusted workspace
config is trusted; see `orchestration.privacy.trust` for what an untrusted one may not set.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestration.learning.settings import BudgetConfig, LearningConfig
from orchestration.memory.settings import CacheConfig, StoreConfig
from orchestration.privacy import trust
from orchestration.providers.gateway import GatewayConfig
from orchestration.types.sections import (
    AUTO,
    DEFAULT_EXCLUDE,
    FALLBACK_INPUT_TOKENS,
    LOCAL_PREFIX,
    AutoPanelConfig,
    FailoverConfig,
    ModelConfig,
    PanelsConfig,
    PolicyConfig,
    Task,
)

__all__ = [
    "AUTO",
    "DEFAULT_EXCLUDE",
    "FALLBACK_INPUT_TOKENS",
    "LOCAL_PREFIX",
    "AutoPanelConfig",
    "BudgetConfig",
    "ChorusConfig",
    "ConfigError",
    "FailoverConfig",
    "LoadedConfig",
    "ModelConfig",
    "PanelsConfig",
    "PolicyConfig",
    "SettingsFile",
    "Task",
    "load_config",
    "load_layers",
    "parse_config",
]

CONFIG_ENV = "CHORUS_CONFIG"
"""Environment variable naming a config file to use instead of the workspace's (a trusted source)."""


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the offending key."""


class ChorusConfig(BaseModel):
    """The whole configuration."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelConfig] = Field(default_factory=dict, description="Seats by name.")
    panels: PanelsConfig = Field(default_factory=PanelsConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    store: StoreConfig = Field(
        default_factory=StoreConfig,
        description="The memory: runs, feedback, suppressions, cache and audit (SQLite or PostgreSQL).",
    )
    cache: CacheConfig = Field(
        default_factory=CacheConfig,
        description="Reuse a seat's answer to the same prompt (`cache = false` turns it off).",
    )
    learning: LearningConfig = Field(
        default_factory=LearningConfig,
        description="Trust in each model, learnt from verdicts and agreement (`chorus trust-scores`).",
    )
    budget: BudgetConfig = Field(
        default_factory=BudgetConfig,
        description="What cloud seats may spend per request, day and month (local seats are free).",
    )
    failover: FailoverConfig = Field(
        default_factory=FailoverConfig,
        description="The circuit breaker that benches a seat whose recent calls keep failing.",
    )
    gateway: GatewayConfig = Field(
        default_factory=GatewayConfig,
        description="A LiteLLM proxy every cloud seat goes through, with a virtual key (for teams).",
    )

    @model_validator(mode="after")
    def _panels_name_known_models(self) -> ChorusConfig:
        for task in ("review", "implement", "explain"):
            for name in self.listed_panel(task):
                if name not in self.models:
                    raise ValueError(f"panels.{task} names '{name}', which is not defined under [models]")
        for name in self.panels.auto.from_:
            if name not in self.models:
                raise ValueError(f"panels.auto.from names '{name}', which is not defined under [models]")
        for seat_name, seat in self.models.items():
            for name in seat.fallbacks:
                if name not in self.models or name == seat_name:
                    raise ValueError(
                        f"models.{seat_name}.fallbacks names '{name}', "
                        "which is not another seat under [models]"
                    )
        if self.panels.arbiter is not None and self.panels.arbiter not in self.models:
            raise ValueError(
                f"panels.arbiter names '{self.panels.arbiter}', which is not defined under [models]"
            )
        return self

    def listed_panel(self, task: Task) -> list[str]:
        """The seats a task's panel lists (none when it is "auto" or not set)."""
        names: list[str] | str = getattr(self.panels, task)
        return [] if isinstance(names, str) else list(names)

    def is_auto(self, task: Task) -> bool:
        """Whether the task's seats are chosen per request (`panels.<task> = "auto"`)."""
        return bool(getattr(self.panels, task) == AUTO)

    def panel_for(self, task: Task) -> list[str]:
        """Seat names for a task: its list; for "auto" the pool routing chooses from
        (`panels.auto.from`); every configured model when neither is set."""
        names = self.panels.auto.from_ if self.is_auto(task) else self.listed_panel(task)
        return list(names) if names else list(self.models)


def describe_validation_error(error: ValidationError) -> str:
    """Turn pydantic errors into 'models.claude.timeout: Input should be …' lines."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{key}: {message}")
    return "; ".join(lines)


def parse_config(data: Mapping[str, Any], origin: str = "settings") -> ChorusConfig:
    """Validate raw settings; raise `ConfigError` naming each bad key."""
    try:
        return ChorusConfig.model_validate(dict(data))
    except ValidationError as error:
        raise ConfigError(
            f"invalid Chorus configuration in {origin}: {describe_validation_error(error)}"
        ) from None


def merge_settings(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `overlay` into `base` (tables merge, other values replace)."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_settings(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's contents; `ConfigError` (one line) when it cannot be read or parsed."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not valid TOML: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None


def chorus_table(data: Mapping[str, Any], path: Path) -> dict[str, Any] | None:
    """`[tool.chorus]` of a parsed pyproject.toml: None when absent, `ConfigError` when not a table."""
    tool = data.get("tool")
    if tool is None:
        return None
    if not isinstance(tool, Mapping):
        raise ConfigError(f"{path}: 'tool' must be a table, not {type(tool).__name__}")
    table = tool.get("chorus")
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: 'tool.chorus' must be a table, not {type(table).__name__}")
    return dict(table)


@dataclass(frozen=True, slots=True)
class SettingsFile:
    """A config file found or named, with its raw Chorus settings."""

    path: Path
    raw: dict[str, Any]
    in_pyproject: bool

    @property
    def label(self) -> str:
        """How the file is named in messages and origins."""
        return f"{self.path} [tool.chorus]" if self.in_pyproject else str(self.path)


def read_settings_file(path: Path) -> SettingsFile:
    """A named config file: a `chorus.toml`-shaped file, or a pyproject.toml's `[tool.chorus]`."""
    data = read_toml(path)
    if path.name == "pyproject.toml":
        return SettingsFile(path, chorus_table(data, path) or {}, in_pyproject=True)
    return SettingsFile(path, data, in_pyproject=False)


def find_settings(start: Path, root: Path | None = None) -> SettingsFile | None:
    """The first `chorus.toml` or `[tool.chorus]` from `start` up to `root` (inclusive), never above it.

    The server's root is its workspace folder. The CLI's is the git repository holding the file (the
    nearest folder with a `.git`), else the current directory when it holds the file, else the file's
    own folder. Without `root`, or when `start` is not inside it, only `start` itself is searched.
    A malformed file on the way raises `ConfigError`.
    """
    start = start.resolve()
    folders = [start]
    if root is not None:
        root = root.resolve()
        if start.is_relative_to(root):
            folders = [start, *[p for p in start.parents if p.is_relative_to(root)]]
        else:
            folders = [root]
    for folder in folders:
        candidate = folder / "chorus.toml"
        if candidate.is_file():
            return SettingsFile(candidate, read_toml(candidate), in_pyproject=False)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            table = chorus_table(read_toml(pyproject), pyproject)
            if table is not None:
                return SettingsFile(pyproject, table, in_pyproject=True)
    return None


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """The validated configuration and what it was built from."""

    config: ChorusConfig
    origin: str | None
    """The layers, e.g. '/ws/chorus.toml (untrusted) + editor settings'; None for defaults alone."""
    workspace_file: SettingsFile | None
    """The workspace config found (None when there was none, or `--config` named one)."""
    trusted: bool
    """False when a workspace config was found and the user has not trusted it."""
    ignored: tuple[str, ...]
    """Dotted keys of the untrusted workspace config that were ignored."""
    notice: str | None
    """The one message to show about an untrusted workspace config, when something was ignored."""


def explicit_config(config_file: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The file named by `--config`, else by `CHORUS_CONFIG`."""
    if config_file is not None:
        return config_file
    named = environ.get(CONFIG_ENV, "").strip()
    return Path(named).expanduser() if named else None


def load_layers(
    start: Path | None = None,
    root: Path | None = None,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    workspace_trusted: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Load, layer and validate the configuration (see the module docstring for the layers).

    `workspace_trusted` is the editor's word on the workspace (True/False); None consults the records
    of `chorus trust`. Raises `ConfigError` (one line, naming the file or key) for anything malformed.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    labels: list[str] = []
    user_file = trust.user_config_file()
    if user_file.is_file():
        raw = read_toml(user_file)
        labels.append(str(user_file))
    found: SettingsFile | None = None
    trusted, notice = True, None
    ignored: list[str] = []
    named = explicit_config(config_file, environ)
    if named is not None:
        explicit = read_settings_file(named)
        raw = merge_settings(raw, explicit.raw)
        labels.append(explicit.label)
    elif start is not None or root is not None:
        found = find_settings(start or root or Path.cwd(), root)
    if found is not None:
        if workspace_trusted is None:
            trusted = trust.is_trusted(found.path, trust.settings_digest(found.raw))
        else:
            trusted = workspace_trusted
        layer = found.raw
        if not trusted:
            layer, ignored = trust.strip_untrusted(found.raw, raw)
            if ignored:
                notice = trust.untrusted_notice(found.label, ignored, found.path.parent)
        raw = merge_settings(raw, layer)
        labels.append(found.label if trusted else f"{found.label} (untrusted)")
    if overrides:
        raw = merge_settings(raw, overrides)
        labels.append("editor settings")
    origin = " + ".join(labels) or None
    config = parse_config(raw, origin or "defaults")
    return LoadedConfig(config, origin, found, trusted, tuple(ignored), notice)


def load_config(
    workspace: Path | None = None,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    start: Path | None = None,
    workspace_trusted: bool | None = None,
) -> tuple[ChorusConfig, str | None]:
    """`load_layers` with `workspace` as the root (and, unless given, the start): config and origin."""
    loaded = load_layers(
        start or workspace, workspace, config_file, overrides, workspace_trusted=workspace_trusted
    )
    return loaded.config, loaded.origin
