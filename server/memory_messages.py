"""The memory's additions to LSP: feedback on findings, stats and history (params, envelopes, replies).

`chorus/feedback {findingId, verdict}` takes the user's verdict on a finding ("accept",
"dismiss", "useful"); `chorus/stats {since?, task?}` and `chorus/history {limit?}` read the
memory. Each is also a command (for clients without custom requests, e.g. LSP4IJ). The params
are attrs classes structured and validated by lsprotocol's converter, as in `server.messages`
(which lists these envelopes in its `MESSAGE_TYPES`); fields are typed `Any` where the
converter would otherwise coerce junk (`5` into `"5"`) and a validator checks them instead.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypedDict

import attrs

from orchestration.types.config import Task
from orchestration.types.durations import seconds_in

FEEDBACK = "chorus/feedback"
STATS = "chorus/stats"
HISTORY = "chorus/history"

DISMISS_COMMAND = "chorus.dismissFinding"
USEFUL_COMMAND = "chorus.markUseful"
ACCEPT_COMMAND = "chorus.acceptFix"
STATS_COMMAND = "chorus.stats"
HISTORY_COMMAND = "chorus.history"

Verdict = Literal["accept", "dismiss", "useful"]
VERDICTS: tuple[Verdict, ...] = ("accept", "dismiss", "useful")
TASKS: tuple[Task, ...] = ("review", "implement", "explain")
FINDING_ID = re.compile(r"[0-9a-f]{8,32}")
"""A finding id (`orchestration.memory.records.stable_finding_id` makes 16 hex digits)."""
MAX_HISTORY = 1000
"""The most runs `chorus/history` returns at once."""
DEFAULT_HISTORY = 20


class InvalidValue(ValueError):
    """A param a validator refused; its text is the reason the client is told (`server.protocol`)."""


def is_finding_id(value: object) -> bool:
    """A finding id, as in a Chorus diagnostic's `data.findingId`: 8 to 32 lowercase hex digits."""
    return isinstance(value, str) and FINDING_ID.fullmatch(value) is not None


def finding_id(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: `is_finding_id`."""
    if not is_finding_id(value):
        raise InvalidValue(f"{attribute.name} must be a finding id (hex, from a diagnostic's data.findingId)")


def one_of(choices: tuple[str, ...], *, optional: bool = False) -> Any:
    """Validator: the value is one of `choices` (or None, when `optional`)."""

    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if not (isinstance(value, str) and value in choices):
            raise InvalidValue(f"{attribute.name} must be one of {', '.join(choices)}")

    return check


def duration(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: None, or what `seconds_in` accepts."""
    if value is None:
        return
    try:
        seconds_in(value)
    except ValueError:
        raise InvalidValue(f"{attribute.name} must be seconds or a duration such as '30d'") from None


def history_limit(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: None, or an integer from 1 to `MAX_HISTORY`."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_HISTORY:
        raise InvalidValue(f"{attribute.name} must be an integer from 1 to {MAX_HISTORY}")


@attrs.define
class FeedbackParams:
    """`chorus/feedback`: the user's verdict on one finding (`findingId` from a diagnostic's `data`)."""

    finding_id: Any = attrs.field(validator=finding_id)
    verdict: Any = attrs.field(validator=one_of(VERDICTS))


@attrs.define
class StatsParams:
    """`chorus/stats`: per model and per task over the runs of the last `since` (all runs when omitted)."""

    since: Any = attrs.field(default=None, validator=duration)
    task: Any = attrs.field(default=None, validator=one_of(TASKS, optional=True))


@attrs.define
class HistoryParams:
    """`chorus/history`: the newest runs, newest first (`DEFAULT_HISTORY` when `limit` is omitted)."""

    limit: Any = attrs.field(default=None, validator=history_limit)


@attrs.define
class FeedbackRequest:
    """The JSON-RPC envelope of `chorus/feedback`."""

    id: int | str
    params: FeedbackParams
    method: str
    jsonrpc: str


@attrs.define
class StatsRequest:
    """The JSON-RPC envelope of `chorus/stats` (params may be omitted)."""

    id: int | str
    method: str
    jsonrpc: str
    params: StatsParams | None = None


@attrs.define
class HistoryRequest:
    """The JSON-RPC envelope of `chorus/history` (params may be omitted)."""

    id: int | str
    method: str
    jsonrpc: str
    params: HistoryParams | None = None


MEMORY_MESSAGE_TYPES: dict[str, type[Any]] = {
    FEEDBACK: FeedbackRequest,
    STATS: StatsRequest,
    HISTORY: HistoryRequest,
}


class FeedbackReply(TypedDict):
    """`chorus/feedback`: the verdict; `recorded` if the memory kept it, `suppressed` if a dismissal will
    hide the finding on the same code from now on, `reason` when either did not happen; `hidden`: how
    many diagnostics were removed from open documents."""

    findingId: str
    verdict: Verdict
    recorded: bool
    suppressed: bool
    reason: str | None
    hidden: int


class ModelStatsRow(TypedDict):
    """One model in `chorus/stats` (`orchestration.memory.stats.ModelStats`): shares are 0..1 or None."""

    model: str
    calls: int
    """Seat calls (one per seat and run), skipped ones included."""
    answered_rate: float | None
    error_rate: float | None
    timeout_rate: float | None
    cached_share: float | None
    p50_latency_ms: int | None
    p95_latency_ms: int | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    opinions: int
    agreed: int
    agreement: float | None
    merged: int
    accepted: int
    dismissed: int
    useful: int
    acceptance_rate: float | None
    dismissal_rate: float | None
    useful_rate: float | None


class TaskStatsRow(TypedDict):
    """One task in `chorus/stats`."""

    task: str
    runs: int
    median_wall_ms: int | None
    cost_usd: float


class StatsReply(TypedDict):
    """`chorus/stats`: per model and per task since `since` (epoch seconds; None: every run).

    `available` is False when the memory is off or cannot be read (the lists are empty then);
    `markdown` is the report as a table, as the commands show it.
    """

    since: float | None
    task: str | None
    generated_at: float
    models: list[ModelStatsRow]
    tasks: list[TaskStatsRow]
    available: bool
    markdown: str


class HistoryRow(TypedDict):
    """One past run in `chorus/history` (`orchestration.memory.records.RunSummary`)."""

    run_id: str
    task: str
    workspace: str | None
    path: str | None
    start_line: int | None
    end_line: int | None
    user: str
    started_at: float
    ended_at: float | None
    outcome: str
    notice: str | None
    seats: list[str]
    content_hash: str | None
    config_hash: str | None
    prompt_version: str | None


class HistoryReply(TypedDict):
    """`chorus/history`: the newest runs, newest first; `available` and `markdown` as in `StatsReply`."""

    runs: list[HistoryRow]
    available: bool
    markdown: str
