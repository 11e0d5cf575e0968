"""Configuration: where it is read from, how editor settings overlay it, how errors name keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.config import ConfigError, load_config, merge_settings, parse_config

CHORUS_TOML = """
[models.claude]
model = "anthropic/claude-sonnet-4-5"
api_key_env = "ANTHROPIC_API_KEY"
[models.codex]
model = "openai/gpt-5-codex"
weight = 2.0
[panels]
review = ["claude", "codex"]
arbiter = "claude"
[policy]
deadline = 30
"""


def test_chorus_toml_is_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "chorus.toml").write_text(CHORUS_TOML)
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    config, origin = load_config(workspace=tmp_path / "src" / "pkg")
    assert origin == str(tmp_path / "chorus.toml")
    assert config.models["codex"].weight == 2.0
    assert config.panel_for("review") == ["claude", "codex"]
    assert config.panel_for("implement") == ["claude", "codex"]  # unset panel: every model
    assert config.panels.arbiter == "claude"
    assert config.policy.deadline == 30


def test_pyproject_tool_chorus_table(tmp_path: Path) -> None:
    body = CHORUS_TOML.replace("[models.", "[tool.chorus.models.").replace("[panels]", "[tool.chorus.panels]")
    body = body.replace("[policy]", "[tool.chorus.policy]")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n' + body)
    config, origin = load_config(workspace=tmp_path)
    assert origin is not None and origin.endswith("[tool.chorus]")
    assert set(config.models) == {"claude", "codex"}


def test_editor_settings_override_the_file(tmp_path: Path) -> None:
    (tmp_path / "chorus.toml").write_text(CHORUS_TOML)
    overrides = {"policy": {"deadline": 5}, "models": {"codex": {"timeout": 7}}}
    config, origin = load_config(workspace=tmp_path, overrides=overrides)
    assert config.policy.deadline == 5
    assert config.models["codex"].timeout == 7 and config.models["codex"].weight == 2.0
    assert origin is not None and origin.endswith("+ editor settings")


def test_explicit_config_file(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    path.write_text(CHORUS_TOML)
    config, origin = load_config(workspace=Path("/"), config_file=path)
    assert origin == str(path) and "claude" in config.models


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"models": {"a": {"model": "x", "timout": 3}}}, "models.a.timout: unknown key"),
        (
            {"models": {"a": {"model": "x", "timeout": "soon"}}},
            "models.a.timeout: Input should be a valid number",
        ),
        ({"models": {"a": {"model": "x"}}, "panels": {"review": ["b"]}}, "panels.review names 'b'"),
        ({"policy": {"min_agreement": 0}}, "policy.min_agreement"),
        ({"models": {"a": {}}}, "models.a.model: Field required"),
    ],
)
def test_errors_name_the_bad_key(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(settings, "chorus.toml")
    assert message in str(caught.value)
    assert "chorus.toml" in str(caught.value)


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    (tmp_path / "chorus.toml").write_text("[models.a\nmodel = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(workspace=tmp_path)


def test_merge_settings_is_deep() -> None:
    merged = merge_settings({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": 3}, "d": [2]})
    assert merged == {"a": {"b": 1, "c": 3}, "d": [2]}
