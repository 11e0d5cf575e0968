"""The team's model gateway: every cloud seat through one LiteLLM proxy, with a virtual key and tags.

With `[gateway] url = "http://…:4000"` and `key_env` (the variable holding the developer's virtual
key), `complete_chat` sends every cloud seat (not `local/...`, not a seat whose endpoints are all on
loopback, not an agent seat) to the proxy as `openai/<seat model id>`, so the proxy's own
`model_list` decides where it goes. Each request carries `user` (the developer, as the memory
records them: `StoreConfig.resolved_user`) and `metadata` (`user`, `chorus_task`, `chorus_seat`,
`chorus_run` and `tags`), which the proxy's spend logs attribute cost by; the proxy's
`x-litellm-response-cost` header becomes the call's `cost_usd` (`orchestration.providers.usage`).

Who is asking and for which task is set by whoever serves the request, for the calls under it:

    with gateway_scope(config, task="review"):
        result = await review_selection(...)

Without a scope, no call goes through the gateway. When the gateway cannot be connected to,
`fallback` says what a cloud seat does: "direct" calls its own provider (the notice says so),
"local" and "none" fail the seat (local seats still serve; "none" also says nothing else will).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestration.types.sections import AGENT_PREFIX, ModelConfig

logger = logging.getLogger(__name__)

GatewayFallback = Literal["direct", "local", "none"]

GATEWAY_KEYS: Final = frozenset({"url", "key_env"})
"""The `[gateway]` keys an untrusted workspace config may not set (where calls go, which key they carry)."""


class GatewayConfig(BaseModel):
    """A LiteLLM proxy every cloud seat goes through (`[gateway]`); off while `url` is unset."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Send cloud seats through the gateway when `url` is set.")
    url: str | None = Field(default=None, description='The proxy\'s base URL, e.g. "http://gateway:4000".')
    key_env: str | None = Field(
        default=None, description="The environment variable holding this developer's virtual key."
    )
    fallback: GatewayFallback = Field(
        default="direct",
        description=(
            'When the gateway is unreachable: "direct" (each cloud seat calls its own provider), '
            '"local" (cloud seats fail, local seats serve) or "none" (cloud seats fail).'
        ),
    )

    @property
    def active(self) -> bool:
        """Whether calls go through the gateway."""
        return self.enabled and bool(self.url)

    @property
    def api_base(self) -> str:
        """The proxy's OpenAI-compatible base (`<url>/v1`)."""
        base = (self.url or "").rstrip("/")
        return base if base.endswith("/v1") else f"{base}/v1"


@dataclass(slots=True)
class GatewayScope:
    """The gateway for the calls under one request, who asks and for what, and what went wrong."""

    config: GatewayConfig
    user: str
    task: str | None = None
    run_id: str | None = None
    unreachable: list[str] = field(default_factory=list)
    """Seats whose call found the gateway unreachable (in order, once each)."""

    def metadata(self, seat_name: str) -> dict[str, object]:
        """The request metadata the proxy's spend logs attribute a call by."""
        tags = [f"user:{self.user}", f"seat:{seat_name}"]
        if self.task:
            tags.append(f"task:{self.task}")
        data: dict[str, object] = {"user": self.user, "chorus_seat": seat_name, "tags": tags}
        if self.task:
            data["chorus_task"] = self.task
        if self.run_id:
            data["chorus_run"] = self.run_id
        return data

    def mark_unreachable(self, seat_name: str) -> None:
        """Note that `seat_name`'s call could not reach the gateway (for the notice)."""
        if seat_name not in self.unreachable:
            self.unreachable.append(seat_name)
            logger.warning("gateway %s unreachable for seat %s", self.config.url, seat_name)

    def notice(self) -> str | None:
        """The notice for the result, when some call found the gateway unreachable."""
        if not self.unreachable:
            return None
        return unreachable_notice(self.config, self.unreachable)


def unreachable_notice(config: GatewayConfig, seats: list[str]) -> str:
    """ "gateway <url> unreachable: seats called directly (a, b)", or what the fallback did instead."""
    names = ", ".join(seats)
    if config.fallback == "direct":
        return f"gateway {config.url} unreachable: seats called directly ({names})"
    if config.fallback == "local":
        return f"gateway {config.url} unreachable: cloud seats skipped, local seats serve ({names})"
    return f"gateway {config.url} unreachable: cloud seats failed ({names})"


_SCOPE: ContextVar[GatewayScope | None] = ContextVar("chorus_gateway_scope", default=None)


@contextmanager
def gateway_scope(
    gateway: GatewayConfig, *, user: str, task: str | None = None, run_id: str | None = None
) -> Iterator[GatewayScope]:
    """Send the cloud seats called below through `gateway` (when active), tagged with `user` and `task`."""
    scope = GatewayScope(gateway, user, task, run_id)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def current_gateway() -> GatewayScope | None:
    """The gateway scope of the calls here, when its gateway is active; else None."""
    scope = _SCOPE.get()
    return scope if scope is not None and scope.config.active else None


def goes_through_gateway(seat: ModelConfig) -> bool:
    """Whether a seat is a cloud seat the gateway serves (not local, loopback-only or an agent)."""
    from orchestration.privacy.gate import is_local_model  # The gate imports the config, which imports this.

    return seat.agent is None and not seat.model.startswith(AGENT_PREFIX) and not is_local_model(seat)
