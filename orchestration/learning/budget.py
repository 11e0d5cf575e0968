"""Budgets: what cloud seats may spend per request, day and month, from the memory's cost ledger.

`admit` is seat selection's last step (`orchestration.panel.selection`). With no `[budget]` limit set
it reads nothing and changes nothing. Otherwise it reads, in one bounded read of the memory
(`orchestration.memory.reads.read_soon`), what was spent today and this month (UTC) and each
candidate's recorded calls, and estimates what each candidate would cost this request
(`orchestration.learning.spend.estimated_cost`; seats on this machine cost 0). Then:

1. at or over the daily or monthly limit, every cloud seat is skipped and local seats serve; when
   none is asked, the configured local seats not on the panel are added;
2. over `per_request_usd`, the most expensive cloud seats are dropped until the estimate fits;
3. once spent + this request's estimate crosses `nearing` × a limit, the most expensive cloud seats
   are dropped first until it no longer does, always keeping one seat.

A dropped seat gives way to a replacement when there is one: a spare candidate (an automatic panel's
runner-up) that is cheaper or local, else a configured local seat not on the panel. Each dropped seat
is skipped with a reason naming the limit and the figures ("daily budget $5.00: $4.62 spent"), and
the user is told in one notice; when nothing is left, those reasons are what `NoPanelError` says. A
store that is off, failing or slow gives no ledger: the daily and monthly limits are then not
applied (the estimates use the defaults), and the request is never failed or held up for it.

`budget_text` is the short line the editor's status bar shows once a limit is near or reached
("budget: $4.62 of $5.00 today"); `budget_status` reads it from the memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from orchestration.learning.settings import BudgetConfig
from orchestration.memory.reads import READ_BUDGET_S, read_soon, usable
from orchestration.privacy.gate import is_local_model

if TYPE_CHECKING:
    from orchestration.learning.spend import Ledger, SpendFacts
    from orchestration.memory.store import Store
    from orchestration.memory.writer import StoreWriter
    from orchestration.panel.selection import Candidate, Selection, SelectionContext
    from orchestration.types.config import ModelConfig

Period = Literal["daily", "monthly"]
WHEN: Final[dict[Period, str]] = {"daily": "today", "monthly": "this month"}


def usd(amount: float) -> str:
    """'$4.62'; amounts under a cent keep four decimals ('$0.0031')."""
    return f"${amount:.4f}" if 0 < abs(amount) < 0.01 else f"${amount:.2f}"


def has_limit(budget: BudgetConfig) -> bool:
    """Whether any limit is set (without one, nothing is read and nothing changes)."""
    return any(value is not None for value in (budget.per_request_usd, budget.daily_usd, budget.monthly_usd))


@dataclass(frozen=True, slots=True)
class Limit:
    """One period's limit and what the ledger says was spent in it."""

    period: Period
    limit: float
    spent: float

    @property
    def reached(self) -> bool:
        """Spent at or over the limit: cloud seats are skipped."""
        return self.spent >= self.limit

    def describe(self) -> str:
        """'daily budget $5.00: $4.62 spent'."""
        return f"{self.period} budget {usd(self.limit)}: {usd(self.spent)} spent"

    def status(self) -> str:
        """'budget: $4.62 of $5.00 today' (the status bar's text)."""
        head = "budget reached" if self.reached else "budget"
        return f"{head}: {usd(self.spent)} of {usd(self.limit)} {WHEN[self.period]}"


def limits(budget: BudgetConfig, ledger: Ledger | None) -> list[Limit]:
    """The daily and monthly limits that are set, with what was spent (none without a ledger)."""
    if ledger is None:
        return []
    found: list[Limit] = []
    if budget.daily_usd is not None:
        found.append(Limit("daily", budget.daily_usd, ledger.today_usd))
    if budget.monthly_usd is not None:
        found.append(Limit("monthly", budget.monthly_usd, ledger.month_usd))
    return found


def budget_text(budget: BudgetConfig, ledger: Ledger | None) -> str | None:
    """The status bar's budget line when a limit is reached or within `nearing` of it; else None."""
    shown = [item for item in limits(budget, ledger) if item.spent >= budget.nearing * item.limit]
    if not shown:
        return None
    return max(shown, key=lambda item: item.spent / item.limit).status()


