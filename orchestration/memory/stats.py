"""Stats and the audit log, read from the memory in SQL aggregates (`chorus stats`, `chorus audit`).

`model_stats(store, since_s=..., task=...)` covers the last `since_s` seconds (None: everything),
optionally one task; a seat call counts when it was made in the window, a run when it started in it:

- per model (the litellm model id in `seat_calls.model`): calls, answered / error / timeout /
  cached shares, p50/p95 latency, tokens, cost, agreement and the user's verdicts;
- per task: runs, median wall time, cost.

Shares are fractions in [0, 1], None when there is nothing to divide by. Status shares are over
the calls that were asked (not `skipped`): answered = ok or cached, errors = error or invalid.
Latency percentiles (nearest rank, an observed value) are over `ok` calls (cached ones took no
time). Agreement is the share of the model's own findings (its opinions) that made it into a
merged finding; acceptance, dismissal and usefulness rates are over the merged findings the model
took part in, each finding counted once however often it was judged.

Speed (100,000 runs in well under a second): the counts come from the rollup
(`orchestration.memory.rollup`, read through `rollup_reads.WindowReader`: whole days from its
counters, the window's first day from that day's rows), so a report reads O(models × days) rows.
Percentiles need the values themselves: each is one offset into an index kept in that order
((status, model, latency_ms, at) for latencies, (task, ended_at - started_at, started_at) for
walls), a walk of the index in the database. Findings name seats, so verdicts are counted per seat
and given to its model; a seat that changed models in the window gives each model the findings of
the runs it was called in (the rollup keeps both counts). Sums of costs may differ from a sum over
the rows in the last bits (another order of addition). Results are slotted dataclasses;
`to_json()` makes them (and the store's own records) JSON-able.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    func,
    or_,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from orchestration.memory import schema
from orchestration.memory.errors import StoreError, describe
from orchestration.memory.records import AuditRecord, JSONValue
from orchestration.memory.rollup_reads import WindowReader, by_model, value_index
from orchestration.memory.store import Store

AUDIT_LIMIT: Final = 1000
Counts = tuple[int, ...]
"""Merged findings taken part in, and how many of them were accepted, dismissed, marked useful."""


@dataclass(slots=True, frozen=True)
class ModelStats:
    """One model's record over the window."""

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
    """Findings the model reported itself."""
    agreed: int
    """Of those, how many made it into a merged finding."""
    agreement: float | None
    merged: int
    """Merged findings the model took part in."""
    accepted: int
    dismissed: int
    useful: int
    acceptance_rate: float | None
    dismissal_rate: float | None
    useful_rate: float | None


@dataclass(slots=True, frozen=True)
class TaskStats:
    """One task's runs over the window."""

    task: str
    runs: int
    median_wall_ms: int | None
    """Over the runs that ended."""
    cost_usd: float


@dataclass(slots=True, frozen=True)
class StatsReport:
    """`chorus stats`: per model and per task, since `since` (None: everything)."""

    since: float | None
    """The window's start in seconds since the epoch, or None."""
    task: str | None
    generated_at: float
    models: tuple[ModelStats, ...]
    tasks: tuple[TaskStats, ...]

    def to_json(self) -> dict[str, JSONValue]:
        """The report as plain JSON-able data."""
        return cast(dict[str, JSONValue], to_json(self))


