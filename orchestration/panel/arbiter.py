"""The arbiter: an optional seat that turns the panel's merged answer into one voice.

For a review it rewrites each cluster's message from what every seat said, and may confirm
or reject findings that only one seat reported (multi-vote findings are never overruled).
With weighted voting it is also told each seat's learnt trust, as context for weighing their words.
For an explanation it writes one text that says where the seats disagree.

`ask_arbiter` runs one such step: through the same privacy gate as the seats, within what is left
of the request's deadline. Error policy: when the arbiter's call fails (`ProviderError`) or its
answer is unusable (`UnusableAnswer`), the step functions raise and `ask_arbiter` records the
failure in the arbiter's status, so the caller keeps the un-arbitrated result. Nothing here
catches cancellation. Without an arbiter, `combine_explanations` merges explanations and
attributes them to their seats.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Literal, TypeVar

import anyio
from pydantic import BaseModel, ValidationError, field_validator
from rapidfuzz import fuzz

from orchestration.answers.json_answers import extract_json
from orchestration.merge.consensus import merged_sort_key, normalize_message
from orchestration.privacy.gate import PrivacyGate, scrub_secrets
from orchestration.providers.base import CallUsage
from orchestration.providers.chat import complete_chat
from orchestration.types.config import ChorusConfig, ModelConfig
from orchestration.types.errors import ProviderError, UnusableAnswer
from orchestration.types.findings import MergedFinding, Severity, line_span
from orchestration.types.requests import Message
from orchestration.types.results import ModelStatus, SeatState

T = TypeVar("T")

CompleteChat = Callable[[list[Message]], Awaitable[str]]
"""Sends chat messages to the arbiter's seat and returns its answer text."""
Trust = Mapping[str, float] | None
"""Each seat's learnt trust, with weighted voting (`orchestration.learning.voting`); None: votes counted."""

MIN_ARBITER_SECONDS: Final = 0.05
"""With less than this left before the deadline, the arbiter is not asked at all."""

ARBITER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "clusters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "message": {"type": "string", "description": "One clear message for the cluster."},
                    "verdict": {
                        "anyOf": [{"type": "string", "enum": ["confirmed", "rejected"]}, {"type": "null"}]
                    },
                },
                "required": ["id", "message", "verdict"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["clusters"],
    "additionalProperties": False,
}
"""The JSON the arbiter answers a review with (OpenAI strict-output subset)."""

SAME_EXPLANATION = 62.0
"""`token_set_ratio` of normalized explanations from which two seats count as saying the same thing.

Agreeing explanations scored about 60-75 in trials, different ones 35-57; near the line the
combination errs toward flagging a disagreement."""

_REVIEW_SYSTEM = (
    "You are the arbiter of a panel of code reviewers. Several models reviewed the same code "
    "independently; their findings were grouped into clusters, each about one problem.\n"
    "For every cluster write one clear, concise message (one or two sentences) that states the "
    "problem and why it matters, combining what the reviewers said.\n"
    'For a cluster reported by only ONE reviewer, check the code: verdict "confirmed" if the problem '
    'is real, "rejected" if it is not. For every other cluster the verdict is null.\n'
    "Answer with JSON only, no prose:\n"
    '{"clusters": [{"id": N, "message": "...", "verdict": "confirmed" | "rejected" | null}]}'
)

_EXPLAIN_SYSTEM = (
    "You are the arbiter of a panel of models that each explained the same diagnostics. Write ONE "
    "explanation in Markdown for the developer: what the diagnostics mean in this code, why they "
    "happen, and how to fix them. Keep what the models agree on; where they disagree (on the cause "
    "or the fix), say so in a short section titled **Where the models disagree**, naming the models "
    "and each position. Be brief and concrete. Answer with the Markdown only."
)

