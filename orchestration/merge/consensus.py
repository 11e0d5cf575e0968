"""Consensus: cluster the panel's findings into merged findings with agreement counts.

`orchestration.merge.clustering` decides which findings from different seats describe one
problem (same place, and the same meaning by category and wording); its docstring has
the rules. This module turns each cluster into a `MergedFinding`: severity and category
are weighted votes, the message is the heaviest seat's, each seat's own words are kept as
`ModelOpinion`s, and the seats' proposed fixes are grouped and ranked (`rank_fixes`).

A merged finding covers the union of its members' lines (contiguous, since members are at
most one line apart): the squiggle covers every line a seat pointed at. Merging is
O(n log n): one sort of the findings, a sweep over them, one sort of the result.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, TypeVar

from pydantic import BaseModel
from rapidfuzz import fuzz

from orchestration.merge.clustering import MAX_CANDIDATES as MAX_CANDIDATES
from orchestration.merge.clustering import RELATED_CATEGORIES as RELATED_CATEGORIES
from orchestration.merge.clustering import Cluster, Entry, cluster_findings
from orchestration.merge.clustering import normalize_message as normalize_message
from orchestration.types.findings import (
    Category,
    Finding,
    Fix,
    MergedFinding,
    ModelOpinion,
    RankedFix,
    Severity,
)

SEVERITY_RANK: dict[Severity, int] = {severity: rank for rank, severity in enumerate(Severity)}
"""Lower is more severe (error 0 … hint 3); used for tie-breaks and sorting."""

_PRIORITY_ORDER = "security bug performance maintainability style".split()
CATEGORY_PRIORITY: dict[Category, int] = {Category(name): rank for rank, name in enumerate(_PRIORITY_ORDER)}
"""Which category wins a tied weighted vote (the more consequential one)."""

SAME_FIX = 95.0
"""`fuzz.ratio` above which two whitespace-normalized replacements for one range count as one fix."""


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


def _merged_fields(
    cluster: Cluster, panel: int, weights: Mapping[str, float], uniform: bool, min_agreement: int
) -> tuple[tuple[Any, ...], list[Entry], dict[str, Any]]:
    """One cluster's MergedFinding fields, all but `opinions`, with its sort key and its members in order.

    `weights` has every seat; `uniform` says they are all equal. Members are ordered by
    weight (heaviest first), then seat name; severity and category are weighted votes, and
    the representative message is the heaviest seat's, preferring among equals one whose
    severity and category match the vote. The sort key is `merged_sort_key` of the result.
    """
    members = cluster.members
    _, _, top_seat, message, _, _, severity, _ = members[0]
    category = cluster.category
    if len(members) > 1:
        members.sort(key=_BY_SEAT if uniform else lambda entry: (-weights[entry[2]], entry[2]))
        _, _, top_seat, message, _, _, severity, _ = members[0]
        severity_votes: dict[Severity, float] = {}
        category_votes: dict[Category, float] = {}
        for _, _, seat, _, _, kind, vote, _ in members:
            weight = weights[seat]
            severity_votes[vote] = severity_votes.get(vote, 0.0) + weight
            category_votes[kind] = category_votes.get(kind, 0.0) + weight
        if len(severity_votes) > 1 or len(category_votes) > 1:
            severity = _vote_winner(severity_votes, SEVERITY_RANK)
            category = _vote_winner(category_votes, CATEGORY_PRIORITY)
            top = weights[top_seat]
            best_misfit = 4
            for _, _, seat, text, _, kind, vote, _ in members:  # The heaviest seats come first.
                if weights[seat] != top:
                    break
                misfit = 2 * (vote is not severity) + (kind is not category)  # A wrong severity weighs more.
                if misfit < best_misfit:
                    best_misfit, message = misfit, text
                    if not misfit:
                        break
    if panel >= 3 and len(members) < min_agreement and severity is not Severity.HINT:
        severity = Severity.INFO
    fixes: list[RankedFix] = []
    if any(map(_FIX, members)):
        fixes = rank_fixes({seat: fix for _, _, seat, _, _, _, _, fix in members if fix is not None}, weights)
    models = list(map(_BY_SEAT, members))
    fields = {
        "start_line": cluster.start,
        "end_line": cluster.end,
        "severity": severity,
        "category": category,
        "message": message,
        "votes": len(members),
        "panel": panel,
        "models": models,
        "opinions": None,
        "fixes": fixes,
        "arbiter_verdict": None,
    }
    order = (
        cluster.start,
        SEVERITY_RANK[severity],
        -len(members),
        cluster.end,
        CATEGORY_PRIORITY[category],
        message,
        models,
    )
    return order, members, fields


def _merge_clusters(
    clusters: list[Cluster], panel: int, weights: Mapping[str, float], uniform: bool, min_agreement: int
) -> list[MergedFinding]:
    """The clusters as MergedFindings in output order, with one ModelOpinion per member in member order."""
    keyed = [_merged_fields(cluster, panel, weights, uniform, min_agreement) for cluster in clusters]
    keyed.sort(key=_FIRST)
    opinions = _trusted_all(
        ModelOpinion,
        [
            {
                "model": seat,
                "message": text,
                "severity": severity,
                "category": kind,
                "start_line": start,
                "end_line": end,
            }
            for _, members, _ in keyed
            for start, end, seat, text, _, kind, severity, _ in members
        ],
    )
    position = 0
    for _, members, fields in keyed:
        fields["opinions"] = opinions[position : position + len(members)]
        position += len(members)
    return _trusted_all(MergedFinding, list(map(_FIELDS, keyed)))


_Option = TypeVar("_Option")


def _vote_winner(votes: dict[_Option, float], rank: Mapping[_Option, int]) -> _Option:
    """The option with the most votes; a tie goes to the lowest rank."""
    winner, most = next(iter(votes.items()))
    for option, count in votes.items():
        if count > most or (count == most and rank[option] < rank[winner]):
            winner, most = option, count
    return winner


_BY_SEAT = itemgetter(2)  # An entry's seat.
_FIX = itemgetter(7)  # An entry's fix.
_FIELDS = itemgetter(2)  # A keyed cluster's MergedFinding fields.
_FIRST = itemgetter(0)  # A sort key paired with its item.
_Model = TypeVar("_Model", bound=BaseModel)
_new_object = object.__new__
_set_slot = object.__setattr__
_exhaust = deque[object](maxlen=0).extend  # Runs an iterator to its end, keeping nothing.


class _AllFieldNames(set[str]):
    """The `__pydantic_fields_set__` shared by every instance of one model that the merge builds.

    All their fields are set, so one set serves them all: allocating (and later freeing) a
    set per instance was a tenth of a 10k-finding merge. Pydantic only ever adds names of
    fields to it, which changes nothing; anything that would change it raises instead of
    changing every instance at once. Copies (`model_copy`, `copy`, pickling) are plain sets.
    """

    __slots__ = ()

    def add(self, name: str) -> None:
        """Allow adding a name that is already there (pydantic does on assignment); refuse others."""
        if name not in self:
            self._refuse()

    def _refuse(self, *_: object) -> Any:
        raise TypeError("the fields-set of merged findings is shared; use model_copy() to change one")

    discard = remove = pop = clear = update = _refuse
    difference_update = intersection_update = symmetric_difference_update = _refuse
    __ior__ = __iand__ = __isub__ = __ixor__ = _refuse

    def __copy__(self) -> set[str]:
        return set(self)

    def __deepcopy__(self, memo: object) -> set[str]:
        return set(self)

    def __reduce__(self) -> tuple[type[set[str]], tuple[list[str]]]:
        return set, (list(self),)


_ALL_FIELDS: dict[type[BaseModel], _AllFieldNames] = {
    model_class: _AllFieldNames(model_class.model_fields)
    for model_class in (ModelOpinion, MergedFinding, RankedFix)
}


def _trusted(model_class: type[_Model], fields: dict[str, Any]) -> _Model:
    """`model_class.model_construct(**fields)` for all fields, already valid, without its overhead.

    The values come from validated Findings; validating them again (or `model_construct`'s
    per-field work) doubled the cost of building the output of a 10k-finding merge. This does
    what `model_construct` does for models without extras or private attributes: `fields`
    (every field of the model, which must be in `_ALL_FIELDS`) becomes the instance's
    `__dict__`. `test_merge` checks the results equal validated models.
    """
    instance = _new_object(model_class)
    _set_slot(instance, "__dict__", fields)
    _set_slot(instance, "__pydantic_fields_set__", _ALL_FIELDS[model_class])
    _set_slot(instance, "__pydantic_extra__", None)
    _set_slot(instance, "__pydantic_private__", None)
    return instance


def _trusted_all(model_class: type[_Model], field_dicts: list[dict[str, Any]]) -> list[_Model]:
    """`_trusted(model_class, fields)` for each of `field_dicts`, the per-object calls run by C-level maps."""
    instances: list[Any] = list(map(_new_object, repeat(model_class, len(field_dicts))))
    _exhaust(map(_set_slot, instances, repeat("__dict__"), field_dicts))
    _exhaust(map(_set_slot, instances, repeat("__pydantic_fields_set__"), repeat(_ALL_FIELDS[model_class])))
    _exhaust(map(_set_slot, instances, repeat("__pydantic_extra__"), repeat(None)))
    _exhaust(map(_set_slot, instances, repeat("__pydantic_private__"), repeat(None)))
    return instances


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
    collecting = gc.isenabled()
    gc.disable()  # Before any allocation: a collector pass now would traverse the caller's young objects.
    try:
        seats = set(answered) | {seat for seat, items in findings.items() if items}
        seat_weights = {seat: (weights or {}).get(seat, 1.0) for seat in seats | set(findings)}
        uniform = len(set(seat_weights.values())) <= 1
        entries: list[Entry] = [  # Each Finding's fields, read from its `__dict__` (cheaper than attributes).
            (
                f["start_line"],
                f["end_line"],
                seat,
                f["message"],
                order,
                f["category"],
                f["severity"],
                f["fix"],
            )
            for seat in findings
            for order, f in enumerate(map(vars, findings[seat]))
        ]
        entries.sort()
        clusters = cluster_findings(entries, len(seats))
        return _merge_clusters(clusters, len(seats), seat_weights, uniform, min_agreement)
    finally:
        if collecting:
            gc.enable()