async def budget_status(
    budget: BudgetConfig, memory: StoreWriter | None, *, wait: float = READ_BUDGET_S
) -> str | None:
    """`budget_text` from the memory's ledger, read within `wait` seconds (None: no daily or monthly
    limit, or no ledger read)."""
    if (budget.daily_usd is None and budget.monthly_usd is None) or not usable(memory):
        return None
    from orchestration.learning import spend

    return budget_text(budget, await read_soon(memory, spend.ledger, None, budget=wait))


@dataclass(slots=True)
class _Plan:
    """The selection being trimmed: each candidate's estimate, and who may stand in for a dropped seat."""

    selection: Selection
    cost: dict[str, float]
    reserves: list[Candidate]
    """Configured local seats not on the panel (after the selection's spare)."""
    dropped: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)

    def total(self) -> float:
        """The request's estimate: every asked seat's together."""
        return sum(self.cost.get(candidate.name, 0.0) for candidate in self.selection.asked)

    def cloud(self) -> list[Candidate]:
        return [candidate for candidate in self.selection.asked if not is_local_model(candidate.seat)]

    def stand_in(self, cost: float) -> Candidate | None:
        """The first spare candidate that is local or cheaper than `cost`, else a local reserve."""
        for candidate in self.selection.spare:
            if is_local_model(candidate.seat) or self.cost.get(candidate.name, 0.0) < cost:
                return candidate
        return self.reserves[0] if self.reserves else None

    def drop(
        self, candidate: Candidate, reason: str, *, replace: bool = True, keep_one: bool = False
    ) -> bool:
        """Skip `candidate` for `reason`, a cheaper or local seat taking its place when there is one.

        With `keep_one`, the last seat is not dropped unless one takes its place (False then)."""
        asked = self.selection.asked
        stand_in = self.stand_in(self.cost.get(candidate.name, 0.0)) if replace else None
        if keep_one and stand_in is None and len(asked) <= 1:
            return False
        index = asked.index(candidate)
        asked.remove(candidate)
        self.selection.skip(candidate, reason)
        self.dropped.append(candidate.name)
        if stand_in is not None:
            if stand_in in self.selection.spare:
                self.selection.spare.remove(stand_in)
            else:
                self.reserves.remove(stand_in)
            asked.insert(index, stand_in)
            self.added.append(stand_in.name)
            self.selection.reasons[stand_in.name] = f"asked instead of {candidate.name} (budget)"
        return True

    def most_expensive(self) -> Candidate | None:
        """The asked cloud seat with the highest estimate (the later one of a tie), or None."""
        cloud = self.cloud()
        return max(reversed(cloud), key=lambda c: self.cost.get(c.name, 0.0)) if cloud else None

    def outcome(self, since: tuple[int, int]) -> str:
        """'dropped claude, codex; asked local-a instead' for the drops after `since` (see `mark`)."""
        dropped, added = self.dropped[since[0] :], self.added[since[1] :]
        text = f"dropped {', '.join(dropped)}"
        return f"{text}; asked {', '.join(added)} instead" if added else text

    def mark(self) -> tuple[int, int]:
        """How many seats were dropped and added so far (a step's `outcome` starts there)."""
        return len(self.dropped), len(self.added)


def _reserves(context: SelectionContext, selection: Selection) -> list[Candidate]:
    """Configured local seats the gate admits that are not asked, spare or skipped already."""
    from orchestration.panel.selection import Candidate

    taken = {
        name.split("@", 1)[0]
        for name in [
            *(c.name for c in selection.asked),
            *(c.name for c in selection.spare),
            *(s.name for s in selection.skipped),
        ]
    }
    return [
        Candidate(name, seat)
        for name, seat in context.config.models.items()
        if name not in taken and is_local_model(seat) and context.gate.refusal(seat) is None
    ]


async def _facts(context: SelectionContext, candidates: list[Candidate]) -> SpendFacts | None:
    """The ledger (with a daily or monthly limit) and the candidates' histories; None when unread."""
    from orchestration.learning import spend

    budget = context.config.budget
    labels = [candidate.seat.label for candidate in candidates if not is_local_model(candidate.seat)]
    with_ledger = budget.daily_usd is not None or budget.monthly_usd is not None
    if not labels and not with_ledger:
        return None
    task = context.task

    def query(store: Store) -> SpendFacts:
        return spend.spend_facts(store, labels, task, with_ledger=with_ledger, now=time.time())

    return await read_soon(context.memory, query, None)


