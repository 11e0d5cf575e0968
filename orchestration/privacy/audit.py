"""What left the machine: one `OutboundCall` per model call, handed to the gate's audit hook.

`orchestration.providers.chat.complete_chat` (the one door every model call passes) reports each
call it made through `PrivacyGate.audit` once the call is over, however it ended: the seat, the
model, the endpoint the provider sent to, how many bytes of message text went out and how many
redaction placeholders they carried. A pipeline that records its run sets the hook
(`orchestration.memory.recorder.RunRecorder.audit`), so no call of that request escapes the log.
Nothing here holds message text or a key: `endpoint` is reduced to its host before it is stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from orchestration.privacy.secrets import PLACEHOLDER
from orchestration.types.requests import Message

logger = logging.getLogger(__name__)

CallOutcome = str
"""How a call ended: "ok", "error", "timeout" or "cancelled"."""


@dataclass(frozen=True, slots=True)
class OutboundCall:
    """One model call: who was asked where, how much left the machine, how it ended."""

    seat: str
    model: str
    endpoint: str | None
    """Where the provider sent it (a URL or a provider's name); only its host is ever stored."""
    bytes_sent: int
    """UTF-8 bytes of the message texts sent (after redaction)."""
    redactions: int
    """Redaction placeholders in what was sent: secrets that stayed home."""
    outcome: CallOutcome
    at: float = field(default_factory=time.time)


AuditHook = Callable[[OutboundCall], None]
"""Receives every call made through a gate; must not block or raise (it is called from `finally`)."""


def outbound_size(messages: Sequence[Message]) -> tuple[int, int]:
    """(UTF-8 bytes, redaction placeholders) of the messages' texts, as they are sent."""
    size = redactions = 0
    for message in messages:
        content = message.get("content", "")
        size += len(content.encode("utf-8", "surrogatepass"))
        redactions += len(PLACEHOLDER.findall(content))
    return size, redactions


def report_call(hook: AuditHook | None, call: OutboundCall) -> None:
    """Hand `call` to `hook`; a failing hook is logged, never raised into the model call."""
    if hook is None:
        return
    try:
        hook(call)
    except Exception:
        logger.exception("the audit hook failed")
