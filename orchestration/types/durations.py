"""Durations as users type them: "30d", "12h", "90m", "45s", "2w", or a number of seconds.

One reader for every face: the CLI's and the MCP face's `--since`/`since`, the language server's
`since` params, and any config value that is a window of time.
"""

from __future__ import annotations

import re
from typing import Final

DURATION: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", re.IGNORECASE)
UNIT_SECONDS: Final = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
ALL: Final = "all"
"""The window that is no window: the whole history."""


def seconds_in(value: object) -> float:
    """A duration in seconds: a positive number, or "30d", "12h", "90m", "45s", "2w"; ValueError if not."""
    if isinstance(value, str) and (match := DURATION.fullmatch(value)):
        seconds = float(match[1]) * UNIT_SECONDS[match[2].lower()]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"not a duration: {value!r}")
    if not 0 < seconds < 1e12:
        raise ValueError(f"not a positive duration: {value!r}")
    return seconds


def window_seconds(text: str) -> float | None:
    """A window such as `--since`: "all" → None (the whole history), else `seconds_in(text)`."""
    if text.strip().lower() == ALL:
        return None
    return seconds_in(text)
