"""Consensus: cluster the panel's findings into merged findings with agreement counts.

Findings from different seats join one cluster when they point at the same place
(overlapping or adjacent line ranges, at most one line apart) and mean the same thing:

* same category and a strong line match (the ranges overlap by at least half of their
  union): merged whatever the wording, because models phrase one bug very differently
  ("Off-by-one: range(len(x)+1)" vs "IndexError when i == len(items)");
* same category, weaker line match: the normalized messages must be similar (rapidfuzz
  `token_set_ratio`); related categories (bug/security, style/maintainability, …) need
  similar messages even on a strong line match; unrelated ones (a security "auth bypass"
  and a style nit on one line) only merge when the messages are near-identical.

A finding joins the qualifying cluster with the best score (similarity plus line and
category bonuses); a seat contributes at most one finding per cluster. Findings are swept
in a total order (line, seat name, message), so dict and list order do not matter. Only
clusters still within reach are kept, at most `MAX_CANDIDATES` of them are examined, and
rapidfuzz runs only when wording decides: merging is O(n log n).

A merged finding covers the union of its members' lines (contiguous, since members are at
most one line apart): the squiggle covers every line a seat pointed at.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, TypeVar

from pydantic import BaseModel
from rapidfuzz import fuzz, process

from orchestration.findings import Category, Finding, Fix, MergedFinding, ModelOpinion, RankedFix, Severity

MAX_CANDIDATES = 32
"""Clusters within reach examined per finding (nearest first); bounds the work on dense input."""

SEVERITY_RANK: dict[Severity, int] = {severity: rank for rank, severity in enumerate(Severity)}
"""Lower is more severe (error 0 … hint 3); used for tie-breaks and sorting."""

_PRIORITY_ORDER = "security bug performance maintainability style".split()
CATEGORY_PRIORITY: dict[Category, int] = {Category(name): rank for rank, name in enumerate(_PRIORITY_ORDER)}
"""Which category wins a tied weighted vote (the more consequential one)."""

_RELATED_PAIRS = (
    "bug+security bug+performance bug+maintainability performance+maintainability style+maintainability"
)
RELATED_CATEGORIES = frozenset(frozenset(map(Category, pair.split("+"))) for pair in _RELATED_PAIRS.split())
"""Category pairs that models use interchangeably for one problem."""

SAME_CATEGORY_NEAR = 45.0
"""Message similarity needed for the same category when the line match is only partial or adjacent."""
RELATED_CATEGORY_STRONG = 45.0
"""Message similarity needed for related categories on a strong line match."""
RELATED_CATEGORY_NEAR = 60.0
"""Message similarity needed for related categories on a partial or adjacent line match."""
UNRELATED_CATEGORY = 85.0
"""Message similarity needed for unrelated categories (near-identical text)."""
SAME_FIX = 95.0
"""`fuzz.ratio` above which two whitespace-normalized replacements for one range count as one fix."""

_STOPWORDS = frozenset(
    "a an the is are was be been to of in on at for with by from as if when this that it its and or "
    "here there which may might can could would should will".split()
)
_PUNCTUATION = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_PUNCTUATION_TO_SPACE = bytes.maketrans(_PUNCTUATION, b" " * len(_PUNCTUATION))


def normalize_message(message: str) -> str:
    """Lower-case words of a message without ASCII punctuation or stopwords, for fuzzy comparison.

    Punctuation is replaced on the UTF-8 bytes (several times faster than `str.translate`;
    multi-byte characters are left alone).
    """
    spaced = message.lower().encode().translate(_PUNCTUATION_TO_SPACE).decode()
    return " ".join([word for word in spaced.split() if word not in _STOPWORDS])


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


_Entry = tuple[int, int, str, str, int, Category, Severity, Fix | None]
"""(start_line, end_line, seat, message, index in the seat's list, category, severity, fix).

Entries sort natively into the sweep order; (seat, index) is unique, so comparison never
reaches the rest, and the order is total whatever the input's order. Each Finding is read
once, into its entry.
"""


class _Cluster:
    """Findings from distinct seats that describe one problem; `start`..`end` is their union.

    `norms` holds the distinct normalized messages of `members[:normalized]`; it is only
    brought up to date when a decision depends on wording.
    """

    __slots__ = ("category", "end", "members", "normalized", "norms", "seats", "start")

    def __init__(self, entry: _Entry) -> None:
        self.start, self.end, seat, _, _, self.category, _, _ = entry
        self.members = [entry]
        self.seats = {seat}
        self.norms: list[str] = []
        self.normalized = 0

    def update_norms(self, cache: dict[str, str]) -> None:
        """Bring `norms` up to date with all members; `cache` maps messages to normalized ones."""
        for _, _, _, message, *_ in self.members[self.normalized :]:
            norm = cache.get(message)
            if norm is None:
                norm = cache[message] = normalize_message(message)
            if norm not in self.norms:
                self.norms.append(norm)
        self.normalized = len(self.members)


_RELATION: dict[tuple[Category, Category], int] = {
    (first, second): 2 if first is second else int(frozenset((first, second)) in RELATED_CATEGORIES)
    for first in Category
    for second in Category
}
"""2 = same category, 1 = related, 0 = unrelated."""

_NEEDED: dict[tuple[int, bool], float] = {(2, True): 0.0, (2, False): SAME_CATEGORY_NEAR}
_NEEDED |= {(1, True): RELATED_CATEGORY_STRONG, (1, False): RELATED_CATEGORY_NEAR}
_NEEDED |= {(0, True): UNRELATED_CATEGORY, (0, False): UNRELATED_CATEGORY}
"""Message similarity needed to merge, by (category relation, strong line match)."""


def _best_cluster(entry: _Entry, eligible: list[_Cluster], cache: dict[str, str]) -> _Cluster | None:
    """The cluster this finding belongs to among reachable clusters lacking its seat (nearest first).

    Each candidate that clears its similarity bar is scored: similarity + a bonus (15 for a
    strong line match, 5 per degree of category kinship). Candidates are tried by bonus,
    so the search stops as soon as no remaining one could beat the best score; ties go to
    the larger bonus, then the nearer cluster.
    """
    start, end, _, message, _, category, _, _ = entry
    ranked = []
    for cluster in eligible:
        cluster_end = cluster.end  # Clusters never start after a later finding: overlap starts at `start`.
        if end < cluster_end:
            strong = 2 * (end - start + 1) >= cluster_end - cluster.start + 1
        else:
            strong = 2 * (cluster_end - start + 1) >= end - cluster.start + 1
        relation = 2 if category is cluster.category else _RELATION[category, cluster.category]
        ranked.append(((15.0 if strong else 0.0) + 5.0 * relation, _NEEDED[relation, strong], cluster))
    if len(ranked) > 1:
        ranked.sort(key=_BY_BONUS, reverse=True)
    query = cache.get(message)
    if query is None:
        query = cache[message] = normalize_message(message)
    best: _Cluster | None = None
    best_score = -1.0
    for bonus, needed, cluster in ranked:
        if 100.0 + bonus <= best_score:
            break
        if cluster.normalized < len(cluster.members):
            cluster.update_norms(cache)
        norms = cluster.norms
        if query in norms:
            similarity = 100.0
        elif len(norms) == 1:
            cutoff = best_score - bonus if best_score - bonus > needed else needed
            similarity = fuzz.token_set_ratio(query, norms[0], score_cutoff=cutoff)
        else:
            cutoff = best_score - bonus if best_score - bonus > needed else needed
            match = process.extractOne(
                query, norms, scorer=fuzz.token_set_ratio, processor=None, score_cutoff=cutoff
            )
            similarity = 0.0 if match is None else match[1]
        if similarity >= needed and similarity + bonus > best_score:
            best, best_score = cluster, similarity + bonus
    return best


def _cluster(entries: list[_Entry], seat_count: int) -> list[_Cluster]:
    """Sweep findings in line order, joining each to the best reachable cluster or starting a new one.

    `active` holds the clusters still within reach (end line ≥ start − 1) that still lack
    a seat, newest last; only the `MAX_CANDIDATES` nearest of them lacking the finding's seat
    are examined. The common case, a lone candidate in the same category with a strong line
    match, is decided inline.
    """
    clusters: list[_Cluster] = []
    active: list[_Cluster] = []
    cache: dict[str, str] = {}
    current_start = 0
    window = 4 * MAX_CANDIDATES
    for entry in entries:
        start, end, seat, _, _, category, _, _ = entry
        chosen: _Cluster | None = None
        if active:
            if start != current_start:
                current_start = start
                reach = start - 1
                active = [cluster for cluster in active if cluster.end >= reach]
            candidates = active if len(active) <= window else active[-window:]
            eligible = [cluster for cluster in candidates if seat not in cluster.seats]
            if len(eligible) == 1:
                only = eligible[0]
                only_end = only.end
                if (
                    only.category is category
                    and 2 * ((end if end < only_end else only_end) - start + 1)
                    >= (end if end > only_end else only_end) - only.start + 1
                ):
                    chosen = only
                else:
                    chosen = _best_cluster(entry, eligible, cache)
            elif eligible:
                chosen = _best_cluster(entry, eligible[: -MAX_CANDIDATES - 1 : -1], cache)
        if chosen is None:
            chosen = _Cluster(entry)
            clusters.append(chosen)
            active.append(chosen)
            if len(active) > 2 * window:  # Dense input: clusters beyond the window are never examined.
                del active[:-window]
        else:
            chosen.members.append(entry)
            chosen.seats.add(seat)
            if end > chosen.end:
                chosen.end = end
            if len(chosen.seats) >= seat_count:
                active.remove(chosen)
    return clusters


def _fix_text(replacement: str) -> str:
    """A replacement with whitespace runs collapsed and blank lines dropped."""
    return "\n".join(" ".join(line.split()) for line in replacement.splitlines() if line.strip())


def rank_fixes(proposals: Mapping[str, Fix], weights: Mapping[str, float] | None = None) -> list[RankedFix]:
    """Group each seat's proposed fix into distinct fixes, ranked by votes, then summed weight, then name.

    Fixes for the same lines whose replacements are identical or near-identical after
    whitespace normalization count as one; the highest-weight seat's text represents it.
    """
    weights = weights or {}
    exact: dict[tuple[int, int, str], list[str]] = {}
    for seat, fix in proposals.items():
        exact.setdefault((fix.start_line, fix.end_line, fix.replacement), []).append(seat)
    groups: list[tuple[tuple[int, int, str], list[str]]] = []
    for (start, end, replacement), seats in exact.items():
        key = (start, end, _fix_text(replacement)) if len(exact) > 1 else (start, end, replacement)
        for group_key, group_seats in groups:
            if key == group_key or (
                key[:2] == group_key[:2] and fuzz.ratio(key[2], group_key[2], score_cutoff=SAME_FIX)
            ):
                group_seats.extend(seats)
                break
        else:
            groups.append((key, list(seats)))
    ranked = []
    for _, seats in groups:
        if len(seats) > 1:
            seats.sort(key=lambda name: (-weights.get(name, 1.0), name))
        ranked.append(_trusted(RankedFix, {"fix": proposals[seats[0]], "votes": len(seats), "models": seats}))
    if len(ranked) > 1:
        ranked.sort(
            key=lambda item: (-item.votes, -sum(weights.get(name, 1.0) for name in item.models), item.models)
        )
    return ranked


def _merged(
    cluster: _Cluster, panel: int, weights: Mapping[str, float], uniform: bool, min_agreement: int
) -> MergedFinding:
    """One cluster as a MergedFinding (weighted votes, representative message, ranked fixes).

    `weights` has every seat; `uniform` says they are all equal. Members are ordered by
    weight (heaviest first), then seat name; the representative message is the heaviest
    seat's, preferring among equals one whose severity and category match the vote.
    """
    members = cluster.members
    if len(members) > 1:
        members.sort(key=_BY_SEAT if uniform else lambda entry: (-weights[entry[2]], entry[2]))
    opinions: list[ModelOpinion] = []
    proposals: dict[str, Fix] = {}
    severity_votes: dict[Severity, float] = {}
    category_votes: dict[Category, float] = {}
    for start, end, seat, text, _, kind, severity, fix in members:
        opinion = {
            "model": seat,
            "message": text,
            "severity": severity,
            "category": kind,
            "start_line": start,
            "end_line": end,
        }
        opinions.append(_trusted(ModelOpinion, opinion))
        severity_votes[severity] = severity_votes.get(severity, 0.0) + weights[seat]
        category_votes[kind] = category_votes.get(kind, 0.0) + weights[seat]
        if fix is not None:
            proposals[seat] = fix
    message = opinions[0].message
    if len(severity_votes) == 1 and len(category_votes) == 1:
        severity, category = opinions[0].severity, cluster.category
    else:
        severity = min(severity_votes, key=lambda option: (-severity_votes[option], SEVERITY_RANK[option]))
        category = min(
            category_votes, key=lambda option: (-category_votes[option], CATEGORY_PRIORITY[option])
        )
        top = weights[members[0][2]]
        message = min(
            (opinion for opinion in opinions if weights[opinion.model] == top),
            key=lambda opinion: (opinion.severity is not severity, opinion.category is not category),
        ).message
    if panel >= 3 and len(members) < min_agreement and severity is not Severity.HINT:
        severity = Severity.INFO
    fields = {
        "start_line": cluster.start,
        "end_line": cluster.end,
        "severity": severity,
        "category": category,
        "message": message,
        "votes": len(members),
        "panel": panel,
        "models": [opinion.model for opinion in opinions],
        "opinions": opinions,
        "fixes": rank_fixes(proposals, weights) if proposals else [],
        "arbiter_verdict": None,
    }
    return _trusted(MergedFinding, fields)


_BY_SEAT = itemgetter(2)  # An entry's seat.
_BY_BONUS = itemgetter(0)  # A ranked candidate's bonus.
_Model = TypeVar("_Model", bound=BaseModel)
_new_object = object.__new__
_set_slot = object.__setattr__


def _trusted(model_class: type[_Model], fields: dict[str, Any]) -> _Model:
    """`model_class.model_construct(**fields)` for all fields, already valid, without its overhead.

    The values come from validated Findings; validating them again (or `model_construct`'s
    per-field work) doubled the cost of building the output of a 10k-finding merge. This does
    what `model_construct` does for models without extras or private attributes: `fields`
    becomes the instance's `__dict__`. `test_merge` checks the results equal validated models.
    """
    instance = _new_object(model_class)
    _set_slot(instance, "__dict__", fields)
    _set_slot(instance, "__pydantic_fields_set__", set(fields))
    _set_slot(instance, "__pydantic_extra__", None)
    _set_slot(instance, "__pydantic_private__", None)
    return instance


def merge_findings(
    findings: Mapping[str, Sequence[Finding]],
    *,
    answered: Sequence[str],
    weights: Mapping[str, float] | None = None,
    min_agreement: int = 2,
) -> list[MergedFinding]:
    """Merge each seat's findings into consensus findings, sorted by line, severity, then votes.

    `findings` maps seat name → its findings; `answered` lists the seats that answered
    usably (a seat with no findings still counts). `panel` is the number of distinct
    seats in `answered` plus any seat that reported findings without being listed, so
    votes never exceed panel. `weights` default to 1.0 per seat. With 3+ seats, a
    finding reported by fewer than `min_agreement` seats is kept at info severity
    (hint stays hint). The cyclic garbage collector is paused during the merge, which
    allocates many objects but no reference cycles.
    """
    seats = set(answered) | {seat for seat, items in findings.items() if items}
    seat_weights = {seat: (weights or {}).get(seat, 1.0) for seat in seats | set(findings)}
    uniform = len(set(seat_weights.values())) <= 1
    collecting = gc.isenabled()
    gc.disable()  # Tens of thousands of acyclic objects: collector passes would make big merges superlinear.
    try:
        entries: list[_Entry] = [
            (f.start_line, f.end_line, seat, f.message, order, f.category, f.severity, f.fix)
            for seat in findings
            for order, f in enumerate(findings[seat])
        ]
        entries.sort()
        clusters = _cluster(entries, len(seats))
        merged = [_merged(cluster, len(seats), seat_weights, uniform, min_agreement) for cluster in clusters]
        merged.sort(key=merged_sort_key)
    finally:
        if collecting:
            gc.enable()
    return merged
