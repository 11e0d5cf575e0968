"""The one door every model call passes, and the providers behind it: litellm and the embedded model.

`complete_chat` asks the seat's privacy gate, redacts what goes out, hands the call to the
seat's provider from `PROVIDERS` (`orchestration.providers.base`) and, however the call ends,
reports it to the gate's audit hook (`orchestration.privacy.audit`): nothing reaches a model
unlogged. Both providers here send through litellm: `LitellmProvider` to the seat's own model id,
key and endpoint; `EmbeddedProvider` to the embedded llama.cpp server
(`orchestration.providers.local_runtime`, started on first use) for `local/...` ids. A call runs
under the seat's timeout with its retries; every failure becomes a short, secret-free
`ProviderError` (`orchestration.providers.failures`); cancellation is never caught, so cancelling
the caller's scope aborts the HTTP request. Each call's tokens, cost and endpoint go into its
`CallUsage` (`orchestration.providers.usage`).

Every call's outcome (ok, error or timeout; a cancelled call is not counted) feeds the seat's
circuit, on which the circuit breaker (`orchestration.panel.breaker`) benches a seat that keeps
failing; every attempt's feeds its endpoint's. A seat with several `api_base` endpoints has each
attempt sent to the one with the fewest calls in flight, passing over one whose circuit is open
(`orchestration.providers.endpoints`). A seat's `reasoning_effort` goes to litellm as is.

Under a `gateway_scope` (`orchestration.providers.gateway`) with an active `[gateway]`, a cloud seat
is sent to the team's LiteLLM proxy instead, as `openai/<seat model id>` with the virtual key and
`user` / `metadata` tags in the body; when the proxy cannot be connected to, the gateway's
`fallback` decides (the seat's own route, or a `ProviderError` naming the fallback).

litellm itself is loaded by `orchestration.providers.loading`; its helpers (`ensure_litellm`,
`close_clients`, …) are importable from here too, for the faces.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Final

import anyio

from orchestration.offload import off_loop
from orchestration.privacy.audit import OutboundCall, report_call
from orchestration.privacy.gate import PrivacyGate, is_local_model, register_secret, scrub_secrets
from orchestration.providers.agents.provider import AgentProvider
from orchestration.providers.base import CallUsage, ChatCall, ProviderRegistry
from orchestration.providers.endpoints import CIRCUITS, EndpointLease, seat_key
from orchestration.providers.failures import describe_failure, log_unexpected, nothing_sent, retry_wait
from orchestration.providers.gateway import (
    GatewayScope,
    current_gateway,
    goes_through_gateway,
    unreachable_notice,
)
from orchestration.providers.loading import close_clients, ensure_litellm, litellm_loaded, loaded_litellm
from orchestration.providers.usage import default_endpoint, record_usage
from orchestration.types.config import LOCAL_PREFIX, ModelConfig
from orchestration.types.errors import ProviderError
from orchestration.types.requests import Message
from orchestration.types.sections import AGENT_PREFIX

__all__ = [
    "PROVIDERS",
    "EmbeddedProvider",
    "GatewayUnreachable",
    "LitellmProvider",
    "Route",
    "close_clients",
    "complete_chat",
    "ensure_litellm",
    "litellm_loaded",
    "loaded_litellm",
    "log_unexpected",
]

NO_KEY_NEEDED: Final = "chorus-no-key"
"""Placeholder key for local OpenAI-compatible servers, which ignore it (the client insists on one)."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where litellm sends one seat's call: the model id it sees, its endpoints and the key (None: its own).

    No endpoint: the provider's default. Several: each attempt takes the one with the fewest calls
    in flight (`orchestration.providers.endpoints.Circuits.lease_endpoint`).
    """

    model: str
    endpoints: tuple[str, ...]
    api_key: str | None
    gateway: bool = False
    """The team's gateway (`providers.gateway`): failing to connect raises `GatewayUnreachable`."""

    @property
    def api_base(self) -> str | None:
        """The first endpoint (None: the provider's default)."""
        return self.endpoints[0] if self.endpoints else None