def to_json(value: object) -> JSONValue:
    """Any stats or store record (dataclasses, tuples, lists, dicts, scalars) as JSON-able data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_json(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@contextmanager
def reading(store: Store) -> Iterator[Connection]:
    """One read-only transaction; every database failure is a one-line `StoreError`."""
    try:
        with store.engine.connect() as connection, connection.begin():
            yield connection
    except StoreError:
        raise
    except (SQLAlchemyError, OSError) as error:
        raise StoreError(f"the store at {store.location} failed: {describe(error)}") from error


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(slots=True, frozen=True)
class _Window:
    """What a report covers, as conditions on seat calls and on runs."""

    since: float | None
    task: str | None

    def calls(self) -> list[ColumnElement[bool]]:
        """Seat calls made since `since`, of runs of `task` (a semi-join only when a task is named)."""
        calls, runs = schema.seat_calls, schema.runs
        where: list[ColumnElement[bool]] = []
        if self.since is not None:
            where.append(calls.c.at >= self.since)
        if self.task is not None:
            where.append(calls.c.run_id.in_(select(runs.c.id).where(*self.runs())))
        return where

    def runs(self) -> list[ColumnElement[bool]]:
        """Runs that started since `since`, of `task`."""
        runs = schema.runs
        where: list[ColumnElement[bool]] = []
        if self.since is not None:
            where.append(runs.c.started_at >= self.since)
        if self.task is not None:
            where.append(runs.c.task == self.task)
        return where


def _latencies(connection: Connection, window: _Window) -> dict[str, tuple[int | None, int | None]]:
    """Per model the p50 and p95 latency of its `ok` calls: a count, then one offset per percentile,
    each a walk of the (status, model, latency_ms, at) index in latency order."""
    calls = schema.seat_calls
    where = [calls.c.status == "ok", calls.c.latency_ms.is_not(None), *window.calls()]
    counts = connection.execute(select(calls.c.model, func.count()).where(*where).group_by(calls.c.model))
    found: dict[str, tuple[int | None, int | None]] = {}
    for model, count in counts.all():
        ranked = select(calls.c.latency_ms).where(*where, calls.c.model == model).order_by(calls.c.latency_ms)
        p50, p95 = (
            connection.execute(ranked.offset(_rank(int(count), percent)).limit(1)).scalar_one_or_none()
            for percent in (50, 95)
        )
        found[str(model)] = (None if p50 is None else int(p50), None if p95 is None else int(p95))
    return found


def _rank(count: int, percent: int) -> int:
    """The 0-based position of the `percent`th percentile of `count` values (nearest rank)."""
    return max(0, (count * percent + 99) // 100 - 1)


def _model_verdicts(reader: WindowReader, models_of: dict[str, set[str]]) -> dict[str, Counts]:
    """Per model: the merged findings it took part in, and the user's verdicts on them."""
    found = reader.sums(schema.rollup_findings, "runs", ["seat", "call_model"])
    judged = reader.sums(
        schema.rollup_verdicts, "runs", ["seat", "call_model", "accepted", "dismissed", "useful"]
    )
    totals: dict[str, list[int]] = {}
    for (model,), (merged,) in by_model(found, models_of, items=[0], pairs=[1]).items():
        totals.setdefault(str(model), [0, 0, 0, 0])[0] += int(merged)
    for (model, *flags), (count,) in by_model(judged, models_of, items=[0], pairs=[1]).items():
        counts = totals.setdefault(str(model), [0, 0, 0, 0])
        for index, flag in enumerate(flags, start=1):
            counts[index] += int(count) if flag else 0
    return {model: tuple(counts) for model, counts in totals.items()}


def _model_rows(connection: Connection, window: _Window, reader: WindowReader) -> tuple[ModelStats, ...]:
    calls = reader.sums(schema.rollup_calls, "calls", ["seat", "model"])
    models_of: dict[str, set[str]] = {}
    totals: dict[str, list[float]] = {}
    for (seat, model), values in calls.items():
        if values[0]:
            models_of.setdefault(str(seat), set()).add(str(model))
            summed = totals.setdefault(str(model), [0] * len(values))
            for index, value in enumerate(values):
                summed[index] += value
    verdicts = _model_verdicts(reader, models_of)
    latencies = _latencies(connection, window) if totals else {}
    models: list[ModelStats] = []
    for model, row in totals.items():
        total, asked, ok, errors, timeouts, cached, _timed, tokens_in, tokens_out, opinions = map(
            int, row[:-1]
        )
        cost = float(row[-1])
        merged, accepted, dismissed, useful = verdicts.get(model, (0, 0, 0, 0))
        p50, p95 = latencies.get(model, (None, None))
        agreed = min(merged, opinions)
        models.append(
            ModelStats(
                model=model, calls=total, answered_rate=_share(ok, asked),
                error_rate=_share(errors, asked), timeout_rate=_share(timeouts, asked),
                cached_share=_share(cached, asked), p50_latency_ms=p50, p95_latency_ms=p95,
                tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost, opinions=opinions, agreed=agreed,
                agreement=_share(agreed, opinions), merged=merged, accepted=accepted,
                dismissed=dismissed, useful=useful, acceptance_rate=_share(accepted, merged),
                dismissal_rate=_share(dismissed, merged), useful_rate=_share(useful, merged),
            )
        )  # fmt: skip
    return tuple(sorted(models, key=lambda stats: (-stats.calls, stats.model)))


