"""Consensus: cluster the panel's findings into merged findings with agreement counts.

`orchestration.merge.clustering` decides which findings from different seats describe one
problem (same place, and the same meaning by category and wording); its docstring has
the rules. This module turns each cluster into a `MergedFinding`: severity and category
are weighted votes, the message is the heaviest seat's, each seat's own words are kept as
`ModelOpinion`s, and the seats' proposed fixes are grouped and ranked
(`orchestration.merge.fixes.rank_fixes`).

Agreement is counted or weighted. Counted (the default): with 3+ seats, a finding fewer than
`min_agreement` seats reported is downgraded to info. Weighted (`trust`, each seat's learnt trust
in 0..1, `orchestration.learning.voting`): every seat's vote counts its trust instead of its
weight, and with 3+ seats a finding is kept at its severity when the chance that at least one of
its seats is right, 1 − Π(1 − trust), reaches that of `min_agreement` seats of the panel's mean
trust, 1 − (1 − mean)^min_agreement (so with equal trust the rule is the counted one), else
downgraded to info. A trusted seat alone can keep a finding, two weak ones cannot: with trusts 0.9,
0.6 and 0.3 (mean 0.6, needed 0.84), the 0.9 seat alone passes, 0.6 and 0.3 together (0.72) do not.
Its `confidence` is its seats' summed trust over that of every answering seat: 2 of 3 seats of
trust 0.9 and 0.8 against 0.4 give 1.7 / 2.1 = 81%.

A merged finding covers the union of its members' lines (contiguous, since members are at
most one line apart): the squiggle covers every line a seat pointed at. Merging is
O(n log n): one sort of the findings, a sweep over them, one sort of the result.

Merged findings and their opinions are validated, all of them in one `TypeAdapter` call over
their fields (pydantic 2 builds them in Rust: cheaper than a constructor call per object, and
than `model_construct`). The merge leaves the garbage collector alone; to keep its work down,
each cluster (with its members) is let go as soon as its fields are taken, so few objects
besides the output are alive at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, TypeVar

from pydantic import TypeAdapter

from orchestration.merge.clustering import MAX_CANDIDATES as MAX_CANDIDATES
from orchestration.merge.clustering import RELATED_CATEGORIES as RELATED_CATEGORIES
from orchestration.merge.clustering import Cluster, Entry, cluster_findings, sorted_entries
from orchestration.merge.fixes import SAME_FIX as SAME_FIX
from orchestration.merge.fixes import rank_fixes as rank_fixes
from orchestration.merge.wording import normalize_message as normalize_message
from orchestration.types.findings import Category, Finding, Fix, MergedFinding, Severity

SEVERITY_RANK: dict[Severity, int] = {severity: rank for rank, severity in enumerate(Severity)}
"""Lower is more severe (error 0 … hint 3); used for tie-breaks and sorting."""

_PRIORITY_ORDER = "security bug performance maintainability style".split()
CATEGORY_PRIORITY: dict[Category, int] = {Category(name): rank for rank, name in enumerate(_PRIORITY_ORDER)}
"""Which category wins a tied weighted vote (the more consequential one)."""

SCORE_TOLERANCE = 1e-9
"""Rounding slack when a cluster's summed trust is compared with the score it needs."""
MAX_TRUST = 0.99
"""Trust is capped here in the agreement rule, so that no seat alone is taken as certain."""
UNKNOWN_TRUST = 0.5
"""The trust of a seat that `trust` does not name (an unknown model's prior under weight 1)."""


def merged_sort_key(finding: MergedFinding) -> tuple[Any, ...]:
    """The output order: line, then severity (most severe first), then most votes; the rest breaks ties."""
    return (
        finding.start_line,
        SEVERITY_RANK[finding.severity],
        -finding.votes,
        finding.end_line,
        CATEGORY_PRIORITY[finding.category],
        finding.message,
        finding.models,
    )


