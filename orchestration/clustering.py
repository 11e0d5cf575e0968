"""Clustering for the consensus merge: which findings from different seats describe one problem.

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
messages (normalized in one pass over all of them) are compared only when wording decides:
clustering is O(n log n). `orchestration.merge` turns the clusters into merged findings.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import filterfalse
from operator import itemgetter

from rapidfuzz import fuzz

from orchestration.findings import Category, Fix, Severity

MAX_CANDIDATES = 32
"""Clusters within reach examined per finding (nearest first); bounds the work on dense input."""

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


def normalize_messages(messages: Iterable[str]) -> dict[str, str]:
    """`normalize_message` of each distinct message, as one pass over all of them joined.

    The messages are joined with " NUL " (NUL is neither whitespace nor cased, so lower-casing
    and splitting treat it like a string's end), normalized as one string (a few C-level
    passes instead of several per message), and split apart again; if a message contains NUL
    itself, each is normalized on its own. Lone surrogates pass through unchanged instead of
    failing the UTF-8 round trip.
    """
    distinct = list(dict.fromkeys(messages))
    joined = " \0 ".join(distinct)
    if not distinct or joined.count("\0") >= len(distinct):
        return {message: normalize_message(message) for message in distinct}
    spaced = joined.lower().encode(errors="surrogatepass").translate(_PUNCTUATION_TO_SPACE)
    words = spaced.decode(errors="surrogatepass").split()
    kept = " ".join(filterfalse(_STOPWORDS.__contains__, words))
    return dict(zip(distinct, map(str.strip, kept.split("\0")), strict=True))


Entry = tuple[int, int, str, str, int, Category, Severity, Fix | None]
"""A finding as (start_line, end_line, seat, message, index in the seat's list, category, severity, fix).

Entries sort natively into the sweep order; (seat, index) is unique, so comparison never
reaches the rest, and the order is total whatever the input's order.
"""


class Cluster:
    """Findings from distinct seats that describe one problem; `start`..`end` is their union.

    `seats` has the bit of each member's seat set; `norms` holds the distinct normalized
    messages of the members, in member order.
    """

    __slots__ = ("category", "end", "members", "norms", "seats", "start")

    def __init__(self, entry: Entry, seat_bit: int, norm: str) -> None:
        self.start, self.end, _, _, _, self.category, _, _ = entry
        self.members = [entry]
        self.seats = seat_bit
        self.norms = [norm]


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

_NEEDED: dict[float, float] = {25.0: 0.0, 10.0: SAME_CATEGORY_NEAR, 20.0: RELATED_CATEGORY_STRONG}
_NEEDED |= {5.0: RELATED_CATEGORY_NEAR, 15.0: UNRELATED_CATEGORY, 0.0: UNRELATED_CATEGORY}
"""Message similarity needed to merge, by bonus (same/related/unrelated category, strong match or not)."""

_SAME_AND_STRONG = 25.0
"""The bonus of a cluster in the finding's category with a strong line match: it needs no similarity."""

_BY_BONUS = itemgetter(0)  # A ranked candidate's bonus.
_SEAT = itemgetter(2)  # An entry's seat.
_MESSAGE = itemgetter(3)  # An entry's message.
_similarity = fuzz.token_set_ratio


def _best_cluster(ranked: list[tuple[float, Cluster]], query: str) -> Cluster | None:
    """The cluster a finding joins among its candidates, (bonus, cluster) nearest first; None for none.

    `query` is the finding's normalized message. Each candidate that clears its similarity
    bar is scored: similarity (the best over the cluster's distinct normalized messages) +
    its bonus. Candidates are tried by bonus, so the search stops as soon as no remaining one
    could beat the best score; ties go to the larger bonus, then the nearer cluster. A
    similarity below what the candidate must reach to matter counts as 0, as with
    rapidfuzz's `score_cutoff` (applied here: passing it costs more than it saves).
    """
    if len(ranked) > 1:
        ranked.sort(key=_BY_BONUS, reverse=True)
    best: Cluster | None = None
    best_score = -1.0
    for bonus, cluster in ranked:
        if 100.0 + bonus <= best_score:
            break
        norms = cluster.norms
        if query in norms:
            best, best_score = cluster, 100.0 + bonus
            continue
        similarity = 0.0
        for norm in norms:
            score = _similarity(query, norm)
            if score > similarity:
                similarity = score
        needed = _NEEDED[bonus]
        if similarity < needed or similarity < best_score - bonus:
            similarity = 0.0
        if similarity >= needed and similarity + bonus > best_score:
            best, best_score = cluster, similarity + bonus
    return best


def cluster_findings(entries: list[Entry], seat_count: int) -> list[Cluster]:
    """Sweep sorted entries in line order, joining each to the best reachable cluster or starting a new one.

    `active` holds the clusters still within reach (end line ≥ start − 1) that still lack
    a seat, newest last. The candidates for a finding are the `MAX_CANDIDATES` nearest
    clusters lacking its seat among the `4 * MAX_CANDIDATES` newest active ones, each with
    its bonus: 15 for a strong line match (the ranges overlap by at least half of their
    union) plus 5 per degree of category kinship. A lone candidate in the finding's
    category with a strong line match is joined without looking at the wording.
    """
    normalized = normalize_messages(map(_MESSAGE, entries))
    seat_bits = {seat: 1 << index for index, seat in enumerate(dict.fromkeys(map(_SEAT, entries)))}
    clusters: list[Cluster] = []
    active: list[Cluster] = []
    current_start = 0
    window = 4 * MAX_CANDIDATES
    for entry in entries:
        start, end, seat, message, _, category, _, _ = entry
        seat_bit = seat_bits[seat]
        chosen: Cluster | None = None
        if active:
            if start != current_start:
                current_start = start
                reach = start - 1
                active = [cluster for cluster in active if cluster.end >= reach]
            bonuses = _BONUS[category]
            ranked = []
            for cluster in reversed(active) if len(active) <= window else reversed(active[-window:]):
                if cluster.seats & seat_bit:
                    continue
                cluster_end = (
                    cluster.end
                )  # A cluster never starts after a later finding: overlaps start at `start`.
                if end < cluster_end:
                    strong = 2 * (end - start + 1) >= cluster_end - cluster.start + 1
                else:
                    strong = 2 * (cluster_end - start + 1) >= end - cluster.start + 1
                ranked.append((bonuses[cluster.category][strong], cluster))
                if len(ranked) == MAX_CANDIDATES:
                    break
            if len(ranked) == 1 and ranked[0][0] == _SAME_AND_STRONG:
                chosen = ranked[0][1]
            elif ranked:
                chosen = _best_cluster(ranked, normalized[message])
        if chosen is None:
            chosen = Cluster(entry, seat_bit, normalized[message])
            clusters.append(chosen)
            active.append(chosen)
            if len(active) > 2 * window:  # Dense input: clusters beyond the window are never examined.
                del active[:-window]
        else:
            chosen.members.append(entry)
            chosen.seats |= seat_bit
            if end > chosen.end:
                chosen.end = end
            norm = normalized[message]
            if norm not in chosen.norms:
                chosen.norms.append(norm)
            if len(chosen.members) >= seat_count:  # Each member is from another seat.
                active.remove(chosen)
    return clusters
