"""Clustering for the consensus merge: which findings from different seats describe one problem.

Findings from different seats join one cluster when they point at the same place
(overlapping or adjacent line ranges, at most one line apart) and mean the same thing.
Line and category alone never decide: several different problems often sit on one line
under one category ("ZeroDivisionError when deposits is empty", "Return type annotation
missing on total", "Variable x shadows a global"), and merging them would inflate the
agreement count, the product's main signal. Meaning is judged by `message_similarity`
(`orchestration.merge.wording`: rapidfuzz `token_set_ratio` of the normalized messages
plus a keyword signal for the problem kinds they name), 0-100. Its docstring has the rule
and the scores measured on held-out messages: under the strongest bar below (40), two
messages naming different kinds merge only with near-identical wording (80), two naming a
common kind with almost any (15), and when either names no kind the wording must reach 55.

The similarity needed depends on the line match and the categories: same category and a
strong line match (the ranges overlap by at least half of their union) need
`SAME_CATEGORY_STRONG`; same category with a weaker line match `SAME_CATEGORY_NEAR`;
related categories (bug/security, style/maintainability, ...) `RELATED_CATEGORY_STRONG`
or `RELATED_CATEGORY_NEAR`; unrelated ones (a security "auth bypass" and a style nit on
one line) near-identical text (`UNRELATED_CATEGORY`).

A finding joins the qualifying cluster with the best score (similarity plus line and
category bonuses); a seat contributes at most one finding per cluster. Findings are swept
in a total order (line, seat name, message), so dict and list order do not matter. Only
clusters still within reach are kept, at most `MAX_CANDIDATES` of them are examined, and
messages (normalized in one pass over all of them, problem kinds looked up once per
distinct message) are compared only against clusters within reach: clustering is
O(n log n). `orchestration.merge.consensus` turns the clusters into merged findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter

from rapidfuzz import fuzz

from orchestration.merge.wording import (
    KIND_AGREES,
    KIND_DIFFERS,
    NO_KIND_STRETCH,
    normalize_messages,
    problem_kinds,
)
from orchestration.merge.wording import normalize_message as normalize_message
from orchestration.types.findings import Category, Finding

MAX_CANDIDATES = 32
"""Clusters within reach examined per finding (nearest first); bounds the work on dense input."""

_RELATED_PAIRS = (
    "bug+security bug+performance bug+maintainability performance+maintainability style+maintainability"
)
RELATED_CATEGORIES = frozenset(frozenset(map(Category, pair.split("+"))) for pair in _RELATED_PAIRS.split())
"""Category pairs that models use interchangeably for one problem."""

SAME_CATEGORY_STRONG = 40.0
"""Similarity needed for the same category on a strong line match.

On the held-out messages of `tests/test_merge.py` (one line, one category) unrelated pairs
scored at most 37 (0-20 naming different kinds, 11-37 with no kind signal) and paraphrase
pairs at least 46 (50-100 naming a common kind, 46-63 with no kind signal)."""
SAME_CATEGORY_NEAR = 45.0
"""Message similarity needed for the same category when the line match is only partial or adjacent."""
RELATED_CATEGORY_STRONG = 45.0
"""Message similarity needed for related categories on a strong line match."""
RELATED_CATEGORY_NEAR = 60.0
"""Message similarity needed for related categories on a partial or adjacent line match."""
UNRELATED_CATEGORY = 85.0
"""Message similarity needed for unrelated categories (near-identical text)."""


@dataclass(slots=True, eq=False)
class Entry:
    """One seat's finding: `seat` is the panel seat that reported it (its key, not `Finding.model`)."""

    seat: str
    finding: Finding


SWEEP_ORDER = attrgetter("finding.start_line", "finding.end_line", "seat", "finding.message")
"""The key entries are swept in: line range, seat, message, then (the sort being stable) the seat's order.

A seat's findings keep their order among themselves, so the order is total whatever the input's.
"""


def sorted_entries(findings: Mapping[str, Sequence[Finding]]) -> list[Entry]:
    """Each seat's findings as entries, in the sweep order."""
    entries = [Entry(seat, finding) for seat, seat_findings in findings.items() for finding in seat_findings]
    entries.sort(key=SWEEP_ORDER)
    return entries


