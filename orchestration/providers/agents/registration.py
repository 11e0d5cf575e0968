"""Putting agent seats in the provider registry: `register_agents()`, idempotent.

`orchestration.providers.chat` holds the process-wide registry (`PROVIDERS`); seats whose model id
starts with `agent/` go to `AgentProvider` once this ran. Faces call it before they serve a request.
"""

from __future__ import annotations

from orchestration.providers.agents.provider import AgentProvider
from orchestration.types.sections import AGENT_PREFIX


def register_agents() -> None:
    """Send `agent/...` seats to `AgentProvider` in the process-wide registry (a no-op when done)."""
    from orchestration.providers.chat import PROVIDERS  # chat.py may one day register agents itself

    if AGENT_PREFIX not in PROVIDERS.by_prefix:
        PROVIDERS.register(AGENT_PREFIX, AgentProvider())