async def _estimates(
    context: SelectionContext, candidates: list[Candidate], facts: SpendFacts | None
) -> dict[str, float]:
    """Each candidate's expected cost for this request (litellm's cost map loaded when one is needed)."""
    from orchestration.learning import spend

    def priced(seat: ModelConfig) -> bool:
        return is_local_model(seat) or None not in (seat.input_cost_per_mtok, seat.output_cost_per_mtok)

    if not all(priced(candidate.seat) for candidate in candidates):
        from orchestration.providers.loading import ensure_litellm

        await ensure_litellm()
    chars = len(context.document.text) if context.document is not None else 0
    history = facts.history if facts is not None else {}
    return {c.name: spend.estimated_cost(c.seat, history.get(c.seat.label), chars) for c in candidates}


def _hard_limit(plan: _Plan, reached: Limit) -> str:
    """Skip every cloud seat; local seats serve (spare or configured ones are added when none is asked)."""
    selection = plan.selection
    reason = f"{reached.period} budget {usd(reached.limit)} reached: {usd(reached.spent)} spent"
    for candidate in plan.cloud():
        plan.drop(candidate, reason, replace=False)
    local_spare = [c for c in selection.spare if is_local_model(c.seat)]
    selection.spare = []
    if not selection.asked:
        for candidate in [*local_spare, *plan.reserves][: max(1, len(plan.dropped))]:
            selection.asked.append(candidate)
            plan.added.append(candidate.name)
            selection.reasons[candidate.name] = "asked instead of the cloud seats (budget reached)"
    head = f"{reached.period.capitalize()} budget reached ({usd(reached.spent)} of {usd(reached.limit)})"
    if not selection.asked:
        return f"{head}: cloud seats skipped, and no local seat is configured."
    serving = ", ".join(candidate.name for candidate in selection.asked)
    verb = "serves" if len(selection.asked) == 1 else "serve"
    return f"{head}: cloud seats skipped ({', '.join(plan.dropped)}); {serving} {verb}."


def _per_request(plan: _Plan, limit: float) -> str | None:
    """Drop the most expensive cloud seats until the request's estimate fits `limit`."""
    since = plan.mark()
    while plan.total() > limit and (victim := plan.most_expensive()) is not None:
        reason = (
            f"per-request budget {usd(limit)}: this seat ~{usd(plan.cost.get(victim.name, 0.0))}, "
            f"the request ~{usd(plan.total())}"
        )
        plan.drop(victim, reason)
    if plan.mark() == since:
        return None
    return f"Per-request budget {usd(limit)}: {plan.outcome(since)}."


def _nearing(plan: _Plan, found: list[Limit], nearing: float) -> str | None:
    """Drop the most expensive cloud seats while spent + the estimate crosses `nearing` × a limit."""
    since = plan.mark()
    binding: Limit | None = None
    while (victim := plan.most_expensive()) is not None:
        over = [item for item in found if item.spent + plan.total() > nearing * item.limit]
        if not over:
            break
        binding = max(over, key=lambda item: (item.spent + plan.total()) / item.limit)
        reason = f"{binding.describe()}, past {nearing:.0%} of it with this request"
        if not plan.drop(victim, reason, keep_one=True):
            break  # The last seat stays.
    if binding is None or plan.mark() == since:
        return None
    return (
        f"{binding.period.capitalize()} budget nearly spent ({usd(binding.spent)} of {usd(binding.limit)}): "
        f"{plan.outcome(since)}."
    )


async def admit(context: SelectionContext, selection: Selection) -> None:
    """Near a limit, drop the most expensive cloud seats first; at a limit, skip cloud seats."""
    budget = context.config.budget
    if not has_limit(budget):
        return
    reserves = _reserves(context, selection)
    candidates = [*selection.asked, *selection.spare, *reserves]
    facts = await _facts(context, candidates)
    plan = _Plan(selection, await _estimates(context, candidates, facts), reserves)
    found = limits(budget, facts.ledger if facts is not None else None)
    reached = [item for item in found if item.reached]
    if reached:
        selection.notices.append(_hard_limit(plan, max(reached, key=lambda item: item.spent / item.limit)))
        return
    notices = [
        _per_request(plan, budget.per_request_usd) if budget.per_request_usd is not None else None,
        _nearing(plan, found, budget.nearing) if found else None,
    ]
    selection.notices.extend(notice for notice in notices if notice)
