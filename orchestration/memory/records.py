"""Typed records that go into the memory and come out of it.

Every write is one of the frozen, slotted dataclasses in `StoreWrite`; the store scrubs the fields
named in each class's `TEXT_FIELDS` (secrets by value, then redaction) before anything reaches the
database. Ids, hashes and fingerprints are never scrubbed: they are hex and could look like keys.
Times are seconds since the epoch (UTC), as floats.

Ids and hashes: run ids are random (unique across processes without asking the database); a
finding's fingerprint is the normalized lines around it (whitespace collapsed, blank lines dropped)
plus its cluster key, so a dismissed finding stays hidden while that code is unchanged, wherever it
moves in the file, and comes back when the code changes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

RunOutcome = Literal["running", "ok", "partial", "failed", "cancelled", "interrupted"]
SeatStatus = Literal["ok", "error", "timeout", "invalid", "cancelled", "skipped", "cached"]
Verdict = Literal["accept", "dismiss", "useful"]
ConflictKind = Literal["missing", "severity_split", "arbiter_overrule"]
JSONValue = str | int | float | bool | None | list["JSONValue"] | dict[str, "JSONValue"]
_SPACE = re.compile(r"\s+")


def new_run_id() -> str:
    """16 hex characters (64 random bits): unique across processes without asking the database."""
    return secrets.token_hex(8)


def content_hash(text: str) -> str:
    """SHA-256 of `text` (hex): what a run saw, without storing it."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def normalized_lines(lines: Iterable[str]) -> list[str]:
    """`lines` with runs of whitespace collapsed, ends stripped, blank lines dropped."""
    normalized = (_SPACE.sub(" ", line).strip() for line in lines)
    return [line for line in normalized if line]


def code_fingerprint(lines: Iterable[str], cluster_key: str) -> str:
    """32 hex characters naming one finding (`cluster_key`) on these lines of code."""
    digest = hashlib.sha256()
    for line in normalized_lines(lines):
        digest.update(line.encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    digest.update(b"\0")
    digest.update(cluster_key.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def stable_finding_id(run_id: str, fingerprint: str) -> str:
    """16 hex characters: the same finding of the same run always gets the same id."""
    return hashlib.sha256(f"{run_id}:{fingerprint}".encode()).hexdigest()[:16]


@dataclass(slots=True, frozen=True)
class RunStart:
    """A request began. `code` (the document) is kept only with `store.keep_code`, encrypted."""

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("workspace", "path", "notice", "code")
    task: str
    workspace: str | None = None
    path: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    content_hash: str | None = None
    config_hash: str | None = None
    prompt_version: str | None = None
    seats: tuple[str, ...] = ()
    user: str | None = None
    notice: str | None = None
    code: str | None = None
    run_id: str = field(default_factory=new_run_id)
    started_at: float = field(default_factory=time.time)


@dataclass(slots=True, frozen=True)
class RunEnd:
    """A request ended with `outcome`."""

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("notice",)
    run_id: str
    outcome: RunOutcome
    notice: str | None = None
    ended_at: float = field(default_factory=time.time)


@dataclass(slots=True, frozen=True)
class SeatFinding:
    """One finding as one seat reported it (its opinion), without any code."""

    start_line: int
    end_line: int
    severity: str
    category: str
    message: str


@dataclass(slots=True, frozen=True)
class SeatCall:
    """One seat's part in a run: status, latency, tokens, cost, its own findings."""

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("error_class",)
    run_id: str
    seat: str
    model: str
    status: SeatStatus
    error_class: str | None = None
    latency_ms: int | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    answer_hash: str | None = None
    findings: tuple[SeatFinding, ...] = ()
    at: float = field(default_factory=time.time)


@dataclass(slots=True, frozen=True)
class FindingRecord:
    """A merged finding. `fix` is code: stored only with `store.keep_code`, encrypted."""

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("message", "arbiter_verdict", "fix")
    finding_id: str
    run_id: str
    start_line: int
    end_line: int
    votes: int
    panel_size: int
    severity: str
    category: str
    message: str
    models: tuple[str, ...] = ()
    arbiter_verdict: str | None = None
    fingerprint: str | None = None
    fix: str | None = None


@dataclass(slots=True, frozen=True)
class ConflictRecord:
    """Seats disagreed: some reported a finding and others not, severities split, or the arbiter overruled."""

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("detail",)
    run_id: str
    kind: ConflictKind
    finding_id: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    models_for: tuple[str, ...] = ()
    models_against: tuple[str, ...] = ()
    detail: str | None = None


@dataclass(slots=True, frozen=True)
class FeedbackEvent:
    """The user's verdict on a finding."""

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ()
    finding_id: str
    verdict: Verdict
    user: str | None = None
    at: float = field(default_factory=time.time)


@dataclass(slots=True, frozen=True)
class Suppression:
    """Hide findings with this fingerprint (personal unless `shared`)."""

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("cluster_key",)
    fingerprint: str
    cluster_key: str = ""
    user: str | None = None
    shared: bool = False
    finding_id: str | None = None
    created_at: float = field(default_factory=time.time)


@dataclass(slots=True, frozen=True)
class ClearSuppressions:
    """Forget the user's suppressions (not the team's shared ones)."""

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ()
    user: str | None = None


@dataclass(slots=True, frozen=True)
class CacheEntry:
    """A seat's answer, reusable for `ttl_s` seconds under `key`; the answer is stored encrypted."""

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ()
    key: str
    model: str
    answer: str
    ttl_s: float = 24 * 3600.0
    created_at: float = field(default_factory=time.time)


@dataclass(slots=True, frozen=True)
class AuditRecord:
    """What left the machine in one model call. `endpoint` may be a URL: only its host is stored."""

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("path", "outcome")
    seat: str
    model: str
    endpoint: str | None
    outcome: str
    path: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    bytes_sent: int = 0
    redactions: int = 0
    run_id: str | None = None
    at: float = field(default_factory=time.time)


StoreWrite = (
    RunStart
    | RunEnd
    | SeatCall
    | FindingRecord
    | ConflictRecord
    | FeedbackEvent
    | Suppression
    | ClearSuppressions
    | CacheEntry
    | AuditRecord
)
"""Everything `Store.write` and `StoreWriter.submit` accept."""


@dataclass(slots=True, frozen=True)
class RunSummary:
    """One line of `chorus history`."""

    run_id: str
    task: str
    workspace: str | None
    path: str | None
    start_line: int | None
    end_line: int | None
    user: str
    started_at: float
    ended_at: float | None
    outcome: RunOutcome
    notice: str | None
    seats: tuple[str, ...]
    content_hash: str | None = None
    config_hash: str | None = None
    prompt_version: str | None = None


@dataclass(slots=True, frozen=True)
class RunDetail:
    """`chorus show RUN_ID`: the run, each seat's opinion, the merged findings, conflicts, feedback."""

    run: RunSummary
    seats: tuple[SeatCall, ...]
    findings: tuple[FindingRecord, ...]
    conflicts: tuple[ConflictRecord, ...]
    feedback: tuple[FeedbackEvent, ...]
    code: str | None = None


@dataclass(slots=True, frozen=True)
class PruneResult:
    """How many rows `Store.prune` removed."""

    runs: int
    audit: int
    feedback: int
    cache: int