@dataclass(slots=True, frozen=True)
class _Panel:
    """What the merge knows about the seats: how many answered, their weights, the agreement rule."""

    size: int
    """Seats that answered usably or reported findings: the denominator of votes."""
    weights: Mapping[str, float]
    """Every seat's weight (1.0 unless the caller said otherwise; its trust with weighted voting)."""
    uniform: bool
    """Whether all weights are equal (then members are ordered by seat name alone)."""
    min_agreement: int
    """With 3+ seats, fewer votes than this downgrade a finding to info."""
    total_trust: float | None = None
    """With weighted voting, the summed trust (the weights) of the panel's seats; None: votes are counted."""

    def agreed(self, members: list[Entry]) -> tuple[bool, float | None]:
        """Whether the members reach agreement, and their confidence (None when votes are counted).

        Counted: `min_agreement` members. Weighted: the chance that one of them is right,
        1 − Π(1 − trust), reaches that of `min_agreement` seats of the panel's mean trust (less
        `SCORE_TOLERANCE`, so that equal trusts agree as counts do). The confidence is the members'
        share of the panel's summed trust."""
        if self.total_trust is None:
            return len(members) >= self.min_agreement, None
        weights = self.weights
        missed = 1.0
        for member in members:
            missed *= 1.0 - min(weights[member.seat], MAX_TRUST)
        mean = min(self.total_trust / self.size, MAX_TRUST)
        needed = 1.0 - (1.0 - mean) ** self.min_agreement
        share = sum(weights[member.seat] for member in members) / self.total_trust
        return 1.0 - missed >= needed - SCORE_TOLERANCE, round(share, 4)


_SEAT = attrgetter("seat")
_SEAT_AND_FINDING = attrgetter("seat", "finding")
_MERGED_FINDINGS = TypeAdapter(list[MergedFinding])
"""Validates every merged finding (with its opinions) in one call: cheaper than a constructor call each."""
_Option = TypeVar("_Option")


def _vote_winner(votes: dict[_Option, float], rank: Mapping[_Option, int]) -> _Option:
    """The option with the most votes; a tie goes to the lowest rank."""
    winner, most = next(iter(votes.items()))
    for option, count in votes.items():
        if count > most or (count == most and rank[option] < rank[winner]):
            winner, most = option, count
    return winner


def _representative(
    members: list[Entry], weights: Mapping[str, float], severity: Severity, category: Category
) -> str:
    """The message of the heaviest seat, preferring among equals one with the voted severity and category.

    `members` are heaviest first. A wrong severity counts as a worse fit than a wrong category.
    """
    top_weight = weights[members[0].seat]
    message = members[0].finding.message
    best_misfit = 4
    for member in members:
        if weights[member.seat] != top_weight:
            break
        finding = member.finding
        misfit = 2 * (finding.severity is not severity) + (finding.category is not category)
        if misfit < best_misfit:
            best_misfit, message = misfit, finding.message
            if not misfit:
                break
    return message


