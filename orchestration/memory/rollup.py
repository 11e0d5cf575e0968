"""The rollup: per-day counters of seat calls, merged findings and verdicts, kept as the rows change.

Stats and trust read these instead of every row (`rollup_reads`): 100,000 runs make a few thousand
rollup rows. Three tables (`orchestration.memory.schema`), by UTC calendar day (`day_of`):

- `rollup_calls`, per day of the call, day of its run, task, seat and model: calls, asked (not
  skipped), answered (ok or cached), errors (error or invalid), timeouts, cached, timed (`ok` with a
  latency), tokens in and out, opinions (the seat's own findings) and cost;
- `rollup_findings`, per day of the run, task, seat a merged finding names, `call_model` (the model
  of that seat's call in the run, "" without one), category, votes and panel size: `items` counts
  each named seat once (on its first call's row) and `pairs` each seat joined to each of its calls
  in the run, the way a join to the seat calls counts; the runs' start times are summed alike
  (trust decays evidence at a group's mean time). A seat that only ever called one model gives it
  its items; one that changed gives each call's model its pairs (`rollup_reads.by_model`);
- `rollup_verdicts`, the same for judged findings, per day of the latest verdict and the
  judgement: `good` (no dismissal later than every accept or useful), ever accepted, dismissed,
  useful; the latest verdict's times summed.

Each table's rows are one GROUP BY over the base rows (`call_rows`, `finding_rows`,
`verdict_rows`), the same SQL on SQLite and PostgreSQL but for the JSON functions. `rebuild`
inserts them over everything (the migration that made the tables); `maintained(connection,
records)` wraps a write: it aggregates the runs the records touch before and after and adds the
difference, in the write's transaction (on PostgreSQL the runs are locked first, so two writers of
one run take turns). So a verdict that changes moves its finding from one judgement to another,
and a seat call written after its run's findings moves them to its model. `rollup_reads` runs the
same aggregates over a window's first day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite

from orchestration.memory import schema
from orchestration.memory.records import FeedbackEvent, FindingRecord, SeatCall, StoreWrite

DAY_S: Final = 86400.0
CHUNK: Final = 500
"""Ids per IN list."""
ANSWERED: Final = ("ok", "cached")
ERRORS: Final = ("error", "invalid")
GOOD: Final = ("accept", "useful")
NO_CALL: Final = ""
"""`call_model` of a named seat that made no call in its run."""
Key = tuple[Any, ...]
Values = list[Any]
Where = Sequence[ColumnElement[bool]]


def day_of(at: float) -> int:
    """The UTC calendar day of `at` (days since the epoch; times are not before 1970), as `_day`
    computes it in SQL."""
    return int(at / DAY_S)


def _day(connection: Connection, at: ColumnElement[Any]) -> ColumnElement[int]:
    """SQLite's CAST truncates (the floor, for times after 1970); PostgreSQL's rounds, so floor first."""
    days = at / literal_column("86400.0")
    return sql_cast(func.floor(days) if connection.dialect.name == "postgresql" else days, Integer)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _seats(connection: Connection) -> FromClause:
    """One row per seat named in a merged finding's `models`, in a column named `value`."""
    models = schema.findings.c.models
    if connection.dialect.name == "postgresql":
        items = func.jsonb_array_elements_text(models)
    else:
        items = func.json_each(models)
    return items.table_valued("value").alias("seat")


def _grouped(rows: Select[Any], table: Table) -> Select[Any]:
    """`rows` (a table's key columns then its values, per base row) summed by key."""
    keys, names = columns(table)
    inner = rows.subquery()
    return select(
        *(inner.c[name] for name in keys), *(func.sum(inner.c[name]).label(name) for name in names)
    ).group_by(*(inner.c[name] for name in keys))


def columns(table: Table) -> tuple[list[str], list[str]]:
    """A rollup table's key columns and value columns, in order."""
    keys = [column.name for column in table.primary_key.columns]
    return keys, [column.name for column in table.columns if column.name not in keys]


