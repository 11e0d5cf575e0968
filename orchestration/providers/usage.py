"""What a call cost: tokens from the response's usage, dollars from litellm's cost map, the endpoint.

`record_usage` reads a litellm response into the call's `CallUsage`: prompt and answer tokens as the
server counted them, the cost from litellm's bundled cost map (`completion_cost`), else the
`x-litellm-response-cost` header a LiteLLM proxy sends, else None (a model with no price, such as a
local server's). Seats on this machine cost 0. `default_endpoint` names where litellm sends a model
id that has no `api_base`: its provider's default URL when litellm knows it, else the provider's name.
"""

from __future__ import annotations

from typing import Any, Final

from orchestration.providers.base import CallUsage
from orchestration.providers.loading import loaded_litellm

COST_HEADER: Final = "x-litellm-response-cost"


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _header_cost(response: Any) -> float | None:
    hidden = getattr(response, "_hidden_params", None)
    headers = hidden.get("additional_headers") if isinstance(hidden, dict) else None
    if not isinstance(headers, dict):
        return None
    for name, value in headers.items():
        if str(name).lower().endswith(COST_HEADER):
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def response_cost(response: Any) -> float | None:
    """The call's cost in US dollars by litellm's cost map (or a proxy's header); None when unknown."""
    try:
        cost = loaded_litellm().completion_cost(completion_response=response)
    except Exception:  # litellm raises a bare Exception for models it has no price for.
        return _header_cost(response)
    return float(cost) if isinstance(cost, int | float) else _header_cost(response)


def record_usage(response: Any, usage: CallUsage, *, local: bool) -> None:
    """Fill `usage` from a litellm response (tokens, cost, the endpoint it answered from)."""
    counted = getattr(response, "usage", None)
    usage.tokens_in = _count(getattr(counted, "prompt_tokens", None))
    usage.tokens_out = _count(getattr(counted, "completion_tokens", None))
    usage.cost_usd = 0.0 if local else response_cost(response)
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
