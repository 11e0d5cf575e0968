"""Chorus configuration: the models, which seats sit on each panel, and the policy.

Read from `chorus.toml` at the workspace root, `[tool.chorus]` in `pyproject.toml`,
or an explicit file; editors may overlay their own settings (same keys).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Task = Literal["review", "implement", "explain"]

DEFAULT_EXCLUDE = [".env", ".env.*", "*.pem", "*.key", "**/secrets/**", "id_rsa*", "*.p12"]


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the offending key."""


class ModelConfig(BaseModel):
    """One panel seat: a model reachable through litellm."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        description="Any litellm model id, e.g. 'anthropic/claude-sonnet-4-5' or 'local/qwen'."
    )
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the API key. Keys never live in config files.",
    )
    api_base: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible or provider endpoint (Ollama, vLLM, proxy).",
    )
    timeout: float = Field(default=60.0, gt=0, description="Seconds this seat may take for one request.")
    temperature: float = Field(default=0.2, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(default=2048, gt=0, description="Upper bound on the answer's length in tokens.")
    weight: float = Field(
        default=1.0, gt=0, description="How much this seat's vote counts in severity and ranking."
    )
    retries: int = Field(
        default=0, ge=0, le=5, description="Retries on transient errors, within the timeout."
    )
    instructions: str | None = Field(
        default=None, description="Extra reviewer instructions for this seat (e.g. 'focus on security')."
    )
    max_input_tokens: int | None = Field(
        default=None,
        gt=0,
        description="Prompt tokens this seat accepts (unset: litellm's figure for the model, else 32768).",
    )


class PanelsConfig(BaseModel):
    """Which seats answer each task, and the optional arbiter."""

    model_config = ConfigDict(extra="forbid")

    review: list[str] = Field(default_factory=list, description="Seats that review code.")
    implement: list[str] = Field(default_factory=list, description="Seats that implement stubs.")
    explain: list[str] = Field(default_factory=list, description="Seats that explain diagnostics.")
    arbiter: str | None = Field(default=None, description="Seat that synthesizes the merged answer.")


class PolicyConfig(BaseModel):
    """Deadlines, consensus thresholds and privacy rules."""

    model_config = ConfigDict(extra="forbid")

    deadline: float = Field(
        default=90.0, gt=0, description="Seconds for a whole request, all seats together."
    )
    min_agreement: int = Field(
        default=2,
        ge=1,
        description="With 3+ seats, findings with fewer votes are kept at Information severity.",
    )
    quorum: int | None = Field(
        default=None, ge=1, description="Answers needed before stragglers get only `grace` more seconds."
    )
    grace: float = Field(
        default=0.3, ge=0, description="Seconds to wait for stragglers once the quorum answered."
    )
    exclude: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDE), description="Globs of files never sent to any model."
    )
    local_only: list[str] = Field(
        default_factory=list, description="Globs of files sent only to local models (`local/...`)."
    )
    validate_command: str | None = Field(
        default=None,
        description="Command run on a temporary copy with a candidate applied, e.g. 'pytest -q'.",
    )
    validate_timeout: float = Field(default=60.0, gt=0, description="Seconds the validate_command may run.")
    max_file_bytes: int = Field(
        default=1_000_000, gt=0, description="Files larger than this are refused before anything is sent."
    )
    max_parallel_calls: int = Field(
        default=64, ge=1, description="Model calls in flight at once, per process."
    )


class ChorusConfig(BaseModel):
    """The whole configuration."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelConfig] = Field(default_factory=dict, description="Seats by name.")
    panels: PanelsConfig = Field(default_factory=PanelsConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)

    @model_validator(mode="after")
    def _panels_name_known_models(self) -> ChorusConfig:
        for task in ("review", "implement", "explain"):
            for name in getattr(self.panels, task):
                if name not in self.models:
                    raise ValueError(f"panels.{task} names '{name}', which is not defined under [models]")
        if self.panels.arbiter is not None and self.panels.arbiter not in self.models:
            raise ValueError(
                f"panels.arbiter names '{self.panels.arbiter}', which is not defined under [models]"
            )
        return self

    def panel_for(self, task: Task) -> list[str]:
        """Seat names for a task; every configured model when the panel is not set."""
        names: list[str] = getattr(self.panels, task)
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


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None


def find_settings(workspace: Path) -> tuple[dict[str, Any], str | None]:
    """Raw settings from `chorus.toml` or `[tool.chorus]` in the workspace (or a parent)."""
    for folder in (workspace, *workspace.parents):
        candidate = folder / "chorus.toml"
        if candidate.is_file():
            return _read_toml(candidate), str(candidate)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            table = _read_toml(pyproject).get("tool", {}).get("chorus")
            if isinstance(table, dict):
                return table, f"{pyproject} [tool.chorus]"
    return {}, None


def load_config(
    workspace: Path | None = None,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[ChorusConfig, str | None]:
    """Load and validate the configuration; returns it with a description of where it came from."""
    origin: str | None
    if config_file is not None:
        raw, origin = _read_toml(config_file), str(config_file)
        raw = raw.get("tool", {}).get("chorus", raw) if config_file.name == "pyproject.toml" else raw
    else:
        raw, origin = find_settings((workspace or Path.cwd()).resolve())
    if overrides:
        raw = merge_settings(raw, overrides)
        origin = f"{origin} + editor settings" if origin else "editor settings"
    return parse_config(raw, origin or "defaults"), origin