_VERDICT_WORDS = {
    **dict.fromkeys(("confirmed", "confirm", "real", "valid", "true", "yes"), "confirmed"),
    **dict.fromkeys(("rejected", "reject", "invalid", "false", "no", "falsepositive"), "rejected"),
}
_TRUST_NOTE = (
    "\n\nHow often each reviewer's findings have proven right so far (learnt from the user's verdicts "
    "and the panel's agreement; weigh their words accordingly): "
)
_WHOLE_FENCE = re.compile(r"^\s*(`{3,}|~{3,})[\w-]*[ \t]*\n(?P<body>.*?)\n[ \t]*\1\s*$", re.DOTALL)


class ArbiterCluster(BaseModel):
    """The arbiter's word on one cluster, read tolerantly (ids like "C3", verdicts like "Confirm")."""

    id: int
    message: str | None = None
    verdict: Literal["confirmed", "rejected"] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_number(cls, value: Any) -> Any:
        if isinstance(value, str) and (digits := re.search(r"\d+", value)):
            return int(digits.group())
        return value

    @field_validator("message", mode="before")
    @classmethod
    def _message_text(cls, value: Any) -> str | None:
        return (value.strip() or None) if isinstance(value, str) else None

    @field_validator("verdict", mode="before")
    @classmethod
    def _verdict_word(cls, value: Any) -> str | None:
        if isinstance(value, bool):
            return "confirmed" if value else "rejected"
        if not isinstance(value, str):
            return None
        return _VERDICT_WORDS.get(re.sub(r"[^a-z]", "", value.lower()))


def describe_clusters(merged: Sequence[MergedFinding]) -> str:
    """The clusters as numbered text blocks (id = position + 1) with each seat's own words."""
    blocks = []
    for number, finding in enumerate(merged, start=1):
        span = line_span(finding.start_line, finding.end_line)
        header = (
            f"[{number}] {span}, reported by {finding.votes}/{finding.panel} models, "
            f"{finding.category.value}, {finding.severity.value}"
        )
        opinions = [f"  - {opinion.model}: {opinion.message}" for opinion in finding.opinions]
        blocks.append("\n".join([header, *opinions]))
    return "\n\n".join(blocks)


def review_arbiter_messages(
    merged: Sequence[MergedFinding], code_excerpt: str, trust: Trust = None
) -> list[Message]:
    """The chat sent to the arbiter for a review: numbered code, the clusters, each seat's `trust`."""
    user = (
        f"The code (line numbers left of the `|`):\n```\n{code_excerpt}\n```\n\n"
        f"The clusters:\n\n{describe_clusters(merged)}"
    )
    if trust:
        user += _TRUST_NOTE + ", ".join(f"{seat} {trust[seat]:.0%}" for seat in sorted(trust)) + "."
    return [{"role": "system", "content": _REVIEW_SYSTEM}, {"role": "user", "content": user}]


def parse_arbiter_answer(text: str) -> dict[int, ArbiterCluster]:
    """The arbiter's per-cluster answers by id; malformed entries are skipped.

    Raises `UnusableAnswer` when the answer holds no list of clusters at all.
    """
    value = extract_json(text)
    items: Any = value
    if isinstance(value, dict):
        keys = {re.sub(r"[^a-z]", "", str(key).lower()): item for key, item in value.items()}
        items = next(
            (keys[key] for key in ("clusters", "findings", "results", "verdicts") if key in keys),
            [value] if "id" in keys else None,
        )
    if not isinstance(items, list):
        raise UnusableAnswer("the arbiter's answer has no list of clusters")
    answers: dict[int, ArbiterCluster] = {}
    for item in items:
        try:
            cluster = ArbiterCluster.model_validate(item)
        except ValidationError:
            continue
        answers.setdefault(cluster.id, cluster)
    if items and not answers:
        raise UnusableAnswer("the arbiter's answer names no cluster id")
    return answers


