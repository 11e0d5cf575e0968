"""JSON schema of Chorus's settings, generated from the pydantic models the server validates with.

Editors that validate their settings files with a JSON schema (LSP4IJ in every JetBrains IDE,
VS Code, any JSON-schema-aware editor) get completion, hover descriptions and defaults from the
very models in `orchestration.types.config`, so the schema cannot drift from what the server accepts.

    python -m orchestration.types.settings_schema > clients/jetbrains/settings.schema.json
    python -m orchestration.types.settings_schema --bare   # ChorusConfig alone (chorus.toml's shape)

The client form wraps the configuration in the `chorus` section, which is what the server asks for
with `workspace/configuration`. References are inlined and the dialect is draft-07, the newest
one every JSON-schema consumer in the editors we target understands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

from orchestration.types.config import ChorusConfig

SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
"""The `$schema` written into generated schemas."""

SETTINGS_SECTION = "chorus"
"""The configuration section the server pulls with `workspace/configuration`."""

JSONSchema = dict[str, Any]


class SchemaWithFactoryDefaults(GenerateJsonSchema):
    """Pydantic's generator, also reporting defaults that come from a `default_factory`.

    Without this, `policy.exclude` (a list built by a factory) and the `panels`/`policy` tables
    would show no default at all in the editor.
    """

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        """The static default, or the factory's value when the factory takes no arguments.

        Defaults that depend on the machine (a path in the user's data dir, such as `store.path`)
        are left out, so the schema is the same wherever it is generated.
        """
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return portable_default(factory())  # type: ignore[call-arg]
        return portable_default(schema.get("default", NoDefault))


def portable_default(value: Any) -> Any:
    """`value` without what depends on the machine: a `Path` is no default; a model drops its paths."""
    if isinstance(value, PurePath):
        return NoDefault
    if isinstance(value, BaseModel):
        paths = {name for name, item in value if isinstance(item, PurePath)}
        return value.model_dump(mode="json", exclude=paths)
    return value


def inline_references(node: Any, definitions: Mapping[str, JSONSchema]) -> Any:
    """Replace every `{"$ref": "#/$defs/Name", ...}` with the definition, keeping sibling keys.

    Chorus's models are not recursive, so full inlining terminates and yields a schema without
    `$defs`, which older draft-07 consumers handle best.
    """
    if isinstance(node, list):
        return [inline_references(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    reference = node.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/$defs/"):
        name = reference.removeprefix("#/$defs/")
        if name not in definitions:
            raise KeyError(f"schema reference {reference} has no definition")
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return {
            **inline_references(definitions[name], definitions),
            **inline_references(siblings, definitions),
        }
    return {key: inline_references(value, definitions) for key, value in node.items() if key != "$defs"}


def chorus_config_schema() -> JSONSchema:
    """The schema of one whole configuration (`chorus.toml`'s shape), references inlined."""
    generated = ChorusConfig.model_json_schema(schema_generator=SchemaWithFactoryDefaults)
    definitions: dict[str, JSONSchema] = generated.get("$defs", {})
    inlined: JSONSchema = inline_references(generated, definitions)
    return inlined


def client_settings_schema(section: str = SETTINGS_SECTION) -> JSONSchema:
    """The schema of an editor's settings: the configuration under its `chorus` section.

    Every key is optional in the editor: whatever is set overlays `chorus.toml` (tables merge,
    other values replace), and a null entry leaves the file's value in force.
    """
    configuration = chorus_config_schema()
    configuration["title"] = "Chorus"
    configuration["description"] = (
        "Chorus settings, overlaid on the workspace's chorus.toml (or [tool.chorus] in pyproject.toml). "
        "Same keys as chorus.toml: models (seats by name), panels (which seats answer each task), "
        "policy (deadlines, consensus, privacy), store (the memory) and cache (answer reuse)."
    )
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "Chorus language server settings",
        "description": (
            "Settings the Chorus language server pulls with workspace/configuration (section "
            f"'{section}'). Generated from orchestration/config.py by orchestration/settings_schema.py."
        ),
        "type": "object",
        "properties": {section: configuration},
    }


def default_client_settings(section: str = SETTINGS_SECTION) -> dict[str, Any]:
    """Settings that change nothing: empty tables, so chorus.toml (or the built-in defaults) rule.

    Concrete values here would silently override the workspace's chorus.toml, so the editor's
    settings start as the three empty tables, ready for completion from the schema.
    """
    return {section: {"models": {}, "panels": {}, "policy": {}}}


def render(document: Mapping[str, Any]) -> str:
    """The JSON text written to files: two-space indent, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the client settings schema (or, with --bare, the configuration schema) to stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.types.settings_schema",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--bare", action="store_true", help="print ChorusConfig's schema without the section")
    parser.add_argument("--section", default=SETTINGS_SECTION, help="settings section name (default: chorus)")
    options = parser.parse_args(argv)
    if options.bare:
        schema = {"$schema": SCHEMA_DIALECT, **chorus_config_schema()}
    else:
        schema = client_settings_schema(options.section)
    sys.stdout.write(render(schema))
    return 0


if __name__ == "__main__":
    sys.exit(main())