def _env_key(variable: str, whose: str) -> str:
    """The key in environment variable `variable`, registered as a secret; `ProviderError` when unset."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ProviderError(f"{variable} is not set ({whose}); set it in the editor's environment")
    register_secret(value)
    return value


def _api_key(seat_name: str, seat: ModelConfig) -> str | None:
    """The key to send, a placeholder for keyless local servers, or None to let litellm find its own."""
    if seat.api_key_env:
        return _env_key(seat.api_key_env, f"seat '{seat_name}' reads its API key from it")
    if seat.api_base is not None:
        return NO_KEY_NEEDED
    try:
        report = loaded_litellm().validate_environment(seat.model)
    except Exception:
        return None
    missing = [name for name in report.get("missing_keys", []) if any(w in name for w in ("KEY", "TOKEN"))]
    if missing and not report.get("keys_in_environment"):
        raise ProviderError(
            f"{', '.join(missing)} is not set (needed by seat '{seat_name}' for {seat.model}); "
            "set it or name the variable with api_key_env"
        )
    return None


def _response_format(model: str, json_schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if json_schema is None:
        return None
    try:
        supported = bool(loaded_litellm().supports_response_schema(model))
    except Exception:
        supported = False
    if not supported:
        return None
    return {"type": "json_schema", "json_schema": {"name": "chorus_answer", "schema": json_schema}}


class LitellmProvider:
    """Any model litellm reaches: the seat's model id, its `api_key_env` (or litellm's own) and `api_base`."""

    __slots__ = ()

    async def route(self, seat_name: str, seat: ModelConfig) -> Route:
        """Where the seat's calls go (raises `ProviderError` for a key that is not set)."""
        return Route(seat.model, seat.endpoints, _api_key(seat_name, seat))

    async def complete(self, call: ChatCall) -> str:
        """Ask the seat (no retries of litellm's own), retrying transient failures within its timeout.

        A seat's `reasoning_effort` is passed as litellm's `reasoning_effort`: litellm sends it on
        (OpenAI-compatible ids), maps it (e.g. to Anthropic's thinking budget), or, for a model it
        knows not to take it, drops it (`drop_params`, set in `loading`) rather than failing the call.
        """
        seat = call.seat
        await ensure_litellm()
        scope = current_gateway()
        if scope is not None and goes_through_gateway(seat):
            try:
                return await self._ask(call, _gateway_route(scope, call.seat_name, seat), scope)
            except GatewayUnreachable:
                scope.mark_unreachable(call.seat_name)
                if scope.config.fallback != "direct":
                    raise ProviderError(
                        f"{call.seat_name}: {unreachable_notice(scope.config, [call.seat_name])}"
                    ) from None
        return await self._ask(call, await self.route(call.seat_name, seat), None)

    async def _ask(self, call: ChatCall, route: Route, scope: GatewayScope | None) -> str:
        """The seat's answer over `route`; through the gateway (`scope`), tagged with who asks for what."""
        seat = call.seat
        request: dict[str, Any] = {
            "model": route.model,
            "messages": call.messages,
            "temperature": seat.temperature,
            "max_tokens": seat.max_tokens,
            "num_retries": 0,
            "max_retries": 0,
        }
        if route.api_key is not None:
            request["api_key"] = route.api_key
        if seat.reasoning_effort is not None:
            request["reasoning_effort"] = seat.reasoning_effort
        if scope is not None:
            # In the body as is (litellm drops a bare `user`): the proxy's spend logs attribute by both.
            request["extra_body"] = {"user": scope.user, "metadata": scope.metadata(call.seat_name)}
        response_format = _response_format(seat.model if route.gateway else route.model, call.json_schema)
        if response_format is not None:
            request["response_format"] = response_format
        response = await self._send(call, route, request)
        record_usage(response, call.usage, local=is_local_model(seat), seat=seat)
        try:
            content = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            raise ProviderError(f"{call.seat_name} returned a response without a message") from None
        return content if isinstance(content, str) else ""

    @staticmethod
    async def _send(call: ChatCall, route: Route, request: dict[str, Any]) -> Any:
        """litellm's response to `request`, retried up to `seat.retries` times within `seat.timeout`.

        Each attempt leases one of the route's endpoints (the fewest in flight, not one whose circuit
        is open while another will do, not one that failed earlier in this call while another is
        left) and records its outcome there; `call.usage.endpoint` names the one that answered. An
        endpoint that cannot be connected to got nothing, so the next is tried at once, without
        using up a retry.
        """
        seat_name, seat = call.seat_name, call.seat
        give_up_at = anyio.current_time() + seat.timeout
        attempt = 0
        failed_at: set[str] = set()
        while True:
            remaining = give_up_at - anyio.current_time()
            lease = (
                CIRCUITS.lease_endpoint(
                    route.model, route.endpoints, avoid=frozenset(failed_at), lease=seat.timeout
                )
                if route.endpoints
                else None
            )
            with lease if lease is not None else nullcontext():
                endpoint = lease.url if lease is not None else None
                call.usage.endpoint = endpoint or default_endpoint(route.model)
                sent = request if endpoint is None else {**request, "api_base": endpoint}
                try:
                    with anyio.fail_after(remaining):
                        response = await loaded_litellm().acompletion(**sent, timeout=remaining)
                except TimeoutError:
                    _record(lease, failed=True)
                    message = f"{seat_name} timed out after {seat.timeout:g} s"
                    raise ProviderError(message, "timeout") from None
                except anyio.get_cancelled_exc_class():
                    raise
                except Exception as caught:
                    _record(lease, failed=True)
                    error = caught
                else:
                    _record(lease, failed=False)
                    return response
            if route.gateway and nothing_sent(error):
                raise GatewayUnreachable(f"{seat_name}: the gateway {endpoint} cannot be connected to")
            failure = describe_failure(seat_name, seat, route.model, endpoint, error)
            if endpoint is not None:
                failed_at.add(endpoint)
                if nothing_sent(error) and any(url not in failed_at for url in route.endpoints):
                    continue
            wait = retry_wait(error, attempt) if failure.kind == "error" else None
            if wait is None or attempt >= seat.retries:
                raise failure from None
            if anyio.current_time() + wait >= give_up_at:
                raise ProviderError(
                    f"{failure}; the retry {seat_name} asked for in {wait:g} s would pass its "
                    f"timeout of {seat.timeout:g} s"
                ) from None
            attempt += 1
            await anyio.sleep(wait)


