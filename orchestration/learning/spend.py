"""The cost ledger: what was spent today and this month, and what a seat is expected to cost.

Spending is read from the memory's `seat_calls.cost_usd` (every seat's and arbiter's call, as
`orchestration.providers.usage` priced it: a LiteLLM proxy's reported cost, the seat's own price, or
litellm's cost map), counted by its run's `started_at`: "today" is the calendar day (UTC) `now` falls
in, "this month" its calendar month (UTC). A shared store's ledger is everyone's unless `user` is given.

A seat's cost per request is its expected tokens × its price (`orchestration.providers.usage.seat_price`):

- expected tokens: the mean of its answered calls for its label (`ModelConfig.label`) and the task
  over the last `HISTORY_DAYS` days (the arbiter's calls apart), else a default from the request:
  `PROMPT_OVERHEAD_TOKENS` + the document's characters / `CHARS_PER_TOKEN` in, the seat's whole
  `max_tokens` out (a first estimate errs high, never low);
- a seat with no price known is expected to cost the mean of what its calls were recorded to cost
  (a proxy's figure), else 0; a seat on this machine costs 0.

Every read here is blocking and raises `StoreError`: callers run it through
`orchestration.memory.reads` (bounded, never failing a request).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, Float, and_, case, func, not_, select
from sqlalchemy import cast as sql_cast

from orchestration.memory import schema
from orchestration.memory.recorder import ARBITER_SUFFIX
from orchestration.memory.stats import reading
from orchestration.privacy.gate import is_local_model
from orchestration.providers.usage import seat_price

if TYPE_CHECKING:
    from orchestration.memory.store import Store
    from orchestration.types.config import ModelConfig

DAY_S: Final = 86400.0
HISTORY_DAYS: Final = 30
"""How far back a seat's recorded calls inform its expected tokens."""
PROMPT_OVERHEAD_TOKENS: Final = 800
"""Tokens of instructions around the document in a prompt (the default estimate's fixed part)."""
CHARS_PER_TOKEN: Final = 4
"""Characters of code per prompt token, for the default estimate."""


def day_start(now: float) -> float:
    """Midnight UTC of the day `now` falls in (seconds since the epoch)."""
    moment = datetime.fromtimestamp(now, UTC)
    return calendar.timegm((moment.year, moment.month, moment.day, 0, 0, 0))


def month_start(now: float) -> float:
    """Midnight UTC of the first day of the month `now` falls in."""
    moment = datetime.fromtimestamp(now, UTC)
    return calendar.timegm((moment.year, moment.month, 1, 0, 0, 0))


@dataclass(frozen=True, slots=True)
class Ledger:
    """What the recorded runs cost, in USD: since midnight UTC and since the month began (UTC)."""

    today_usd: float
    month_usd: float


@dataclass(frozen=True, slots=True)
class SeatHistory:
    """A seat's answered calls for one task: how many, their mean tokens and cost (None: not recorded)."""

    calls: int
    tokens_in: float
    tokens_out: float
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class SpendFacts:
    """One read of the memory for a budget decision: the ledger (None: not asked for) and seat histories."""

    ledger: Ledger | None
    history: dict[str, SeatHistory]
    """By label (`ModelConfig.label`)."""


def month_end(now: float) -> float:
    """Midnight UTC of the first day of the month after the one `now` falls in."""
    moment = datetime.fromtimestamp(now, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return calendar.timegm((year, month, 1, 0, 0, 0))


def _spent(connection: Connection, now: float, user: str | None) -> Ledger:
    runs, calls = schema.runs, schema.seat_calls
    today = day_start(now)
    cost = func.coalesce(calls.c.cost_usd, 0.0)
    in_today = and_(runs.c.started_at >= today, runs.c.started_at < today + DAY_S)
    conditions = [runs.c.started_at >= month_start(now), runs.c.started_at < month_end(now)]
    if user is not None:
        conditions.append(runs.c.user == user)
    query = (
        select(
            func.coalesce(func.sum(case((in_today, cost), else_=0.0)), 0.0),
            func.coalesce(func.sum(cost), 0.0),
        )
        .select_from(calls.join(runs, runs.c.id == calls.c.run_id))
        .where(and_(*conditions))
    )
    row = connection.execute(query).one()
    return Ledger(today_usd=float(row[0]), month_usd=float(row[1]))


def _history(connection: Connection, labels: Iterable[str], task: str, now: float) -> dict[str, SeatHistory]:
    runs, calls = schema.runs, schema.seat_calls
    wanted = sorted(set(labels))
    if not wanted:
        return {}
    query = (
        select(
            calls.c.model,
            func.count(),
            func.avg(sql_cast(calls.c.tokens_in, Float)),
            func.avg(sql_cast(calls.c.tokens_out, Float)),
            func.avg(calls.c.cost_usd),
        )
        .select_from(calls.join(runs, runs.c.id == calls.c.run_id))
        .where(
            calls.c.model.in_(wanted),
            calls.c.at >= now - HISTORY_DAYS * DAY_S,
            calls.c.status == "ok",
            calls.c.tokens_in.is_not(None),
            calls.c.tokens_out.is_not(None),
            not_(calls.c.seat.endswith(ARBITER_SUFFIX)),
            runs.c.task == task,
        )
        .group_by(calls.c.model)
    )
    return {
        str(model): SeatHistory(
            calls=int(count),
            tokens_in=float(tokens_in),
            tokens_out=float(tokens_out),
            cost_usd=None if cost is None else float(cost),
        )
        for model, count, tokens_in, tokens_out, cost in connection.execute(query)
    }


def ledger(store: Store, now: float | None = None, *, user: str | None = None) -> Ledger:
    """What was spent today and this month (UTC), everyone's or `user`'s (blocking; raises StoreError)."""
    with reading(store) as connection:
        return _spent(connection, time.time() if now is None else now, user)


def seat_history(
    store: Store, labels: Iterable[str], task: str, now: float | None = None
) -> dict[str, SeatHistory]:
    """Each label's answered calls for `task` over the last `HISTORY_DAYS` days (blocking)."""
    with reading(store) as connection:
        return _history(connection, labels, task, time.time() if now is None else now)


def spend_facts(
    store: Store,
    labels: Iterable[str],
    task: str,
    *,
    with_ledger: bool,
    now: float | None = None,
    user: str | None = None,
) -> SpendFacts:
    """The ledger (when `with_ledger`) and the seats' histories, in one read transaction (blocking)."""
    moment = time.time() if now is None else now
    with reading(store) as connection:
        spent = _spent(connection, moment, user) if with_ledger else None
        return SpendFacts(spent, _history(connection, labels, task, moment))


def expected_tokens(seat: ModelConfig, history: SeatHistory | None, prompt_chars: int) -> tuple[float, float]:
    """The prompt and answer tokens a request of `prompt_chars` characters is expected to take."""
    if history is not None and history.calls > 0:
        return history.tokens_in, history.tokens_out
    return PROMPT_OVERHEAD_TOKENS + prompt_chars / CHARS_PER_TOKEN, float(seat.max_tokens)


def estimated_cost(seat: ModelConfig, history: SeatHistory | None, prompt_chars: int) -> float:
    """What one request is expected to cost on `seat`, in USD (see the module docstring)."""
    if is_local_model(seat):
        return 0.0
    price = seat_price(seat)
    if price is None:
        return history.cost_usd if history is not None and history.cost_usd is not None else 0.0
    tokens_in, tokens_out = expected_tokens(seat, history, prompt_chars)
    return price.cost(tokens_in, tokens_out)
