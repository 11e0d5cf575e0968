"""Reading what an agent CLI printed: the answer's text, its session id, tokens and cost.

One reader for every profile (`AgentProfile.output`, `.text_keys`, `.session_keys`): "json" is one
object (or, failing that, JSON lines), "jsonl" is one event per line, "text" is the answer itself.
The last event that carries text is the answer (agents print their thinking and tool calls
first); the first session id seen is kept. Usage is read wherever the CLIs put it: `usage`
(`input_tokens` / `output_tokens`, or `prompt_tokens` / `completion_tokens`), gemini's
`stats.models.*.tokens`, and a cost in `total_cost_usd` or `cost_usd`. An event that reports an
error (`is_error`, `type: "error"`, `turn.failed`, an `error` object) is no answer: when no other
event answered, the call fails with the agent's own message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from orchestration.providers.agents.profiles import AgentProfile
from orchestration.providers.base import CallUsage

ERROR_TYPES = frozenset({"error", "turn.failed", "session.error"})
"""Event types that say the agent's turn failed."""
ANSWER_ROLES = frozenset({"assistant", "agent", "model"})


class AgentOutputError(Exception):
    """The agent reported an error in its output (the message is the agent's own, one line)."""


@dataclass(slots=True)
class AgentReply:
    """What one agent run answered."""

    text: str
    session_id: str | None = None
    usage: CallUsage = field(default_factory=CallUsage)


def _events(stdout: str, output: str) -> Iterator[dict[str, Any]]:
    """The JSON objects in `stdout`: the whole text as one, else one per line (others skipped)."""
    if output == "json":
        try:
            whole = json.loads(stdout)
        except ValueError:
            whole = None
        if isinstance(whole, dict):
            yield whole
            return
        if isinstance(whole, list):
            yield from (item for item in whole if isinstance(item, dict))
            return
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            yield event


def _at(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _is_answer(event: dict[str, Any], path: str) -> bool:
    """Whether the text at `path` is the agent's answer (not the user's prompt, a tool's output)."""
    role = event.get("role")
    if isinstance(role, str) and role not in ANSWER_ROLES:
        return False
    item = event.get("item")
    if path.startswith("item.") and isinstance(item, dict):
        return item.get("type") in (None, "agent_message", "assistant_message", "message")
    kind = event.get("type")
    if isinstance(kind, str) and any(word in kind for word in ("user", "tool", "reasoning", "delta")):
        return False
    return True


def _text_of(event: dict[str, Any], profile: AgentProfile) -> str | None:
    for path in profile.text_keys:
        value = _at(event, path)
        if isinstance(value, str) and value.strip() and _is_answer(event, path):
            return value
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read_usage(event: dict[str, Any], usage: CallUsage) -> None:
    counted = event.get("usage")
    if isinstance(counted, dict):
        tokens_in = _int(counted.get("input_tokens")) or _int(counted.get("prompt_tokens"))
        tokens_out = _int(counted.get("output_tokens")) or _int(counted.get("completion_tokens"))
        usage.add(CallUsage(tokens_in=tokens_in, tokens_out=tokens_out))
    models = _at(event, "stats.models")
    if isinstance(models, dict):
        for model in models.values():
            tokens = model.get("tokens") if isinstance(model, dict) else None
            if isinstance(tokens, dict):
                usage.add(
                    CallUsage(
                        tokens_in=_int(tokens.get("prompt")) or _int(tokens.get("input")),
                        tokens_out=_int(tokens.get("candidates")) or _int(tokens.get("output")),
                    )
                )
    for key in ("total_cost_usd", "cost_usd"):
        cost = event.get(key)
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            usage.add(CallUsage(cost_usd=float(cost)))
            break


def _error_of(event: dict[str, Any]) -> str | None:
    kind = event.get("type")
    failed = event.get("is_error") is True or (isinstance(kind, str) and kind in ERROR_TYPES)
    if failed or isinstance(event.get("error"), dict):
        for path in ("error.message", "message", "error", "result", "data.message"):
            value = _at(event, path)
            if isinstance(value, str) and value.strip():
                return " ".join(value.split())[:300]
        return f"the agent reported an error ({kind or 'is_error'})"
    return None


def parse_output(stdout: str, profile: AgentProfile) -> AgentReply:
    """The reply in an agent's stdout; raises `AgentOutputError` when the agent reported an error."""
    if profile.output == "text":
        return AgentReply(stdout.strip())
    reply = AgentReply("")
    error: str | None = None
    seen_event = False
    for event in _events(stdout, profile.output):
        seen_event = True
        if reply.session_id is None:
            for key in profile.session_keys:
                value = _at(event, key)
                if isinstance(value, str) and value.strip():
                    reply.session_id = value.strip()
                    break
        failure = _error_of(event)
        if failure is not None:
            error = failure
            continue
        text = _text_of(event, profile)
        if text is not None:
            reply.text = text
        _read_usage(event, reply.usage)
    if not reply.text and error is not None:
        raise AgentOutputError(error)
    if not seen_event:
        reply.text = stdout.strip()  # Not JSON after all: the tolerant answer parser gets the text.
    return reply