def call_rows(connection: Connection, where: Where) -> Select[Any]:
    """`rollup_calls` rows of the seat calls `where` keeps (conditions on seat_calls and runs)."""
    calls, runs = schema.seat_calls, schema.runs
    status = calls.c.status
    postgres = connection.dialect.name == "postgresql"
    opinions = (func.jsonb_array_length if postgres else func.json_array_length)(calls.c.findings)
    day, started = _day(connection, calls.c.at), _day(connection, runs.c.started_at)
    keys = (day, started, runs.c.task, calls.c.seat, calls.c.model)
    values = (
        func.count(), _flag(status != "skipped"), _flag(status.in_(ANSWERED)), _flag(status.in_(ERRORS)),
        _flag(status == "timeout"), _flag(status == "cached"),
        _flag(and_(status == "ok", calls.c.latency_ms.is_not(None))),
        func.sum(func.coalesce(calls.c.tokens_in, 0)), func.sum(func.coalesce(calls.c.tokens_out, 0)),
        func.sum(func.coalesce(opinions, 0)), func.sum(func.coalesce(calls.c.cost_usd, 0.0)),
    )  # fmt: skip
    labels = [name for names in columns(schema.rollup_calls) for name in names]
    labelled = [column.label(label) for column, label in zip((*keys, *values), labels, strict=True)]
    joined = calls.join(runs, runs.c.id == calls.c.run_id)
    return select(*labelled).select_from(joined).where(*where).group_by(*keys)


def _items_and_pairs(
    connection: Connection,
    base: FromClause,
    head: Sequence[ColumnElement[Any]],
    at: ColumnElement[Any],
    tail: Sequence[ColumnElement[Any]],
    where: Where,
    table: Table,
) -> Select[Any]:
    """Per named seat, one row per call of that seat in the run (one row, call_model "", without
    any): `pairs` 1 for a call, `items` 1 for the first (lowest id) or none, so each named seat is
    one item and each call one pair; grouped by key."""
    findings, calls, runs = schema.findings, schema.seat_calls, schema.runs
    seat = _seats(connection)
    name: ColumnElement[str] = seat.c.value
    keys, names = columns(table)
    joined = (
        base.join(runs, runs.c.id == findings.c.run_id)
        .join(seat, true())
        .outerjoin(calls, and_(calls.c.run_id == findings.c.run_id, calls.c.seat == name))
    )
    other = calls.alias("other_call")
    first = select(func.min(other.c.id)).where(other.c.run_id == findings.c.run_id, other.c.seat == name)
    item = case((calls.c.id.is_(None), 1), (calls.c.id == first.scalar_subquery(), 1), else_=0)
    pair = case((calls.c.id.is_(None), 0), else_=1)
    model = func.coalesce(calls.c.model, sql_cast(literal(NO_CALL), String))
    row = [*head, runs.c.task, name, model, findings.c.category, *tail, item, pair, item * at, pair * at]
    labelled = [column.label(label) for column, label in zip(row, [*keys, *names], strict=True)]
    return _grouped(select(*labelled).select_from(joined).where(*where), table)


def finding_rows(connection: Connection, where: Where) -> Select[Any]:
    """`rollup_findings` rows of the merged findings of the runs `where` keeps."""
    findings, runs = schema.findings, schema.runs
    tail = (findings.c.votes, findings.c.panel_size)
    return _items_and_pairs(
        connection,
        findings,
        [_day(connection, runs.c.started_at)],
        runs.c.started_at,
        tail,
        where,
        schema.rollup_findings,
    )


def judgements(feedback_where: Where, having: Sequence[Any] = ()) -> Any:
    """Per judged finding (of the verdicts `feedback_where` keeps): good, ever accepted, dismissed,
    useful (0 or 1 each) and the latest verdict's time; `having` narrows them by that time."""
    feedback = schema.feedback
    verdict = feedback.c.verdict
    good_at = func.max(case((verdict.in_(GOOD), feedback.c.at)))
    bad_at = func.max(case((verdict == "dismiss", feedback.c.at)))
    latest = func.max(feedback.c.at)
    query = select(
        feedback.c.finding_id,
        case((bad_at.is_(None), 1), (good_at >= bad_at, 1), else_=0).label("good"),
        func.max(case((verdict == "accept", 1), else_=0)).label("accepted"),
        func.max(case((verdict == "dismiss", 1), else_=0)).label("dismissed"),
        func.max(case((verdict == "useful", 1), else_=0)).label("useful"),
        latest.label("latest"),
    ).where(*feedback_where)
    if having:
        query = query.having(*(condition(latest) for condition in having))
    return query.group_by(feedback.c.finding_id).subquery("judged")


