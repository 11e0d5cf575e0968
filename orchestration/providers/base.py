"""What a provider is, and which one answers a seat.

A `Provider` answers one seat's chat with text. It is handed messages that have already passed
the privacy gate (`orchestration.providers.chat.complete_chat` asks the gate and redacts before it
calls one), keeps within `seat.timeout`, turns every failure into a short, secret-free
`ProviderError` and never catches cancellation. It reports what the call cost in `call.usage` when it
can (tokens, cost, the endpoint it sent to); a provider that reports nothing leaves it empty.

`ProviderRegistry` picks the provider per seat from its model id: the longest registered prefix
(`local/` → the embedded model) wins, anything else goes to the default (litellm). A new kind of
seat, such as a coding agent run as a subprocess, is one more `register(prefix, provider)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from orchestration.types.config import ModelConfig
from orchestration.types.requests import Message

N = TypeVar("N", int, float)


@dataclass(slots=True)
class CallUsage:
    """What one call cost, filled in by the provider while it answers (None: not known)."""

    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    """litellm's cost map for the tokens; 0 for models on this machine; None when the model has no price."""
    endpoint: str | None = None
    """Where the call went: a URL or the provider's name (only its host is ever stored)."""

    def add(self, other: CallUsage) -> None:
        """Count `other` (another call of the same seat) in: tokens and costs add up."""
        self.tokens_in = _sum(self.tokens_in, other.tokens_in)
        self.tokens_out = _sum(self.tokens_out, other.tokens_out)
        self.cost_usd = _sum(self.cost_usd, other.cost_usd)
        self.endpoint = self.endpoint or other.endpoint


def _sum(first: N | None, second: N | None) -> N | None:
    return second if first is None else first if second is None else first + second


@dataclass(frozen=True, slots=True)
class ChatCall:
    """One seat's call: who is asked, the messages (already past the privacy gate) and the answer's JSON."""

    seat_name: str
    seat: ModelConfig
    messages: list[Message]
    json_schema: dict[str, Any] | None = None
    """The JSON Schema the answer follows, for providers that can enforce it."""
    usage: CallUsage = field(default_factory=CallUsage)
    """Filled in by the provider: tokens, cost and endpoint of this call."""


class Provider(Protocol):
    """Answers one seat's chat; raises `ProviderError` ("error" or "timeout") when it cannot."""

    async def complete(self, call: ChatCall) -> str:
        """The answer's text to `call.messages`, within `call.seat.timeout`."""
        ...


@dataclass(slots=True)
class ProviderRegistry:
    """The providers by model-id prefix, and the default for every other model id."""

    default: Provider
    by_prefix: dict[str, Provider] = field(default_factory=dict)

    def register(self, prefix: str, provider: Provider) -> None:
        """Send seats whose model id starts with `prefix` to `provider` (a later call replaces it)."""
        if not prefix:
            raise ValueError("a provider's model-id prefix must not be empty (set `default` instead)")
        self.by_prefix[prefix] = provider

    def provider_for(self, seat: ModelConfig) -> Provider:
        """The provider for `seat`: the longest registered prefix of its model id, else the default."""
        matching = [prefix for prefix in self.by_prefix if seat.model.startswith(prefix)]
        if not matching:
            return self.default
        return self.by_prefix[max(matching, key=len)]
