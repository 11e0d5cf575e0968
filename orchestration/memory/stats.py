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

Speed (100,000 runs in under a second): every aggregate is a GROUP BY in the database, the same SQL
on SQLite and PostgreSQL but for the JSON and string-aggregate functions' names. Seat calls are
grouped by an expression of the model (else SQLite walks the (model, at) index, fetching rows out
of order); the latencies come back as one string per model and are sorted here. Findings name
seats, so verdicts are counted per seat and given to its model; only a seat that changed models
in the window costs a join to its runs' seat calls. Results are slotted dataclasses; `to_json()`
makes them (and the store's own records) JSON-able.
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
    FromClause,
    Row,
    Subquery,
    Text,
    and_,
    case,
    func,
    or_,
    select,
    true,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import SQLAlchemyError

from orchestration.memory import schema
from orchestration.memory.errors import StoreError, describe
from orchestration.memory.records import AuditRecord, JSONValue
from orchestration.memory.store import Store

AUDIT_LIMIT: Final = 1000
ANSWERED: Final = ("ok", "cached")
ERRORS: Final = ("error", "invalid")
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


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _nearest_rank(ordered: list[float], percent: int) -> int | None:
    """The `percent`th percentile of sorted values by the nearest-rank method."""
    if not ordered:
        return None
    return round(ordered[max(0, (len(ordered) * percent + 99) // 100 - 1)])


def _numbers(joined: str | None) -> list[float]:
    """The sorted numbers of a comma-joined aggregate string (None: none)."""
    return sorted(map(float, joined.split(","))) if joined else []


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


class _Dialect:
    """The few functions that SQLite and PostgreSQL name differently."""

    def __init__(self, connection: Connection) -> None:
        self.postgres = connection.dialect.name == "postgresql"

    def json_length(self, column: ColumnElement[Any]) -> ColumnElement[int]:
        return func.jsonb_array_length(column) if self.postgres else func.json_array_length(column)

    def json_items(self, column: ColumnElement[Any]) -> FromClause:
        """One row per item of a JSON array column, in a column named `value` on both dialects."""
        items = func.jsonb_array_elements_text(column) if self.postgres else func.json_each(column)
        return cast(FromClause, items.table_valued("value").alias("item"))

    def joined(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        """The group's non-null values as one comma-separated string."""
        text = sql_cast(value, Text)
        return func.string_agg(text, ",") if self.postgres else func.group_concat(text, ",")


def _model_totals(connection: Connection, window: _Window) -> list[Any]:
    """One row per model: calls by outcome, tokens, cost, opinions, the `ok` calls' latencies."""
    calls, sql = schema.seat_calls, _Dialect(connection)
    status, model = calls.c.status, func.coalesce(calls.c.model, "")  # coalesce: a scan, not the index
    query = (
        select(
            model,
            func.count(),
            _count_if(status != "skipped"),
            _count_if(status.in_(ANSWERED)),
            _count_if(status.in_(ERRORS)),
            _count_if(status == "timeout"),
            _count_if(status == "cached"),
            func.coalesce(func.sum(calls.c.tokens_in), 0),
            func.coalesce(func.sum(calls.c.tokens_out), 0),
            func.coalesce(func.sum(calls.c.cost_usd), 0.0),
            func.coalesce(func.sum(sql.json_length(calls.c.findings)), 0),
            sql.joined(case((status == "ok", calls.c.latency_ms))),
        )
        .where(*window.calls())
        .group_by(model)
    )
    return list(connection.execute(query))


def _verdicts() -> Subquery:
    """Per judged finding: whether it was ever accepted, dismissed, marked useful (0 or 1 each)."""
    feedback = schema.feedback
    verdict = feedback.c.verdict
    return (
        select(
            feedback.c.finding_id,
            func.max(case((verdict == "accept", 1), else_=0)).label("accepted"),
            func.max(case((verdict == "dismiss", 1), else_=0)).label("dismissed"),
            func.max(case((verdict == "useful", 1), else_=0)).label("useful"),
        )
        .group_by(feedback.c.finding_id)
        .subquery()
    )


def _finding_counts(
    connection: Connection, window: _Window, seats: list[str] | None = None
) -> dict[str, Counts]:
    """Counts over merged findings per seat name: all findings, then the judged ones only. With
    `seats`, per model for those seats, each finding joined to its run's seat calls (slower: only
    for seats that changed models in the window)."""
    findings, calls, verdicts = schema.findings, schema.seat_calls, _verdicts()
    item = _Dialect(connection).json_items(findings.c.models)
    seat: ColumnElement[str] = item.c.value
    key = seat if seats is None else calls.c.model
    where = [*window.runs(), *([] if seats is None else [seat.in_(seats)])]

    def source(base: FromClause) -> FromClause:
        joined = base.join(item, true())
        if seats is not None:
            joined = joined.join(calls, and_(calls.c.run_id == findings.c.run_id, calls.c.seat == seat))
        return joined.join(schema.runs, schema.runs.c.id == findings.c.run_id) if window.runs() else joined

    merged = select(key, func.count()).select_from(source(findings)).where(*where).group_by(key)
    counts: dict[str, Counts] = {
        str(name): (int(count), 0, 0, 0) for name, count in connection.execute(merged)
    }
    sums = [func.sum(verdicts.c.accepted), func.sum(verdicts.c.dismissed), func.sum(verdicts.c.useful)]
    judged = source(verdicts.join(findings, findings.c.id == verdicts.c.finding_id))
    for name, *judgements in connection.execute(
        select(key, *sums).select_from(judged).where(*where).group_by(key)
    ):
        total = counts.get(str(name), (0, 0, 0, 0))[0]
        counts[str(name)] = (total, int(judgements[0]), int(judgements[1]), int(judgements[2]))
    return counts


def _model_verdicts(connection: Connection, window: _Window) -> dict[str, Counts]:
    """Per model: the merged findings it took part in, and the user's verdicts on them."""
    calls = schema.seat_calls
    models_of: dict[str, set[str]] = {}
    for seat, model in connection.execute(
        select(calls.c.seat, calls.c.model).where(*window.calls()).distinct()
    ):
        models_of.setdefault(seat, set()).add(model)
    single = {seat: next(iter(models)) for seat, models in models_of.items() if len(models) == 1}
    changed = sorted(set(models_of) - set(single))
    found = [(single[seat], n) for seat, n in _finding_counts(connection, window).items() if seat in single]
    found += (_finding_counts(connection, window, changed) if changed else {}).items()
    totals: dict[str, Counts] = {}
    for model, counts in found:
        totals[model] = tuple(a + b for a, b in zip(totals.get(model, (0, 0, 0, 0)), counts, strict=True))
    return totals


def _model_rows(connection: Connection, window: _Window) -> tuple[ModelStats, ...]:
    verdicts = _model_verdicts(connection, window)
    models: list[ModelStats] = []
    for row in _model_totals(connection, window):
        model = str(row[0])
        total, asked, ok, errors, timeouts, cached, tokens_in, tokens_out = (int(v) for v in row[1:9])
        cost, opinions, latencies = float(row[9]), int(row[10]), _numbers(row[11])
        merged, accepted, dismissed, useful = verdicts.get(model, (0, 0, 0, 0))
        agreed = min(merged, opinions)
        models.append(
            ModelStats(
                model=model, calls=total, answered_rate=_share(ok, asked),
                error_rate=_share(errors, asked), timeout_rate=_share(timeouts, asked),
                cached_share=_share(cached, asked), p50_latency_ms=_nearest_rank(latencies, 50),
                p95_latency_ms=_nearest_rank(latencies, 95), tokens_in=tokens_in,
                tokens_out=tokens_out, cost_usd=cost, opinions=opinions, agreed=agreed,
                agreement=_share(agreed, opinions), merged=merged, accepted=accepted,
                dismissed=dismissed, useful=useful, acceptance_rate=_share(accepted, merged),
                dismissal_rate=_share(dismissed, merged), useful_rate=_share(useful, merged),
            )
        )  # fmt: skip
    return tuple(sorted(models, key=lambda stats: (-stats.calls, stats.model)))


def _task_rows(connection: Connection, window: _Window, total_cost: float) -> tuple[TaskStats, ...]:
    """Per task: runs, median wall, cost. The most frequent task's cost is the total less the
    others' (joined to their seat calls), so the common case joins few runs."""
    runs, calls = schema.runs, schema.seat_calls
    wall = (runs.c.ended_at - runs.c.started_at) * 1000
    grouped = select(runs.c.task, func.count(), _Dialect(connection).joined(wall))
    rows = connection.execute(grouped.where(*window.runs()).group_by(runs.c.task)).all()
    ordered = sorted(((str(r[0]), int(r[1]), _numbers(r[2])) for r in rows), key=lambda r: (-r[1], r[0]))
    others = [task for task, _count, _walls in ordered[1:]]
    costs: dict[str, float] = {}
    for other in others:
        ran = select(runs.c.id).where(*window.runs(), runs.c.task == other)
        query = select(func.coalesce(func.sum(calls.c.cost_usd), 0.0)).where(calls.c.run_id.in_(ran))
        costs[other] = float(connection.execute(query).scalar_one())
    if ordered:
        costs[ordered[0][0]] = max(0.0, total_cost - sum(costs.values()))
    return tuple(
        TaskStats(
            task=task, runs=count, median_wall_ms=_nearest_rank(walls, 50), cost_usd=costs.get(task, 0.0)
        )
        for task, count, walls in ordered
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
        models = _model_rows(connection, window)
        tasks = _task_rows(connection, window, sum(model.cost_usd for model in models))
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
