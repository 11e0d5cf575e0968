"""Reusing a seat's answer: asked the same thing again, Chorus answers from the memory.

The key (`answer_key`) is a SHA-256 over everything that decides the answer: the model id, its
endpoint, temperature and token limit, the seat's instructions, the prompt version, the JSON schema
and the redacted messages exactly as they would be sent. `AnswerCache.answer` looks the key up
(this process's recent answers first, then the store through `reads.read_soon`, so a slow store
costs a request at most its read budget); on a miss it asks, and an identical call already in
flight is joined instead of made twice. `remember` keeps a usable answer for `cache.ttl_hours`
(written sealed through the writer; the store scrubs it of secrets first). A cached answer left
nothing on the machine's way out: no call, no audit row, no cost.
"""

from __future__ import annotations

import hashlib
import json
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import anyio
from anyio.lowlevel import RunVar

from orchestration.memory.reads import read_soon
from orchestration.memory.records import CacheEntry
from orchestration.memory.settings import CacheConfig
from orchestration.offload import off_loop
from orchestration.privacy.gate import PrivacyGate
from orchestration.types.config import ModelConfig
from orchestration.types.errors import ProviderError
from orchestration.types.requests import Message

if TYPE_CHECKING:
    from orchestration.memory.writer import StoreWriter

RECENT_ANSWERS: Final = 256
"""Answers each process keeps at hand per store (besides the store itself)."""
KEY_VERSION: Final = 1


def answer_key(
    seat: ModelConfig, outbound: Sequence[Message], json_schema: dict[str, Any] | None, prompt_version: str
) -> str:
    """SHA-256 (hex) over the model, its settings, the prompt version, the schema and the sent messages."""
    payload = {
        "v": KEY_VERSION,
        "model": seat.model,
        "api_base": seat.api_base,
        "temperature": seat.temperature,
        "max_tokens": seat.max_tokens,
        "instructions": seat.instructions,
        "prompt_version": prompt_version,
        "schema": json_schema,
        "messages": list(outbound),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Reused:
    """A seat's answer text, its cache key, and whether it was reused rather than asked."""

    text: str
    key: str | None
    cached: bool


@dataclass(slots=True)
class _InFlight:
    """A call others with the same key wait for: its answer, or the failure they share."""

    done: anyio.Event = field(default_factory=anyio.Event)
    text: str | None = None
    error: ProviderError | None = None


_in_flight: RunVar[dict[str, _InFlight]] = RunVar("chorus_answers_in_flight")
_recent: weakref.WeakKeyDictionary[StoreWriter, OrderedDict[str, tuple[str, float]]] = (
    weakref.WeakKeyDictionary()
)


def _calls_in_flight() -> dict[str, _InFlight]:
    try:
        return _in_flight.get()
    except LookupError:
        calls: dict[str, _InFlight] = {}
        _in_flight.set(calls)
        return calls


class AnswerCache:
    """The answers of one store, reusable for `config.ttl_hours`, for one run's seats."""

    __slots__ = ("config", "memory", "prompt_version", "recent")

    def __init__(self, memory: StoreWriter, config: CacheConfig, prompt_version: str) -> None:
        self.memory = memory
        self.config = config
        self.prompt_version = prompt_version
        self.recent = _recent.setdefault(memory, OrderedDict())

    def _recent_answer(self, key: str) -> str | None:
        found = self.recent.get(key)
        if found is None:
            return None
        if found[1] < time.time():
            del self.recent[key]
            return None
        self.recent.move_to_end(key)
        return found[0]

    def _keep(self, key: str, text: str, expires: float) -> None:
        self.recent[key] = (text, expires)
        self.recent.move_to_end(key)
        while len(self.recent) > RECENT_ANSWERS:
            self.recent.popitem(last=False)

    async def answer(
        self,
        seat: ModelConfig,
        messages: Sequence[Message],
        gate: PrivacyGate,
        json_schema: dict[str, Any] | None,
        ask: Callable[[], Awaitable[str]],
    ) -> Reused:
        """The answer to `messages`: reused when asked before or being asked now, else `ask()`-ed."""
        if gate.refusal(seat) is not None:  # Let the door refuse it, as it would without a cache.
            return Reused(await ask(), None, False)
        size = sum(len(message.get("content", "")) for message in messages)
        key = await off_loop(self._key_of, seat, messages, gate, json_schema, size=size)
        calls = _calls_in_flight()
        while True:
            text = self._recent_answer(key)
            if text is None and key not in calls:
                text = await read_soon(self.memory, lambda store: store.cache_get(key), None)
                if text is not None:
                    self._keep(key, text, time.time() + self.config.ttl_s)
            if text is not None:
                return Reused(text, key, True)
            twin = calls.get(key)
            if twin is None:
                break
            await twin.done.wait()
            if twin.error is not None:
                raise twin.error
            if twin.text is not None:
                return Reused(twin.text, key, True)
            # The twin was cancelled or failed oddly: ask ourselves (loop, since another may lead now).
        pending = calls[key] = _InFlight()
        try:
            pending.text = await ask()
            return Reused(pending.text, key, False)
        except ProviderError as error:
            pending.error = error
            raise
        finally:
            pending.done.set()
            if calls.get(key) is pending:
                del calls[key]

    def _key_of(
        self, seat: ModelConfig, messages: Sequence[Message], gate: PrivacyGate, schema: dict[str, Any] | None
    ) -> str:
        return answer_key(seat, gate.outbound(messages), schema, self.prompt_version)

    def remember(self, key: str, model: str, text: str) -> None:
        """Keep a usable answer for the TTL (here at once, in the store through the writer)."""
        now = time.time()
        self._keep(key, text, now + self.config.ttl_s)
        self.memory.submit(
            CacheEntry(key=key, model=model, answer=text, ttl_s=self.config.ttl_s, created_at=now)
        )


def answer_cache(memory: StoreWriter | None, config: CacheConfig, prompt_version: str) -> AnswerCache | None:
    """The run's cache: None without a usable memory or with `cache.enabled = false`."""
    if memory is None or not memory.config.enabled or not config.enabled:
        return None
    return AnswerCache(memory, config, prompt_version)