class GatewayUnreachable(ProviderError):
    """The gateway could not be connected to (nothing was sent): the seat's fallback decides."""


def _gateway_route(scope: GatewayScope, seat_name: str, seat: ModelConfig) -> Route:
    """The seat's call through the gateway: `openai/<seat model id>` at the proxy, with the virtual key."""
    gateway = scope.config
    key = NO_KEY_NEEDED
    if gateway.key_env:
        key = _env_key(gateway.key_env, f"the gateway's virtual key, needed by seat '{seat_name}'")
    return Route(f"openai/{seat.model}", (gateway.api_base,), key, gateway=True)


def _record(lease: EndpointLease | None, *, failed: bool) -> None:
    if lease is not None:
        lease.record(failed=failed)


class EmbeddedProvider(LitellmProvider):
    """The embedded model (`local/...` ids): litellm to the llama.cpp child server, started on first use."""

    __slots__ = ()

    async def route(self, seat_name: str, seat: ModelConfig) -> Route:
        """The local runtime's loopback endpoint, its served model name and its per-process key."""
        try:
            from orchestration.providers import local_runtime  # Only for local seats.

            api_base, served_name = await local_runtime.local_endpoint(seat.model)
            return Route(f"openai/{served_name}", (api_base,), local_runtime.local_api_key())
        except ProviderError:
            raise
        except Exception as error:
            raise ProviderError(scrub_secrets(f"local model {seat.model} is unavailable: {error}")) from None


PROVIDERS: Final = ProviderRegistry(default=LitellmProvider())
"""The provider of every seat: litellm by default, the embedded model for `local/...` ids."""
PROVIDERS.register(LOCAL_PREFIX, EmbeddedProvider())
PROVIDERS.register(AGENT_PREFIX, AgentProvider())


async def complete_chat(
    seat_name: str,
    seat: ModelConfig,
    messages: list[Message],
    *,
    gate: PrivacyGate,
    json_schema: dict[str, Any] | None = None,
    usage: CallUsage | None = None,
) -> str:
    """Ask one seat; returns the answer's text. Raises `ProviderError` ("error" or "timeout").

    Nothing is sent unless `gate` admits the seat, and only the gate's redacted messages go out;
    the call is reported to `gate.audit` however it ends. `usage`, when given, receives the call's
    tokens, cost and endpoint (as far as the provider reports them).
    Transient failures (429, 5xx, a dropped connection) are retried up to `seat.retries` times,
    waiting as long as the server's Retry-After asks (else a growing backoff), all within
    `seat.timeout`: a wait that would pass the timeout is not started, and the failure is
    reported as what it is (rate limited, overloaded), not as a timeout. A retry goes to another of
    the seat's endpoints when it has several. The outcome (not a cancellation) is counted on the
    seat's circuit (`orchestration.providers.endpoints`), which the circuit breaker reads.
    """
    refusal = gate.refusal(seat)
    if refusal is not None:
        raise ProviderError(f"{seat_name}: {refusal}; nothing was sent")
    size = sum(len(message.get("content", "")) for message in messages)
    outbound, sent_bytes, redactions = await off_loop(gate.outbound_measured, messages, size=size)
    call = ChatCall(seat_name, seat, outbound, json_schema, usage if usage is not None else CallUsage())
    started_at = CIRCUITS.clock()
    outcome = "cancelled"
    failure: str | None = None
    try:
        answer = await PROVIDERS.provider_for(seat).complete(call)
        outcome = "ok"
        return answer
    except ProviderError as error:
        outcome, failure = error.kind, str(error)
        raise
    except anyio.get_cancelled_exc_class():
        raise
    except Exception as error:
        outcome, failure = "error", f"{seat_name} failed: {type(error).__name__}"
        raise
    finally:
        if outcome != "cancelled":  # The circuit breaker counts errors and timeouts, not cancellations.
            key = seat_key(seat)
            CIRCUITS.record(key, failed=outcome != "ok", started_at=started_at, error=failure)
        endpoint = call.usage.endpoint
        report_call(
            gate.audit, OutboundCall(seat_name, seat.model, endpoint, sent_bytes, redactions, outcome)
        )