def apply_arbiter_answer(
    merged: Sequence[MergedFinding], answers: Mapping[int, ArbiterCluster]
) -> list[MergedFinding]:
    """The merged findings with the arbiter's messages and single-vote verdicts applied (as copies).

    Unknown ids are ignored, a missing message keeps the original, and verdicts on
    findings with more than one vote are ignored. Confirmed restores the severity the
    seat gave (undoing the single-vote downgrade to info); rejected sets hint.
    """
    result = []
    for number, finding in enumerate(merged, start=1):
        answer = answers.get(number)
        if answer is None:
            result.append(finding)
            continue
        update: dict[str, Any] = {}
        if answer.message:
            update["message"] = answer.message
        if answer.verdict is not None and finding.votes == 1:
            update["arbiter_verdict"] = answer.verdict
            if answer.verdict == "rejected":
                update["severity"] = Severity.HINT
            elif finding.severity is Severity.INFO and finding.opinions:
                update["severity"] = finding.opinions[0].severity
        result.append(finding.model_copy(update=update) if update else finding)
    result.sort(key=merged_sort_key)
    return result


async def arbitrate_review(
    merged: Sequence[MergedFinding], code_excerpt: str, complete: CompleteChat, *, trust: Trust = None
) -> list[MergedFinding]:
    """Ask the arbiter to word each merged finding and judge the single-vote ones.

    `code_excerpt` is the reviewed code already numbered (`prompts.number_lines`); `trust` (seat →
    learnt trust, with weighted voting) is given to the arbiter as context. Returns
    new findings (the input is not modified), sorted like `merge_findings`. Raises
    `ProviderError` or `UnusableAnswer`; the caller then keeps `merged` as it was.
    """
    if not merged:
        return []
    answer = await complete(review_arbiter_messages(merged, code_excerpt, trust))
    return apply_arbiter_answer(merged, parse_arbiter_answer(answer))


def explanation_arbiter_messages(
    explanations: Mapping[str, str], diagnostics_summary: str, code_excerpt: str
) -> list[Message]:
    """The chat sent to the arbiter to synthesize explanations."""
    parts = [f"### {seat}\n{explanations[seat].strip()}" for seat in sorted(explanations)]
    user = (
        f"The diagnostics:\n{diagnostics_summary}\n\n"
        f"The code (line numbers left of the `|`):\n```\n{code_excerpt}\n```\n\n"
        "The models' explanations:\n\n" + "\n\n".join(parts)
    )
    return [{"role": "system", "content": _EXPLAIN_SYSTEM}, {"role": "user", "content": user}]


