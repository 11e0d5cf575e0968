"""What every MCP tool call starts from: the options `chorus mcp` was started with, the config and
workspace for a file (loaded exactly as the CLI loads them: layers, `chorus trust`, the local panel
when nothing is set), and the one-line refusals a tool returns instead of a traceback.

Config and trust records are read on each call, so a `chorus trust` or an edited chorus.toml takes
effect on the next tool call without restarting the server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mcp_types import CallToolResult, TextContent

from faces.cli.main import workspace_root
from faces.cli.targets import UsageError
from orchestration.providers.agent_seat import REFUSAL, inside_agent_seat
from orchestration.providers.local_panel import choose_config
from orchestration.types.config import ChorusConfig, ConfigError, LoadedConfig, load_layers
from orchestration.types.errors import ChorusError

REFUSED: Final = (UsageError, ConfigError, ChorusError)
"""What a tool turns into an error result of one line: bad arguments, a bad config, a store that
failed, a panel that cannot be made. Anything else is a bug: the SDK answers a generic line."""


class ToolRefusal(Exception):
    """A tool call that cannot be carried out as asked (its message is the one line the agent reads)."""


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """`chorus mcp --config FILE --workspace DIR`: applied to every tool call."""

    config_file: Path | None = None
    workspace: Path | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    """A tool call's configuration, the workspace its run is recorded under, and notices to pass on."""

    config: ChorusConfig
    workspace: Path
    notices: tuple[str, ...]


def one_line(text: str) -> str:
    """`text` with its whitespace (newlines included) collapsed to single spaces."""
    return " ".join(text.split())


def error_result(error: BaseException | str) -> CallToolResult:
    """A tool error the agent reads: one line, `is_error` set, the session goes on."""
    return CallToolResult(content=[TextContent(type="text", text=one_line(str(error)))], is_error=True)


def refuse_inside_agent_seat() -> None:
    """Raise `ToolRefusal` when this server runs inside an agent seat Chorus started."""
    if inside_agent_seat(os.environ):
        raise ToolRefusal(REFUSAL)


def load(options: ServeOptions, anchor: Path) -> tuple[LoadedConfig, Path]:
    """The layered config for `anchor` and the workspace root its search stopped at (as `chorus`)."""
    root = (
        options.workspace.resolve() if options.workspace is not None else workspace_root(anchor, Path.cwd())
    )
    return load_layers(anchor, root, options.config_file), root


def resolve(options: ServeOptions, anchor: Path) -> Resolved:
    """Config and workspace for a run on a file in `anchor`, the local panel when no model is set."""
    loaded, root = load(options, anchor)
    workspace = options.workspace
    if workspace is None and loaded.workspace_file is not None:
        workspace = loaded.workspace_file.path.parent
    config, notice = choose_config(loaded.config, os.environ)
    notices = tuple(note for note in (loaded.notice, notice) if note)
    return Resolved(config, (workspace or root).resolve(), notices)


def file_path(path: str) -> Path:
    """The file a tool names: `~` expanded, relative to the server's working directory."""
    if not path.strip():
        raise ToolRefusal("path is empty: name a file, e.g. src/app.py")
    return Path(path).expanduser()