def verdict_rows(connection: Connection, where: Where, judged: Any) -> Select[Any]:
    """`rollup_verdicts` rows of the judged findings (`judgements`) of the runs `where` keeps."""
    findings, runs = schema.findings, schema.runs
    base = judged.join(findings, findings.c.id == judged.c.finding_id)
    head = [_day(connection, judged.c.latest), _day(connection, runs.c.started_at)]
    tail = [judged.c[name] for name in schema.ROLLUP_FLAGS]
    return _items_and_pairs(connection, base, head, judged.c.latest, tail, where, schema.rollup_verdicts)


_STATEMENTS: dict[tuple[str, str], Any] = {}
"""Statements built once per dialect (building and keying them costs more than running them)."""


def _statement(connection: Connection, name: str, build: Callable[[], Any]) -> Any:
    key = (connection.dialect.name, name)
    if key not in _STATEMENTS:
        _STATEMENTS[key] = build()
    return _STATEMENTS[key]


def _of_runs(connection: Connection) -> tuple[Select[Any], Select[Any], Select[Any]]:
    """The three aggregates over the runs in the expanding parameter `run_ids`."""

    def build() -> tuple[Select[Any], Select[Any], Select[Any]]:
        run_ids: BindParameter[list[str]] = bindparam("run_ids", expanding=True)
        findings = schema.findings
        where = [schema.runs.c.id.in_(run_ids)]
        judged = schema.feedback.c.finding_id.in_(select(findings.c.id).where(findings.c.run_id.in_(run_ids)))
        rows = verdict_rows(connection, where, judgements([judged]))
        return call_rows(connection, where), finding_rows(connection, where), rows

    built: tuple[Select[Any], Select[Any], Select[Any]] = _statement(connection, "of_runs", build)
    return built


@dataclass(slots=True)
class Deltas:
    """Values to add to each rollup table, by key."""

    by_table: dict[str, dict[Key, Values]] = field(default_factory=dict)

    def of(self, table: Table) -> dict[Key, Values]:
        return self.by_table.setdefault(table.name, {})

    def add(self, table: Table, rows: Any, sign: int = 1) -> None:
        """Add (or with `sign` -1 subtract) result rows: key columns, then values."""
        width = len(table.primary_key.columns)
        into = self.of(table)
        for row in rows:
            key, values = tuple(row[:width]), row[width:]
            total = into.get(key)
            if total is None:
                into[key] = [sign * (value or 0) for value in values]
            else:
                for index, value in enumerate(values):
                    total[index] += sign * (value or 0)


TABLES: Final = (schema.rollup_calls, schema.rollup_findings, schema.rollup_verdicts)


def contribution(connection: Connection, run_ids: Sequence[str], deltas: Deltas, sign: int = 1) -> None:
    """Add what the runs `run_ids` count in the rollup to `deltas` (times `sign`)."""
    queries = _of_runs(connection)
    for start in range(0, len(run_ids), CHUNK):
        chunk = {"run_ids": list(run_ids[start : start + CHUNK])}
        for table, query in zip(TABLES, queries, strict=True):
            deltas.add(table, connection.execute(query, chunk), sign)


def _upsert(connection: Connection, table: Table, rows: list[dict[str, object]]) -> None:
    def build() -> Any:
        module = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = module.insert(table)
        keys, names = columns(table)
        added = {name: table.c[name] + statement.excluded[name] for name in names}
        return statement.on_conflict_do_update(index_elements=keys, set_=added)

    connection.execute(_statement(connection, f"upsert {table.name}", build), rows)


def _delete_emptied(connection: Connection, table: Table, keys: list[dict[str, object]]) -> None:
    """Delete the rows of `table` at `keys` (k_<column> parameters) that count nothing any more."""

    def build() -> Any:
        names, counted = columns(table), ("calls", "items", "pairs")
        count = sum((table.c[name] for name in names[1] if name in counted), literal(0))
        match = and_(*(table.c[name] == bindparam(f"k_{name}") for name in names[0]), count <= 0)
        return delete(table).where(match)

    connection.execute(_statement(connection, f"delete {table.name}", build), keys)


