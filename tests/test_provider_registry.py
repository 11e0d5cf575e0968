"""Providers: the registry picks one per seat, and `complete_chat` gates and redacts before any of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from orchestration.privacy.gate import OPEN_GATE, PrivacyGate
from orchestration.providers.base import ChatCall, Provider, ProviderRegistry
from orchestration.providers.chat import PROVIDERS, EmbeddedProvider, LitellmProvider, complete_chat
from orchestration.types.config import LOCAL_PREFIX, ModelConfig, PolicyConfig
from orchestration.types.errors import ProviderError

AGENT_PREFIX = "agent-test/"


@dataclass
class RecordingProvider:
    """A provider that answers `answer` and keeps every call it was handed."""

    answer: str = "recorded"
    calls: list[ChatCall] = field(default_factory=list)

    async def complete(self, call: ChatCall) -> str:
        self.calls.append(call)
        return self.answer


@pytest.fixture
def agent_provider() -> Iterator[RecordingProvider]:
    """A `RecordingProvider` registered on the process's registry for `agent-test/...` ids."""
    provider = RecordingProvider()
    PROVIDERS.register(AGENT_PREFIX, provider)
    try:
        yield provider
    finally:
        del PROVIDERS.by_prefix[AGENT_PREFIX]


def test_the_longest_registered_prefix_wins_and_anything_else_goes_to_the_default() -> None:
    default, local, special = RecordingProvider("default"), RecordingProvider("local"), RecordingProvider("x")
    registry = ProviderRegistry(default=default)
    registry.register("local/", local)
    registry.register("local/special-", special)
    assert registry.provider_for(ModelConfig(model="openai/gpt")) is default
    assert registry.provider_for(ModelConfig(model="local/qwen")) is local
    assert registry.provider_for(ModelConfig(model="local/special-one")) is special


def test_an_empty_prefix_is_refused() -> None:
    registry = ProviderRegistry(default=RecordingProvider())
    with pytest.raises(ValueError, match="must not be empty"):
        registry.register("", RecordingProvider())


def test_the_process_registry_sends_local_ids_to_the_embedded_model_and_the_rest_to_litellm() -> None:
    embedded = PROVIDERS.provider_for(ModelConfig(model=f"{LOCAL_PREFIX}qwen2.5-coder-1.5b"))
    cloud = PROVIDERS.provider_for(ModelConfig(model="anthropic/claude-sonnet-4-5"))
    assert isinstance(embedded, EmbeddedProvider)
    assert isinstance(cloud, LitellmProvider) and not isinstance(cloud, EmbeddedProvider)


def test_providers_satisfy_the_protocol() -> None:
    providers: list[Provider] = [LitellmProvider(), EmbeddedProvider(), RecordingProvider()]
    assert all(callable(provider.complete) for provider in providers)


async def test_complete_chat_hands_a_registered_provider_only_redacted_messages(
    agent_provider: RecordingProvider,
) -> None:
    seat = ModelConfig(model=f"{AGENT_PREFIX}coder")
    secret = 'API_KEY = "sk-live-0123456789abcdefghijklmnopqrstuv"'
    messages = [{"role": "user", "content": f"Review:\n{secret}\n"}]
    schema = {"type": "object"}
    answer = await complete_chat("agent", seat, messages, gate=OPEN_GATE, json_schema=schema)
    assert answer == "recorded"
    (call,) = agent_provider.calls
    assert (call.seat_name, call.seat, call.json_schema) == ("agent", seat, schema)
    assert "sk-live-0123456789abcdefghijklmnopqrstuv" not in call.messages[0]["content"]
    assert "<redacted:" in call.messages[0]["content"]


async def test_a_seat_the_gate_refuses_reaches_no_provider(agent_provider: RecordingProvider) -> None:
    gate = PrivacyGate.for_document("notes/private.py", PolicyConfig(local_only=["notes/**"]), None)
    with pytest.raises(ProviderError, match="nothing was sent"):
        await complete_chat("agent", ModelConfig(model=f"{AGENT_PREFIX}coder"), [], gate=gate)
    assert agent_provider.calls == []
