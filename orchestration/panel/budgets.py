"""Input limits and off-loop work shared by the three pipelines.

Before anything is sent, a request passes `open_request`: a document larger than
`policy.max_file_bytes` is refused with an `InputError`, the privacy gate is opened (excluded
files raise `ExcludedFileError`) and the document is redacted, in a worker thread when it is
big. Each seat has a prompt budget (`seat_budget`): its `max_input_tokens`, else litellm's
figure for the model, else `FALLBACK_INPUT_TOKENS`; prompts are measured with litellm's token
counter (`count_tokens`). A seat whose single prompt is over its budget is not asked
(`admit_seats`); the review pipeline instead splits the selection (`orchestration.pipelines.chunking`).

litellm is imported only by `orchestration.providers.loading`; this module reads the loaded module
through its `loaded_litellm()` after `ensure_litellm()`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import anyio

from orchestration.offload import off_loop
from orchestration.privacy.gate import PrivacyGate, redact_secrets
from orchestration.providers.loading import ensure_litellm, loaded_litellm
from orchestration.types.config import FALLBACK_INPUT_TOKENS, ChorusConfig, ModelConfig, PolicyConfig
from orchestration.types.errors import InputError
from orchestration.types.requests import Message, SourceDocument
from orchestration.types.results import ModelStatus

_MESSAGE_OVERHEAD_TOKENS: Final = 8
"""Tokens a chat format adds per message (role, separators), generously counted."""


def check_file_size(document: SourceDocument, policy: PolicyConfig) -> None:
    """Raise `InputError` when the document is larger than `policy.max_file_bytes`."""
    limit = policy.max_file_bytes
    if len(document.text) <= limit // 4:  # A character is at most four UTF-8 bytes: no need to encode.
        return
    size = len(document.text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise InputError(
            f"{document.path} is {size:,} bytes, over policy.max_file_bytes ({limit:,}); nothing was sent. "
            "Review a smaller file (split it, or copy the part you want into a scratch file), "
            "or raise policy.max_file_bytes in chorus.toml"
        )


def prepare_document(document: SourceDocument) -> SourceDocument:
    """A copy of `document` whose secrets are replaced by placeholders (line for line)."""
    redacted, _count = redact_secrets(document.text)
    return document.model_copy(update={"text": redacted})


async def open_request(
    document: SourceDocument, config: ChorusConfig, workspace: Path | None
) -> tuple[PrivacyGate, SourceDocument]:
    """The request's privacy gate and its redacted document; raises `InputError`/`ExcludedFileError`."""
    check_file_size(document, config.policy)
    gate = PrivacyGate.for_document(document.path, config.policy, workspace)
    prepared = await off_loop(prepare_document, document, size=len(document.text))
    return gate, prepared


async def litellm_ready() -> float:
    """Load litellm if needed; returns the seconds that took (0 when it was loaded already).

    The one-time import is not the request's time: the fan-out's deadline starts after it, and
    pipelines add these seconds to their start time so the arbiter's share is counted alike.
    """
    started = anyio.current_time()
    await ensure_litellm()
    return anyio.current_time() - started


@functools.lru_cache(maxsize=256)
def _model_input_tokens(model: str) -> int:
    try:
        info = loaded_litellm().get_model_info(model)
    except Exception:  # litellm raises a bare Exception for models it has not mapped.
        return FALLBACK_INPUT_TOKENS
    value = info.get("max_input_tokens") if isinstance(info, dict) else None
    return value if isinstance(value, int) and value > 0 else FALLBACK_INPUT_TOKENS


async def seat_budget(seat: ModelConfig) -> int:
    """Prompt tokens the seat accepts: its `max_input_tokens`, litellm's figure, or the fallback."""
    if seat.max_input_tokens is not None:
        return seat.max_input_tokens
    await ensure_litellm()
    return _model_input_tokens(seat.model)


def surely_fits(messages: Sequence[Message], budget: int) -> bool:
    """True when the messages cannot exceed `budget` tokens (a token is at least one byte)."""
    size = sum(len(message.get("content", "").encode("utf-8", "surrogatepass")) for message in messages)
    return size + _MESSAGE_OVERHEAD_TOKENS * (len(messages) + 1) <= budget


def count_tokens(model: str, messages: Sequence[Message]) -> int:
    """Prompt tokens of `messages` for `model`, by litellm's token counter (after `ensure_litellm`)."""
    return int(loaded_litellm().token_counter(model=model, messages=list(messages)))


def count_text_tokens(model: str, text: str) -> int:
    """Tokens of a bare text for `model`."""
    return int(loaded_litellm().token_counter(model=model, text=text))


def over_budget(model: str, messages: Sequence[Message], budget: int) -> int | None:
    """The prompt's token count when it exceeds `budget`, else None (blocking: run off the loop)."""
    if surely_fits(messages, budget):
        return None
    tokens = count_tokens(model, messages)
    return tokens if tokens > budget else None


def budget_advice(name: str) -> str:
    """How to get a prompt under a seat's budget."""
    return f"select fewer lines, or raise models.{name}.max_input_tokens in chorus.toml"


async def admit_seats(
    asked: list[tuple[str, ModelConfig]], messages: list[Message]
) -> tuple[list[tuple[str, ModelConfig]], list[ModelStatus]]:
    """The seats whose budget holds `messages`, and a skipped status for each of the others.

    Raises `InputError` when no seat can take the prompt (nothing is sent then).
    """
    admitted: list[tuple[str, ModelConfig]] = []
    refused: list[ModelStatus] = []
    for name, seat in asked:
        budget = await seat_budget(seat)
        if surely_fits(messages, budget):
            admitted.append((name, seat))
            continue
        await ensure_litellm()
        tokens = await anyio.to_thread.run_sync(over_budget, seat.model, messages, budget)
        if tokens is None:
            admitted.append((name, seat))
        else:
            reason = (
                f"{name} was not asked: the prompt needs {tokens:,} tokens, over its budget of "
                f"{budget:,}; {budget_advice(name)}"
            )
            refused.append(ModelStatus.skipped(name, seat.label, reason))
    if not admitted:
        raise InputError(refused[0].error or "the prompt is too large for every seat")
    return admitted, refused
