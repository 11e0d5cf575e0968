"""What automatic routing reads from the memory: each candidate's recent calls, trust and the file's mix.

`read_evidence(store, ...)` runs in a reader thread (`orchestration.memory.reads`), in one call:

- per candidate label (`ModelConfig.label`, `model@effort` for an effort candidate) and task: its
  last `RECENT_CALLS` calls of that task's runs (skipped, cancelled and cached calls, and arbiter
  calls, left out: they say nothing of the seat as a panellist), how many failed (error, invalid
  answer or timeout), the nearest-rank p95 latency of the answered ones, their mean tokens in and
  out and mean recorded cost. Each is one `ORDER BY at DESC LIMIT` on the (model, at) index;
- the category mix of the task's past merged findings on files of the document's language (by
  extension, case-insensitive) over the last `MIX_WINDOW_DAYS` days: category → share;
- trust for the task (`orchestration.learning.trust.trust_scores`, prior = each label's `weight`):
  per label its roll-up and its per-category posterior means.

Nothing is written: routing decides from the store alone, so a decision survives a restart and
every face (and every user of a shared store) sees the same one. Raises `StoreError` on failure.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Final

from sqlalchemy import Connection, func, select

from orchestration.learning.settings import LearningConfig
from orchestration.memory import schema
from orchestration.memory.recorder import ARBITER_SUFFIX
from orchestration.memory.stats import reading
from orchestration.memory.store import Store

RECENT_CALLS: Final = 50
"""Calls per candidate that availability, latency and tokens are taken over."""
MIX_WINDOW_DAYS: Final = 90.0
"""Days of findings the language's category mix is taken over."""
NOT_CALLS: Final = ("skipped", "cancelled", "cached")
"""Statuses that were not a call the model answered or failed."""
FAILED: Final = ("error", "invalid", "timeout")


@dataclass(frozen=True, slots=True)
class CallStats:
    """One candidate's recent calls of one task."""

    calls: int = 0
    failures: int = 0
    """Errors, invalid answers and timeouts among `calls`."""
    p95_latency_ms: int | None = None
    tokens_in: float | None = None
    """Mean prompt tokens of the calls that recorded them."""
    tokens_out: float | None = None
    cost_usd: float | None = None
    """Mean recorded cost of the calls that recorded one (a proxy's figure)."""


@dataclass(frozen=True, slots=True)
class LabelTrust:
    """A label's trust for the task: its roll-up and, per category, (posterior mean, events)."""

    mean: float
    events: int
    categories: Mapping[str, tuple[float, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RouteEvidence:
    """Everything a routing decision rests on, for one request."""

    calls: Mapping[str, CallStats]
    trust: Mapping[str, LabelTrust]
    language: str | None
    """The document's extension ('.py'), or None."""
    mix: Mapping[str, float]
    """Category → share of the language's past findings (empty: none, or no language)."""
    findings: int
    """Findings the mix rests on."""


def load_queries() -> None:
    """Import the trust's queries now (blocking; for a face about to explain a route): a first read
    would otherwise spend its budget importing them and route in pool order."""
    import orchestration.learning.trust  # noqa: F401


def language_of(path: str | None) -> str | None:
    """The lower-cased extension of `path` ('.py'), or None (no path, no extension)."""
    if not path:
        return None
    suffix = PurePosixPath(path.replace("\\", "/")).suffix.lower()
    return suffix or None


def nearest_rank(ordered: list[int], percent: int) -> int | None:
    """The `percent`th percentile of sorted values by the nearest-rank method (None: no values)."""
    if not ordered:
        return None
    return ordered[max(0, (len(ordered) * percent + 99) // 100 - 1)]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def recent_calls(connection: Connection, label: str, task: str, limit: int = RECENT_CALLS) -> CallStats:
    """`label`'s last `limit` calls in runs of `task` (see the module docstring)."""
    calls, runs = schema.seat_calls, schema.runs
    query = (
        select(calls.c.status, calls.c.latency_ms, calls.c.tokens_in, calls.c.tokens_out, calls.c.cost_usd)
        .select_from(calls.join(runs, runs.c.id == calls.c.run_id))
        .where(
            calls.c.model == label,
            runs.c.task == task,
            calls.c.status.not_in(NOT_CALLS),
            ~calls.c.seat.endswith(ARBITER_SUFFIX, autoescape=True),
        )
        .order_by(calls.c.at.desc())
        .limit(limit)
    )
    rows = list(connection.execute(query))
    answered = [row for row in rows if row.status not in FAILED]
    latencies = sorted(int(row.latency_ms) for row in answered if row.latency_ms is not None)
    return CallStats(
        calls=len(rows),
        failures=len(rows) - len(answered),
        p95_latency_ms=nearest_rank(latencies, 95),
        tokens_in=_mean([float(row.tokens_in) for row in answered if row.tokens_in is not None]),
        tokens_out=_mean([float(row.tokens_out) for row in answered if row.tokens_out is not None]),
        cost_usd=_mean([float(row.cost_usd) for row in answered if row.cost_usd is not None]),
    )


def category_mix(
    connection: Connection, task: str, language: str | None, since: float | None
) -> tuple[dict[str, float], int]:
    """Category → share of the merged findings of `task` on files ending in `language`, and their count."""
    if language is None:
        return {}, 0
    findings, runs = schema.findings, schema.runs
    where = [runs.c.task == task, func.lower(runs.c.path).endswith(language, autoescape=True)]
    if since is not None:
        where.append(runs.c.started_at >= since)
    query = (
        select(findings.c.category, func.count())
        .select_from(findings.join(runs, runs.c.id == findings.c.run_id))
        .where(*where)
        .group_by(findings.c.category)
    )
    counts = {str(category): int(count) for category, count in connection.execute(query)}
    total = sum(counts.values())
    return ({category: count / total for category, count in sorted(counts.items())} if total else {}), total


def read_trust(
    store: Store,
    learning: LearningConfig,
    weights: Mapping[str, float],
    task: str,
    min_agreement: int,
    now: float,
) -> dict[str, LabelTrust]:
    """Each label's trust for `task` (its prior alone when nothing is known of it)."""
    from orchestration.learning.trust import trust_scores

    report = trust_scores(store, learning, weights=weights, min_agreement=min_agreement, task=task, now=now)
    per_category: dict[str, dict[str, tuple[float, int]]] = {}
    for estimate in report.scores:
        if estimate.category is not None and estimate.events:
            per_category.setdefault(estimate.model, {})[estimate.category] = (estimate.mean, estimate.events)
    trust: dict[str, LabelTrust] = {}
    for label in weights:
        rollup = report.for_model(label)
        trust[label] = LabelTrust(rollup.mean, rollup.events, per_category.get(label, {}))
    return trust


def read_evidence(
    store: Store,
    *,
    learning: LearningConfig,
    weights: Mapping[str, float],
    task: str,
    path: str | None,
    min_agreement: int,
    now: float | None = None,
) -> RouteEvidence:
    """The evidence for routing a request of `task` on `path` among the labels of `weights` (blocking)."""
    now = time.time() if now is None else now
    language = language_of(path)
    with reading(store) as connection:
        calls = {label: recent_calls(connection, label, task) for label in weights}
        mix, found = category_mix(connection, task, language, now - MIX_WINDOW_DAYS * 86400.0)
    trust = read_trust(store, learning, weights, task, min_agreement, now)
    return RouteEvidence(calls=calls, trust=trust, language=language, mix=mix, findings=found)