def _markdown_answer(text: str) -> str:
    """The arbiter's Markdown, unwrapped from a whole-answer fence or an {"explanation": …} object."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = extract_json(stripped)
        except UnusableAnswer:
            value = None
        if isinstance(value, dict):
            inner = next((value[key] for key in ("explanation", "answer", "markdown") if key in value), None)
            if isinstance(inner, str):
                stripped = inner.strip()
    fenced = _WHOLE_FENCE.match(stripped)
    if fenced:
        stripped = fenced.group("body").strip()
    if not stripped:
        raise UnusableAnswer("the arbiter's explanation is empty")
    return stripped


async def synthesize_explanation(
    explanations: Mapping[str, str], diagnostics_summary: str, code_excerpt: str, complete: CompleteChat
) -> str:
    """One Markdown explanation from the seats' explanations that says where they disagree.

    With fewer than two non-blank explanations there is nothing to synthesize: the
    combined text is returned without calling the arbiter. Raises `ProviderError` or
    `UnusableAnswer`; the caller then falls back to `combine_explanations`.
    """
    usable = {seat: text for seat, text in explanations.items() if text.strip()}
    if len(usable) < 2:
        return combine_explanations(usable)
    answer = await complete(explanation_arbiter_messages(usable, diagnostics_summary, code_excerpt))
    return _markdown_answer(answer)


def group_explanations(explanations: Mapping[str, str]) -> list[list[str]]:
    """Seats grouped by what their explanations say (rapidfuzz on normalized text), biggest group first.

    An explanation joins the first group with a member it resembles at
    `SAME_EXPLANATION` or more; seats are taken in name order, so grouping is deterministic.
    """
    norms = {seat: normalize_message(text) for seat, text in explanations.items() if text.strip()}
    groups: list[list[str]] = []
    for seat in sorted(norms):
        for group in groups:
            if any(
                fuzz.token_set_ratio(norms[seat], norms[member], score_cutoff=SAME_EXPLANATION) > 0
                for member in group
            ):
                group.append(seat)
                break
        else:
            groups.append([seat])
    groups.sort(key=lambda group: (-len(group), group))
    return groups


def _attributed(seats: Sequence[str], text: str) -> str:
    """`**a, b:** text`, with the text on its own paragraph when it is more than one paragraph."""
    label = f"**{', '.join(seats)}:**"
    body = text.strip()
    if "\n\n" in body or body.startswith(("#", "-", "*", ">", "```", "1.")):
        return f"{label}\n\n{body}"
    return f"{label} {body}"


def combine_explanations(explanations: Mapping[str, str]) -> str:
    """The no-arbiter fallback: the seats' explanations merged and attributed, disagreement flagged.

    Seats that say essentially the same thing share one entry (the longest of their
    texts); when the seats fall into several groups, a note says they disagree.
    """
    groups = group_explanations(explanations)
    if not groups:
        return ""
    entries = [
        _attributed(group, max((explanations[seat].strip() for seat in group), key=len)) for group in groups
    ]
    if len(groups) == 1:
        return entries[0]
    note = f"> **The models disagree:** {len(groups)} different explanations."
    return "\n\n".join([note, *entries])


async def ask_arbiter(
    config: ChorusConfig,
    gate: PrivacyGate,
    messages_for: Callable[[CompleteChat], Awaitable[T]],
    *,
    started_at: float | None = None,
) -> tuple[T | None, ModelStatus | None]:
    """Run one arbiter step if an arbiter is configured; a failure returns (None, its status).

    The arbiter passes the same privacy gate as the seats: a local-only file never reaches a
    remote arbiter (its status says it was skipped). It never runs past the request's deadline:
    `started_at` (`anyio.current_time()` when the request began) leaves it only what remains of
    `policy.deadline`; with nothing left it is not asked at all.
    """
    name = config.panels.arbiter
    if name is None:
        return None, None
    seat = config.models[name]
    refusal = gate.refusal(seat)
    if refusal is not None:
        return None, ModelStatus.skipped(name, seat.model, refusal)
    deadline = config.policy.deadline
    now = anyio.current_time()
    remaining = deadline - (now - started_at) if started_at is not None else deadline
    if remaining <= MIN_ARBITER_SECONDS:
        reason = f"not asked: the request's deadline of {deadline:g} s had been reached"
        return None, ModelStatus.skipped(name, seat.model, reason)
    limit = min(seat.timeout, remaining)
    usage = CallUsage()

    async def complete(messages: list[Message]) -> str:
        call = CallUsage()
        try:
            return await complete_chat(name, seat, messages, gate=gate, usage=call)
        finally:
            usage.add(call)

    try:
        with anyio.fail_after(limit):
            value = await messages_for(complete)
    except TimeoutError:
        if limit < seat.timeout:
            reason = f"arbiter cut off at the request's deadline of {deadline:g} s"
        else:
            reason = f"arbiter timed out after {seat.timeout:g} s"
        return None, _status(name, seat, "timeout", now, reason, usage)
    except ProviderError as error:
        return None, _status(name, seat, error.kind, now, str(error), usage)
    except UnusableAnswer as error:
        return None, _status(name, seat, "invalid", now, str(error), usage)
    return value, _status(name, seat, "ok", now, None, usage)


def _status(
    name: str, seat: ModelConfig, state: SeatState, started: float, error: str | None, usage: CallUsage
) -> ModelStatus:
    latency = (anyio.current_time() - started) * 1000
    shown = None if error is None else scrub_secrets(error)
    return ModelStatus(
        name=name,
        model=seat.model,
        status=state,
        latency_ms=round(latency, 1),
        error=shown,
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
        cost_usd=usage.cost_usd,
    )
