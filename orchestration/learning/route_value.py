"""How much one candidate of an automatic panel is worth for a request: its `Score`.

    value = trust × availability × latency × cost

- trust: the label's posterior mean of "a finding is right" for the task (`learning.trust`),
  weighted by the category mix of the task's past findings on files of the document's language,
  Σ_c mix(c)·trust(c) (the label's roll-up stands in for a category it has no evidence in, and
  alone when there is no mix). With no evidence it is the prior, weight / (weight + 1);
- availability: (answered + 1) / (calls + 1) over the label's last calls of the task (errors,
  invalid answers and timeouts count against; 1 before any call);
- latency: 1 while those calls' p95 latency is within `LATENCY_SHARE` of `policy.deadline`, else
  that allowance / p95 (twice too slow halves the value);
- cost: the price of one call (mean tokens in and out × the seat's prices per million, or its mean
  recorded cost when it has no price) against the pool's cheapest, (cheapest / expected) **
  `panels.auto.cost_weight` (0.25: a candidate sixteen times the price needs twice the rest of the
  value), times, with `budget.per_request_usd`, share / expected once the expected cost passes its
  share of that limit (the limit / `panels.auto.size`). 1 for a candidate without an estimate.

Imported by `orchestration.learning.routing`, which ranks the candidates by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from orchestration.learning.route_stats import CallStats, LabelTrust, RouteEvidence
    from orchestration.panel.selection import Candidate
    from orchestration.types.config import ChorusConfig, ModelConfig

LATENCY_SHARE: Final = 0.8
"""Share of `policy.deadline` a candidate's p95 latency may take before its value is cut."""


@dataclass(frozen=True, slots=True)
class Score:
    """One candidate's expected value and its four factors (see the module docstring)."""

    name: str
    label: str
    value: float
    trust: float
    trust_events: int
    availability: float
    calls: int
    failures: int
    latency: float
    p95_ms: int | None
    allowed_ms: int
    cost: float
    expected_usd: float | None
    share_usd: float | None
    mix: Mapping[str, float] = field(default_factory=dict)
    language: str | None = None

    def describe(self) -> str:
        """'value 0.62 = trust 0.71 (…) × availability 0.95 (…) × latency 1.00 (…) × cost 1.00 (…)'."""
        if self.trust_events == 0:
            trusted = "prior, no evidence yet"
        elif self.mix:
            shares = ", ".join(f"{c} {share:.0%}" for c, share in self.mix.items())
            trusted = f"{self.trust_events} events; {self.language} findings: {shares}"
        else:
            trusted = f"{self.trust_events} events"
        called = f"{self.failures} of {self.calls} recent calls failed" if self.calls else "no calls yet"
        allowed = f"allowed {self.allowed_ms / 1000:.0f} s"
        seen = f"p95 {self.p95_ms / 1000:.1f} s" if self.p95_ms is not None else "no latency yet"
        timed = f"{seen}, {allowed}"
        if self.expected_usd is None:
            priced = "no estimate"
        elif self.share_usd is None:
            priced = f"~${self.expected_usd:.4f} a call, no per-request budget"
        else:
            priced = f"~${self.expected_usd:.4f} a call, share ${self.share_usd:.4f}"
        return (
            f"value {self.value:.2f} = trust {self.trust:.2f} ({trusted}) × availability "
            f"{self.availability:.2f} ({called}) × latency {self.latency:.2f} ({timed}) × cost "
            f"{self.cost:.2f} ({priced})"
        )


def mixed_trust(trust: LabelTrust, mix: Mapping[str, float]) -> float:
    """Σ_c mix(c)·trust(c), the roll-up standing in for a category without evidence (no mix: the roll-up)."""
    if not mix:
        return trust.mean
    return sum(share * trust.categories.get(category, (trust.mean, 0))[0] for category, share in mix.items())


def expected_cost(seat: ModelConfig, calls: CallStats) -> float | None:
    """USD one call is expected to cost: recent mean tokens × the seat's price (its own, else litellm's
    map: `providers.usage.seat_price`, as budgets price it), else its recorded cost."""
    from orchestration.providers.usage import seat_price

    price = seat_price(seat)
    if price is not None and (calls.tokens_in is not None or calls.tokens_out is not None):
        return price.cost(calls.tokens_in or 0.0, calls.tokens_out or 0.0)
    return calls.cost_usd


def cheapest_cost(pool: Sequence[Candidate], evidence: RouteEvidence) -> float | None:
    """The lowest expected cost of a call among `pool`'s candidates that have an estimate above 0."""
    from orchestration.learning.route_stats import CallStats

    costs = [expected_cost(c.seat, evidence.calls.get(c.seat.label, CallStats())) for c in pool]
    known = [cost for cost in costs if cost is not None and cost > 0]
    return min(known) if known else None


def thrift(expected: float | None, cheapest: float | None, cost_weight: float) -> float:
    """(cheapest / expected) ** cost_weight: 1 for the cheapest candidate (and without estimates)."""
    if expected is None or cheapest is None or expected <= 0 or cost_weight == 0:
        return 1.0
    return float(min(1.0, cheapest / expected) ** cost_weight)


def score(
    candidate: Candidate, evidence: RouteEvidence, config: ChorusConfig, cheapest: float | None = None
) -> Score:
    """`candidate`'s expected value from `evidence` (see the module docstring); `cheapest` is the
    pool's cheapest expected call (`cheapest_cost`), against which price ranks without a budget."""
    from orchestration.learning.route_stats import CallStats, LabelTrust

    seat, label = candidate.seat, candidate.seat.label
    prior = LabelTrust(seat.weight / (seat.weight + 1.0), 0)
    trust = evidence.trust.get(label, prior)
    calls = evidence.calls.get(label, CallStats())
    allowed_ms = round(LATENCY_SHARE * config.policy.deadline * 1000)
    p95 = calls.p95_latency_ms
    latency = 1.0 if p95 is None or p95 <= allowed_ms else allowed_ms / p95
    limit = config.budget.per_request_usd
    share = None if limit is None else limit / config.panels.auto.size
    expected = expected_cost(seat, calls)
    cost = 1.0 if share is None or expected is None or expected <= share else share / expected
    cost *= thrift(expected, cheapest, config.panels.auto.cost_weight)
    availability = (calls.calls - calls.failures + 1) / (calls.calls + 1)
    trusted = mixed_trust(trust, evidence.mix)
    return Score(
        name=candidate.name, label=label, value=trusted * availability * latency * cost, trust=trusted,
        trust_events=trust.events, availability=availability, calls=calls.calls, failures=calls.failures,
        latency=latency, p95_ms=p95, allowed_ms=allowed_ms, cost=cost, expected_usd=expected,
        share_usd=share, mix=dict(evidence.mix) if trust.events else {}, language=evidence.language,
    )  # fmt: skip
