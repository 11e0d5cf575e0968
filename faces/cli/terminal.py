"""Everything the CLI prints goes through here: text from models, proxies and paths is shown, never obeyed.

Rich interprets `[...]` as markup and `:name:` as emoji, and a terminal obeys escape sequences. So
each template's values go through `shown()`: terminal control sequences and C0/C1 control characters
(except newline and tab) are removed, then Rich markup is escaped. `say()` is the one way the CLI
prints a line; `plain()` gives cleaned text for renderables that do not read markup (Markdown, Text).
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.markup import escape

CONTROL_SEQUENCE = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]                  # CSI: ESC [ params final (cursor moves, ESC[2J, colours)
    | \x9b[0-?]*[ -/]*[@-~]                    # CSI introduced by the C1 byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])  # OSC / DCS / SOS / PM / APC: window titles, hyperlinks...
      [^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?    # ...up to BEL or ST (or the end of the text)
    | \x1b[ -/]*[0-~]                          # any other escape sequence
    """,
    re.VERBOSE,
)
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 and C1 controls and DEL, except tab (\\x09) and newline (\\x0a)."""


def plain(text: object) -> str:
    """`text` as a string with terminal control sequences and control characters removed."""
    value = str(text).replace("\r\n", "\n")
    return CONTROL_CHARACTER.sub("", CONTROL_SEQUENCE.sub("", value))


def shown(text: object) -> str:
    """`text` made safe to place inside a Rich markup template: cleaned, then markup-escaped."""
    return escape(plain(text))


def say(console: Console, template: str, *values: Any, **options: Any) -> None:
    """Print `template` (Chorus's own markup) with each `{}` filled by a value shown literally."""
    console.print(template.format(*(shown(value) for value in values)), **options)


def make_console(*, stderr: bool = False) -> Console:
    """A console that never turns `:name:` into emoji nor highlights numbers and paths."""
    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)