@dataclass(slots=True, eq=False)
class Cluster:
    """Findings from distinct seats that describe one problem; `start`..`end` is their union."""

    start: int
    end: int
    category: Category
    """The category of the finding that started it (the one bonuses compare against)."""
    members: list[Entry]
    seats: int
    """The bit of each member's seat (`cluster_findings` numbers the seats)."""
    norms: dict[str, int]
    """The members' distinct normalized messages, in member order, each with its `problem_kinds`."""

    def add(self, entry: Entry, seat_bit: int, norm: str, kinds: int) -> None:
        """Take `entry` (from a seat not yet here) as a member; its message is normalized to `norm`."""
        self.members.append(entry)
        self.seats |= seat_bit
        if entry.finding.end_line > self.end:
            self.end = entry.finding.end_line
        if norm not in self.norms:
            self.norms[norm] = kinds


def _relation(first: Category, second: Category) -> int:
    """2 = same category, 1 = related, 0 = unrelated."""
    return 2 if first is second else int(frozenset((first, second)) in RELATED_CATEGORIES)


_BONUS: dict[Category, dict[Category, tuple[float, float]]] = {
    first: {
        second: (5.0 * _relation(first, second), 15.0 + 5.0 * _relation(first, second)) for second in Category
    }
    for first in Category
}
"""Score bonus by finding category, cluster category, then strong line match (index 1) or not (0).

15 for a strong line match plus 5 per degree of category kinship. Each (kinship, strong)
pair has its own bonus, so the bonus alone tells the similarity a merge needs (`_NEEDED`).
"""

_NEEDED: dict[float, float] = {25.0: SAME_CATEGORY_STRONG, 10.0: SAME_CATEGORY_NEAR}
_NEEDED |= {20.0: RELATED_CATEGORY_STRONG}
_NEEDED |= {5.0: RELATED_CATEGORY_NEAR, 15.0: UNRELATED_CATEGORY, 0.0: UNRELATED_CATEGORY}
"""Message similarity needed to merge, by bonus (same/related/unrelated category, strong match or not)."""

_BY_BONUS = itemgetter(0)  # A candidate's bonus, in (bonus, cluster).
_MESSAGE = attrgetter("finding.message")
_SEAT = attrgetter("seat")
_similarity = fuzz.token_set_ratio
_ROUNDING = 1e-6
"""Slack on the `score_cutoff` derived from a stretched bar, so rounding never changes a decision."""


def _best_cluster(candidates: list[tuple[float, Cluster]], query: str, kinds: int) -> Cluster | None:
    """The cluster a finding joins among its candidates, (bonus, cluster) nearest first; None for none.

    `query` is the finding's normalized message and `kinds` its problem kinds. Each candidate
    that clears its similarity bar is scored: `message_similarity` (the best over the
    cluster's distinct normalized messages) + its bonus. Candidates are tried by bonus, so
    the search stops as soon as no remaining one could beat the best score; ties go to the
    larger bonus, then the nearer cluster. A similarity below what the candidate must reach
    to matter counts as 0, as with rapidfuzz's `score_cutoff` (applied here: passing it costs
    more than it saves). `message_similarity` is written out inline: this is the merge's
    innermost loop.
    """
    candidates.sort(key=_BY_BONUS, reverse=True)
    best: Cluster | None = None
    best_score = -1.0
    for bonus, cluster in candidates:
        if 100.0 + bonus <= best_score:
            break
        norms = cluster.norms
        if query in norms:
            best, best_score = cluster, 100.0 + bonus
            continue
        similarity = 0.0
        for norm, norm_kinds in norms.items():
            score = _similarity(query, norm)
            if kinds and norm_kinds:
                score += KIND_AGREES if kinds & norm_kinds else -KIND_DIFFERS
                score = 100.0 if score > 100.0 else score
            else:
                score = 100.0 - (100.0 - score) * NO_KIND_STRETCH
            if score > similarity:
                similarity = score
        needed = _NEEDED[bonus]
        if similarity < needed or similarity < best_score - bonus:
            similarity = 0.0
        if similarity >= needed and similarity + bonus > best_score:
            best, best_score = cluster, similarity + bonus
    return best