def apply(connection: Connection, deltas: Deltas) -> None:
    """Add `deltas` to the rollup tables; rows left counting nothing are deleted."""
    for table in TABLES:
        keys, names = columns(table)
        counted = [index for index, name in enumerate(names) if name in ("calls", "items", "pairs")]
        changes = [(key, values) for key, values in deltas.of(table).items() if any(values)]
        if not changes:
            continue
        _upsert(
            connection,
            table,
            [dict(zip([*keys, *names], [*key, *values], strict=True)) for key, values in changes],
        )
        emptied = [
            {f"k_{name}": value for name, value in zip(keys, key, strict=True)}
            for key, values in changes
            if any(values[index] < 0 for index in counted)
        ]
        if emptied:
            _delete_emptied(connection, table, emptied)


def touched_runs(connection: Connection, records: Sequence[StoreWrite]) -> set[str]:
    """The runs whose contribution `records` may change: their calls', findings' and verdicts' runs."""
    run_ids = {record.run_id for record in records if isinstance(record, SeatCall | FindingRecord)}
    run_of = {record.finding_id: record.run_id for record in records if isinstance(record, FindingRecord)}
    judged = {record.finding_id for record in records if isinstance(record, FeedbackEvent)}
    run_ids.update(run_of[finding_id] for finding_id in judged if finding_id in run_of)
    unknown = sorted(judged - set(run_of))
    findings = schema.findings
    for start in range(0, len(unknown), CHUNK):
        query = select(findings.c.run_id).where(findings.c.id.in_(unknown[start : start + CHUNK]))
        run_ids.update(str(run_id) for (run_id,) in connection.execute(query))
    return run_ids


def _lock(connection: Connection, run_ids: Sequence[str]) -> None:
    """On PostgreSQL, lock the runs (in id order) so two writers of one run take turns."""
    if connection.dialect.name != "postgresql":
        return  # SQLite: every write transaction is BEGIN IMMEDIATE, one at a time.
    runs = schema.runs
    for start in range(0, len(run_ids), CHUNK):
        chunk = run_ids[start : start + CHUNK]
        connection.execute(
            select(runs.c.id).where(runs.c.id.in_(chunk)).order_by(runs.c.id).with_for_update()
        )


@contextmanager
def around(connection: Connection, run_ids: Iterator[str] | set[str]) -> Iterator[None]:
    """Keep the rollup in step with whatever the block changes in the rows of `run_ids`."""
    ids = sorted(set(run_ids))
    if not ids:
        yield
        return
    _lock(connection, ids)
    deltas = Deltas()
    contribution(connection, ids, deltas, -1)
    yield
    contribution(connection, ids, deltas)
    apply(connection, deltas)


@contextmanager
def maintained(connection: Connection, records: Sequence[StoreWrite]) -> Iterator[None]:
    """Keep the rollup in step with writing `records` (the block writes them)."""
    with around(connection, touched_runs(connection, records)):
        yield


def pruned_runs(connection: Connection, cutoff: float) -> set[str]:
    """Runs whose contribution pruning at `cutoff` changes, but for those of days wholly before it
    (`forget_runs_before` drops their rows): the cutoff's own day's older runs, and newer runs
    whose findings lose verdicts older than the cutoff."""
    runs, findings, feedback = schema.runs, schema.findings, schema.feedback
    day_start = day_of(cutoff) * DAY_S
    older = select(runs.c.id).where(runs.c.started_at >= day_start, runs.c.started_at < cutoff)
    judged = (
        select(findings.c.run_id)
        .join(feedback, feedback.c.finding_id == findings.c.id)
        .join(runs, runs.c.id == findings.c.run_id)
        .where(feedback.c.at < cutoff, runs.c.started_at >= day_start)
        .distinct()
    )
    return {str(run_id) for query in (older, judged) for (run_id,) in connection.execute(query)}


def forget_runs_before(connection: Connection, cutoff: float) -> None:
    """Drop the rollup rows of runs of the days wholly before `cutoff` (pruned with their runs)."""
    for table in TABLES:
        connection.execute(delete(table).where(table.c.run_day < day_of(cutoff)))


def rebuild(connection: Connection) -> None:
    """Recompute every rollup row from the store's rows (server-side: INSERT ... SELECT)."""
    queries = (
        call_rows(connection, ()),
        finding_rows(connection, ()),
        verdict_rows(connection, (), judgements(())),
    )
    for table, query in zip(TABLES, queries, strict=True):
        connection.execute(delete(table))
        keys, names = columns(table)
        connection.execute(insert(table).from_select([*keys, *names], query))
