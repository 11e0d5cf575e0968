"""Reading the rollup over a window: the days it covers wholly from the rollup, its first day from rows.

A window starts at `since` (None: everything) and may name a task. The rollup counts by UTC day,
so the days after the window's first day come from it (one SUM ... GROUP BY per question), and
the first day, which the window may cover only in part, is the rollup's own aggregates
(`orchestration.memory.rollup.call_rows` and the others) over that day's rows in the window, to
the second. The same sums as over the rows themselves, however the window falls.
Three kinds of window, each on its own times (as the stats and trust queries always had them):

- `calls`: seat calls made since `since` (of runs of `task` that started since `since`);
- `runs`: whatever belongs to runs that started since `since` (their calls, merged findings);
- `verdicts`: judged findings whose latest verdict was given since `since`.

Results are sums by the columns asked for: {group key: [summed values]} in the table's value
column order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Table, func, or_, select

from orchestration.memory import schema
from orchestration.memory.rollup import (
    DAY_S,
    Deltas,
    Key,
    Values,
    call_rows,
    columns,
    day_of,
    finding_rows,
    judgements,
    verdict_rows,
)

Kind = Literal["calls", "runs", "verdicts"]


def value_index(table: Table, name: str) -> int:
    """Where the value column `name` is in a `WindowReader.sums` row of `table`."""
    return columns(table)[1].index(name)


@dataclass(slots=True)
class WindowReader:
    """Sums of rollup rows over one window (see the module docstring), on one connection."""

    connection: Connection
    since: float | None
    task: str | None
    _first: dict[Kind, Deltas] = field(default_factory=dict, init=False)

    @property
    def day(self) -> int | None:
        """The window's first day, or None for a window over everything."""
        return None if self.since is None else day_of(self.since)

    def covered(self, table: Table, kind: Kind) -> list[ColumnElement[bool]]:
        """The rollup rows of `table` that are wholly in the window."""
        where: list[ColumnElement[bool]] = []
        if self.task is not None:
            where.append(table.c.task == self.task)
        if self.day is not None:
            day = {"calls": "call_day", "runs": "run_day", "verdicts": "verdict_day"}[kind]
            where.append(table.c[day] > self.day)
            if kind == "calls" and self.task is not None:
                where.append(table.c.run_day > self.day)
        return where

    def first_day_deltas(self, kind: Kind) -> Deltas:
        """The window's first day, which it may cover only in part: the rollup's aggregates over
        that day's rows in the window, to the second (read once per kind)."""
        if kind in self._first:
            return self._first[kind]
        deltas = self._first[kind] = Deltas()
        if self.since is None or self.day is None:
            return deltas
        since, end, connection = self.since, (self.day + 1) * DAY_S, self.connection
        runs, calls, feedback = schema.runs, schema.seat_calls, schema.feedback
        task = [] if self.task is None else [runs.c.task == self.task]
        started = [runs.c.started_at >= since, runs.c.started_at < end, *task]
        if kind == "calls":
            if self.task is None:
                where = [calls.c.at >= since, calls.c.at < end]
            else:
                late = or_(calls.c.at < end, runs.c.started_at < end)
                where = [*task, calls.c.at >= since, runs.c.started_at >= since, late]
            deltas.add(schema.rollup_calls, connection.execute(call_rows(connection, where)))
        elif kind == "runs":
            deltas.add(schema.rollup_calls, connection.execute(call_rows(connection, started)))
            deltas.add(schema.rollup_findings, connection.execute(finding_rows(connection, started)))
            findings = schema.findings
            of_runs = select(findings.c.id).join(runs, runs.c.id == findings.c.run_id).where(*started)
            judged = judgements([feedback.c.finding_id.in_(of_runs)])
            deltas.add(schema.rollup_verdicts, connection.execute(verdict_rows(connection, started, judged)))
        else:
            judged = judgements([feedback.c.at >= since], [lambda latest: latest < end])
            deltas.add(schema.rollup_verdicts, connection.execute(verdict_rows(connection, task, judged)))
        return deltas

    # -- sums --------------------------------------------------------------------------------------------

    def sums(
        self,
        table: Table,
        kind: Kind,
        group: Sequence[str],
        where: Sequence[ColumnElement[bool]] = (),
        keep: Callable[[Key], bool] | None = None,
    ) -> dict[Key, Values]:
        """Sums of `table`'s values over the window by the columns `group`; `where` narrows the
        rollup rows and `keep` (on a row's whole key) the first day's alike."""
        keys, names = columns(table)
        query = select(*(table.c[name] for name in group), *(func.sum(table.c[name]) for name in names))
        query = query.where(*self.covered(table, kind), *where).group_by(*(table.c[name] for name in group))
        width = len(group)
        totals: dict[Key, Values] = {
            tuple(row[:width]): list(row[width:]) for row in self.connection.execute(query).all()
        }  # SUM over at least one row: never NULL
        deltas = self.first_day_deltas(kind)
        changes = deltas.of(table)
        positions = [keys.index(name) for name in group]
        for key, values in changes.items():
            if keep is not None and not keep(key):
                continue
            grouped = tuple(key[position] for position in positions)
            total = totals.setdefault(grouped, [0] * len(values))
            for index, value in enumerate(values):
                total[index] += value
        return totals


def seat_models(connection: Connection) -> dict[str, set[str]]:
    """Every model each seat name ever called (the whole store)."""
    calls = schema.rollup_calls
    models: dict[str, set[str]] = {}
    for seat, model in connection.execute(select(calls.c.seat, calls.c.model).distinct()):
        models.setdefault(str(seat), set()).add(str(model))
    return models


def by_model(
    rows: dict[Key, Values], models_of: dict[str, set[str]], *, items: Sequence[int], pairs: Sequence[int]
) -> dict[Key, list[Any]]:
    """Rows keyed (seat, call_model, *rest) summed by (model, *rest): a seat that only ever had one
    model gives it its `items` values; one that changed gives each call's model its `pairs` values;
    a seat that made no call is left out."""
    single = {seat: next(iter(models)) for seat, models in models_of.items() if len(models) == 1}
    totals: dict[Key, list[Any]] = {}
    for key, values in rows.items():
        seat, call_model = key[0], key[1]
        if seat in single:
            model, chosen = single[seat], items
        elif seat in models_of and values[pairs[0]]:
            model, chosen = call_model, pairs
        else:
            continue
        grouped = (model, *key[2:])
        total = totals.get(grouped)
        if total is None:
            totals[grouped] = [values[index] for index in chosen]
        else:
            for position, index in enumerate(chosen):
                total[position] += values[index]
    return totals