def _agrees(cluster: Cluster, query: str, kinds: int, needed: float) -> bool:
    """Whether a message (normalized `query`, problem `kinds`) reaches `needed` with one of the cluster's.

    The same decision `_best_cluster` makes for a lone candidate, cheaper: no scores to rank,
    so rapidfuzz may stop early (`score_cutoff`).
    """
    if query in cluster.norms:
        return True
    for norm, norm_kinds in cluster.norms.items():
        if kinds and norm_kinds:
            bar = needed - (KIND_AGREES if kinds & norm_kinds else -KIND_DIFFERS)
            if bar <= 0.0 or (bar <= 100.0 and _similarity(query, norm, score_cutoff=bar)):
                return True
        else:
            bar = 100.0 - (100.0 - needed) / NO_KIND_STRETCH
            score = _similarity(query, norm, score_cutoff=bar - _ROUNDING)
            if score and 100.0 - (100.0 - score) * NO_KIND_STRETCH >= needed:
                return True
    return False


_WINDOW = 4 * MAX_CANDIDATES
"""The newest active clusters searched for candidates; on dense input older ones are dropped."""


def cluster_findings(entries: list[Entry], seat_count: int) -> list[Cluster]:
    """Sweep entries (in `SWEEP_ORDER`), joining each to the best reachable cluster or starting a new one.

    `active` holds the clusters still within reach (end line ≥ start − 1) that still lack
    a seat, newest last. The candidates for a finding are the `MAX_CANDIDATES` nearest
    clusters lacking its seat among the `_WINDOW` newest active ones, each with its bonus:
    15 for a strong line match (the ranges overlap by at least half of their union) plus 5
    per degree of category kinship (`_BONUS`). Even a lone candidate in the finding's category
    with a strong line match is joined only when the meaning agrees.
    """
    normalized = normalize_messages(map(_MESSAGE, entries))
    kinds_of: dict[str, int] = {}
    seat_bits = {seat: 1 << index for index, seat in enumerate(dict.fromkeys(map(_SEAT, entries)))}
    clusters: list[Cluster] = []
    active: list[Cluster] = []
    current_start = 0
    for entry in entries:
        finding = entry.finding
        start, end = finding.start_line, finding.end_line
        seat_bit = seat_bits[entry.seat]
        chosen: Cluster | None = None
        candidates: list[tuple[float, Cluster]] = []  # (bonus, cluster), nearest first.
        if active:
            if start != current_start:
                current_start = start
                active = [cluster for cluster in active if cluster.end >= start - 1]
            bonuses = _BONUS[finding.category]
            for cluster in reversed(active) if len(active) <= _WINDOW else reversed(active[-_WINDOW:]):
                if cluster.seats & seat_bit:
                    continue
                # Strong: the ranges overlap by half their union or more (no cluster starts after `start`).
                if end < cluster.end:
                    strong = 2 * (end - start + 1) >= cluster.end - cluster.start + 1
                else:
                    strong = 2 * (cluster.end - start + 1) >= end - cluster.start + 1
                candidates.append((bonuses[cluster.category][strong], cluster))
                if len(candidates) == MAX_CANDIDATES:
                    break
        norm = normalized[finding.message]
        kinds = kinds_of.get(norm)
        if kinds is None:
            kinds = kinds_of[norm] = problem_kinds(norm)
        if candidates:
            if len(candidates) == 1:
                bonus, lone = candidates[0]
                chosen = lone if _agrees(lone, norm, kinds, _NEEDED[bonus]) else None
            else:
                chosen = _best_cluster(candidates, norm, kinds)
        if chosen is None:
            chosen = Cluster(start, end, finding.category, [entry], seat_bit, {norm: kinds})
            clusters.append(chosen)
            active.append(chosen)
            if len(active) > 2 * _WINDOW:  # Clusters beyond the window are never examined.
                del active[:-_WINDOW]
        else:
            chosen.add(entry, seat_bit, norm, kinds)
            if len(chosen.members) >= seat_count:  # Each member is from another seat.
                active.remove(chosen)
    return clusters