def _merged_finding(cluster: Cluster, panel: _Panel) -> dict[str, object]:
    """One cluster as a MergedFinding's fields (for `_MERGED_FINDINGS`); orders members heaviest seat first.

    Members of equal weight are ordered by seat name.

    Severity and category are weighted votes over the members (ties go to the more severe,
    the more consequential); unanimous members keep the heaviest seat's message, otherwise
    `_representative` picks it. With 3+ seats, members that do not reach agreement
    (`_Panel.agreed`: fewer than `min_agreement` votes, or with weighted voting too little
    summed trust) downgrade the severity to info (hint stays hint).

    Lines, severities, categories and messages come from validated Findings (or win a vote among
    them), `models` are seat names, `votes` and `panel` counts, and `fixes` validated `RankedFix`es;
    `_MERGED_FINDINGS` checks them again, which is cheap.
    """
    members = cluster.members
    weights = panel.weights
    if len(members) > 1:
        members.sort(key=_SEAT if panel.uniform else lambda member: (-weights[member.seat], member.seat))
    lead = members[0].finding
    severity, category, message = lead.severity, lead.category, lead.message
    if len(members) > 1:
        severity_votes: dict[Severity, float] = {}
        category_votes: dict[Category, float] = {}
        for member in members:
            weight = weights[member.seat]
            finding = member.finding
            severity_votes[finding.severity] = severity_votes.get(finding.severity, 0.0) + weight
            category_votes[finding.category] = category_votes.get(finding.category, 0.0) + weight
        if len(severity_votes) > 1 or len(category_votes) > 1:
            severity = _vote_winner(severity_votes, SEVERITY_RANK)
            category = _vote_winner(category_votes, CATEGORY_PRIORITY)
            message = _representative(members, weights, severity, category)
    agreed, confidence = panel.agreed(members)
    if panel.size >= 3 and not agreed and severity is not Severity.HINT:
        severity = Severity.INFO
    proposals: dict[str, Fix] = {}
    for member in members:
        if member.finding.fix is not None:
            proposals[member.seat] = member.finding.fix
    opinions = [
        {
            "model": seat,
            "message": finding.message,
            "severity": finding.severity,
            "category": finding.category,
            "start_line": finding.start_line,
            "end_line": finding.end_line,
        }
        for seat, finding in map(_SEAT_AND_FINDING, members)
    ]
    return {
        "start_line": cluster.start,
        "end_line": cluster.end,
        "severity": severity,
        "category": category,
        "message": message,
        "votes": len(members),
        "panel": panel.size,
        "models": list(map(_SEAT, members)),
        "opinions": opinions,
        "fixes": rank_fixes(proposals, weights) if proposals else [],
        "arbiter_verdict": None,
        "finding_id": None,
        "confidence": confidence,
    }


def merge_findings(
    findings: Mapping[str, Sequence[Finding]],
    *,
    answered: Sequence[str],
    weights: Mapping[str, float] | None = None,
    min_agreement: int = 2,
    trust: Mapping[str, float] | None = None,
) -> list[MergedFinding]:
    """Merge each seat's findings into consensus findings, sorted by line, severity, then votes.

    `findings` maps seat name → its findings; `answered` lists the seats that answered
    usably (a seat with no findings still counts). `panel` is the number of distinct
    seats in `answered` plus any seat that reported findings without being listed, so
    votes never exceed panel. `weights` default to 1.0 per seat. With 3+ seats, a
    finding reported by fewer than `min_agreement` seats is kept at info severity
    (hint stays hint).

    With `trust` (seat → learnt trust in 0..1; `UNKNOWN_TRUST` for a seat it does not name), votes
    are weighted: trust replaces `weights`, agreement is the summed trust of a finding's seats
    against `min_agreement` × the panel's mean trust, and each finding gets its `confidence`
    (see the module docstring).
    """
    seats = set(answered) | {seat for seat, items in findings.items() if items}
    if trust is None:
        seat_weights = {seat: (weights or {}).get(seat, 1.0) for seat in seats | set(findings)}
        total_trust = None
    else:
        seat_weights = {seat: trust.get(seat, UNKNOWN_TRUST) for seat in seats | set(findings)}
        total_trust = sum(seat_weights[seat] for seat in seats)
    uniform = len(set(seat_weights.values())) <= 1
    panel = _Panel(len(seats), seat_weights, uniform, min_agreement, total_trust)
    clusters = cluster_findings(sorted_entries(findings), panel.size)
    clusters.reverse()  # Merged in the order they were found (it breaks ties of `merged_sort_key`) ...
    fields = []
    while clusters:  # ... and each let go (with its members) as soon as it is merged.
        fields.append(_merged_finding(clusters.pop(), panel))
    merged = _MERGED_FINDINGS.validate_python(fields)
    merged.sort(key=merged_sort_key)
    return merged