def _task_rows(
    connection: Connection, window: _Window, reader: WindowReader, total_cost: float
) -> tuple[TaskStats, ...]:
    """Per task: runs, median wall (an offset into the (task, wall, started_at) index), cost. The
    most frequent task's cost is the total less the others' (their runs' calls, from the rollup)."""
    runs = schema.runs
    wall = runs.c.ended_at - runs.c.started_at  # as the index has it
    counted = select(runs.c.task, func.count(), func.count(wall)).where(*window.runs()).group_by(runs.c.task)
    rows = sorted(
        ((str(task), int(count), int(ended)) for task, count, ended in connection.execute(counted)),
        key=lambda row: (-row[1], row[0]),
    )
    spent = reader.sums(schema.rollup_calls, "runs", ["task"])
    cost = value_index(schema.rollup_calls, "cost_usd")
    costs = {task: float(spent[(task,)][cost]) if (task,) in spent else 0.0 for task, *_ in rows[1:]}
    if rows:
        costs[rows[0][0]] = max(0.0, total_cost - sum(costs.values()))
    medians: dict[str, int | None] = {}
    for task, _count, ended in rows:
        ranked = select(wall * 1000).where(*window.runs(), runs.c.task == task, wall.is_not(None))
        median = connection.execute(ranked.order_by(wall).offset(_rank(ended, 50)).limit(1)).scalar()
        medians[task] = None if median is None else round(float(median))
    return tuple(
        TaskStats(task=task, runs=count, median_wall_ms=medians[task], cost_usd=costs.get(task, 0.0))
        for task, count, _ended in rows
    )


def model_stats(
    store: Store, *, since_s: float | None, task: str | None, now: float | None = None
) -> StatsReport:
    """Per model and per task over the last `since_s` seconds before `now` (None: everything).

    Raises `StoreError` when the database cannot be read.
    """
    now = time.time() if now is None else now
    since = None if since_s is None else now - since_s
    window = _Window(since, task)
    with reading(store) as connection:
        reader = WindowReader(connection, since, task)
        models = _model_rows(connection, window, reader)
        tasks = _task_rows(connection, window, reader, sum(model.cost_usd for model in models))
    return StatsReport(since=since, task=task, generated_at=now, models=models, tasks=tasks)


def audit_entries(
    store: Store,
    *,
    since_s: float | None,
    model: str | None,
    limit: int = AUDIT_LIMIT,
    now: float | None = None,
) -> list[AuditRecord]:
    """What left the machine, newest first: the last `since_s` seconds (None: all), of one model.

    `model` matches a call's model id or its seat name; `endpoint` holds the host only (all the
    store keeps). Raises `StoreError` when the database cannot be read.
    """
    audit = schema.audit
    query = select(audit).order_by(audit.c.at.desc(), audit.c.id.desc()).limit(limit)
    if since_s is not None:
        query = query.where(audit.c.at >= (time.time() if now is None else now) - since_s)
    if model is not None:
        query = query.where(or_(audit.c.model == model, audit.c.seat == model))
    with reading(store) as connection:
        return [_audit_record(row) for row in connection.execute(query)]


def _audit_record(row: Row[Any]) -> AuditRecord:
    return AuditRecord(
        seat=row.seat, model=row.model, endpoint=row.endpoint_host, outcome=row.outcome, path=row.path,
        start_line=row.start_line, end_line=row.end_line, bytes_sent=int(row.bytes_sent),
        redactions=int(row.redactions), run_id=row.run_id, at=row.at,
    )  # fmt: skip
