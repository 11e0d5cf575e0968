"""The mark an agent seat carries, so Chorus never calls itself in a loop.

An agent seat is a coding agent (a CLI such as `claude` or `codex`) that Chorus starts as a panel
member (`orchestration.providers.agents`). Such an agent may have Chorus configured as one of its
own MCP servers; if it called Chorus's tools, that Chorus would start agents again, without end.
Every agent process Chorus starts gets `AGENT_SEAT_ENV` in its environment
(`agent_seat_environment`), and the MCP face refuses every tool while the variable is set
(`inside_agent_seat`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

AGENT_SEAT_ENV: Final = "CHORUS_AGENT_SEAT"
"""Set (to the seat's name) in the environment of every agent Chorus starts as a seat."""

REFUSAL: Final = (
    f"Chorus is refusing this call: it runs inside a Chorus agent seat ({AGENT_SEAT_ENV} is set), "
    "and a seat asking the panel again would recurse"
)


def agent_seat_environment(environ: Mapping[str, str], seat: str) -> dict[str, str]:
    """`environ` plus the mark, for starting the agent that sits in `seat`."""
    return {**environ, AGENT_SEAT_ENV: seat or "agent"}


def inside_agent_seat(environ: Mapping[str, str]) -> bool:
    """True when this process runs inside an agent seat Chorus started (the variable is non-empty)."""
    return bool(environ.get(AGENT_SEAT_ENV, "").strip())
