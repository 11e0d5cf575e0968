"""What a call cost: tokens from the response's usage, dollars from the best price known, the endpoint.

`record_usage` reads a litellm response into the call's `CallUsage`: prompt and answer tokens as the
server counted them, and the cost, from the first of these that is known:

1. the `x-litellm-response-cost` header a LiteLLM proxy sends (what the proxy actually charged;
   litellm hands response headers on in `response._hidden_params["additional_headers"]`, prefixed
   `llm_provider-`);
2. the seat's own price (`input_cost_per_mtok`, `output_cost_per_mtok`) × the tokens, when it sets one
   (a side it leaves unset comes from litellm's cost map, else counts 0);
3. litellm's bundled cost map (`completion_cost`);

else None (a model with no price, such as a self-hosted server's). Seats on this machine cost 0
unless a proxy among them reports a charge (a LiteLLM proxy on loopback in front of cloud models)
or the seat sets its own price.
`seat_price` is the same price for estimates before a call (`orchestration.learning.spend`).
`default_endpoint` names where litellm sends a model id that has no `api_base`: its provider's
default URL when litellm knows it, else the provider's name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Final

from orchestration.providers.base import CallUsage
from orchestration.providers.loading import litellm_loaded, loaded_litellm
from orchestration.types.config import ModelConfig

COST_HEADER: Final = "x-litellm-response-cost"
PER_MTOK: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class TokenPrice:
    """USD per prompt token and per answer token."""

    input_usd: float
    output_usd: float

    def cost(self, tokens_in: float, tokens_out: float) -> float:
        """What `tokens_in` prompt and `tokens_out` answer tokens cost, in USD."""
        return tokens_in * self.input_usd + tokens_out * self.output_usd


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _per_token(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


@functools.lru_cache(maxsize=256)
def _map_price(model: str) -> tuple[float | None, float | None]:
    """litellm's cost map's price per prompt and answer token for `model` (None: not mapped)."""
    try:
        info = loaded_litellm().get_model_info(model)
    except Exception:  # litellm raises a bare Exception for models it has not mapped.
        return None, None
    if not isinstance(info, dict):
        return None, None
    return _per_token(info.get("input_cost_per_token")), _per_token(info.get("output_cost_per_token"))


def map_price(model: str) -> TokenPrice | None:
    """litellm's price for `model` (None when it has none, or litellm is not loaded yet)."""
    if not litellm_loaded():
        return None
    prompt, answer = _map_price(model)
    if prompt is None and answer is None:
        return None
    return TokenPrice(prompt or 0.0, answer or 0.0)


def own_price(seat: ModelConfig) -> TokenPrice | None:
    """The seat's configured price (None when it sets neither side); an unset side comes from the map."""
    if seat.input_cost_per_mtok is None and seat.output_cost_per_mtok is None:
        return None
    mapped = map_price(seat.model)
    prompt = (
        seat.input_cost_per_mtok / PER_MTOK
        if seat.input_cost_per_mtok is not None
        else (mapped.input_usd if mapped else 0.0)
    )
    answer = (
        seat.output_cost_per_mtok / PER_MTOK
        if seat.output_cost_per_mtok is not None
        else (mapped.output_usd if mapped else 0.0)
    )
    return TokenPrice(prompt, answer)


def seat_price(seat: ModelConfig) -> TokenPrice | None:
    """What the seat's tokens cost: its own price, else litellm's map; None when neither is known."""
    return own_price(seat) or map_price(seat.model)


def header_cost(response: Any) -> float | None:
    """The cost a LiteLLM proxy reported for this response (its `x-litellm-response-cost` header)."""
    hidden = getattr(response, "_hidden_params", None)
    headers = hidden.get("additional_headers") if isinstance(hidden, dict) else None
    if not isinstance(headers, dict):
        return None
    for name, value in headers.items():
        if str(name).lower().endswith(COST_HEADER):
            try:
                cost = float(value)
            except (TypeError, ValueError):
                return None
            return cost if cost >= 0 else None
    return None


def map_cost(response: Any) -> float | None:
    """The call's cost by litellm's cost map; None when the model has no price there."""
    try:
        cost = loaded_litellm().completion_cost(completion_response=response)
    except Exception:  # litellm raises a bare Exception for models it has no price for.
        return None
    return float(cost) if isinstance(cost, int | float) else None


def response_cost(response: Any, seat: ModelConfig | None = None) -> float | None:
    """The call's cost in US dollars: a proxy's header, the seat's own price, litellm's map; else None."""
    reported = header_cost(response)
    if reported is not None:
        return reported
    price = own_price(seat) if seat is not None else None
    counted = getattr(response, "usage", None)
    tokens_in = _count(getattr(counted, "prompt_tokens", None))
    tokens_out = _count(getattr(counted, "completion_tokens", None))
    if price is not None and (tokens_in is not None or tokens_out is not None):
        return price.cost(tokens_in or 0, tokens_out or 0)
    return map_cost(response)


def record_usage(response: Any, usage: CallUsage, *, local: bool, seat: ModelConfig | None = None) -> None:
    """Fill `usage` from a litellm response (tokens, cost, the endpoint it answered from).

    `seat`, when given, prices the tokens by its own `input_cost_per_mtok` / `output_cost_per_mtok`.
    """
    counted = getattr(response, "usage", None)
    usage.tokens_in = _count(getattr(counted, "prompt_tokens", None))
    usage.tokens_out = _count(getattr(counted, "completion_tokens", None))
    if local:  # Free unless a proxy on this machine reports a charge or the seat sets its own price.
        charged = header_cost(response)
        price = own_price(seat) if seat is not None else None
        if charged is None and price is not None and (usage.tokens_in or usage.tokens_out):
            charged = price.cost(usage.tokens_in or 0, usage.tokens_out or 0)
        usage.cost_usd = 0.0 if charged is None else charged
    else:
        usage.cost_usd = response_cost(response, seat)
    hidden = getattr(response, "_hidden_params", None)
    answered_from = hidden.get("api_base") if isinstance(hidden, dict) else None
    if isinstance(answered_from, str) and answered_from:
        usage.endpoint = answered_from


def default_endpoint(model: str) -> str | None:
    """Where litellm sends `model` without an `api_base`: its provider's URL, else the provider's name."""
    try:
        _model, provider, _key, api_base = loaded_litellm().get_llm_provider(model)
    except Exception:
        return None
    return str(api_base or provider or "") or None
