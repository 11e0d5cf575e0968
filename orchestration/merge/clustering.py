"""Clustering for the consensus merge: which findings from different seats describe one problem.

Findings from different seats join one cluster when they point at the same place
(overlapping or adjacent line ranges, at most one line apart) and mean the same thing.
Line and category alone never decide: several different problems often sit on one line
under one category ("ZeroDivisionError when deposits is empty", "Return type annotation
missing on total", "Variable x shadows a global"), and merging them would inflate the
agreement count, the product's main signal. Meaning is judged by a *similarity* (0-100):

* rapidfuzz `token_set_ratio` of the normalized messages (`normalize_message`), plus
* a keyword signal: each message's *problem kinds* (`PROBLEM_KINDS`: bounds, division by
  zero, None, injection, typing, shadowing, resources, ...) are looked up by keyword.
  Messages naming a common kind gain `KIND_AGREES` ("Off-by-one: range(len(x)+1)" and
  "IndexError when i == len(items)" share little wording but both name a bounds problem);
  messages that both name kinds, none in common, lose `KIND_DIFFERS`.

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

import functools
from collections.abc import Iterable
from functools import reduce
from itertools import filterfalse
from operator import itemgetter, or_

from rapidfuzz import fuzz

from orchestration.types.findings import Category, Fix, Severity

MAX_CANDIDATES = 32
"""Clusters within reach examined per finding (nearest first); bounds the work on dense input."""

_RELATED_PAIRS = (
    "bug+security bug+performance bug+maintainability performance+maintainability style+maintainability"
)
RELATED_CATEGORIES = frozenset(frozenset(map(Category, pair.split("+"))) for pair in _RELATED_PAIRS.split())
"""Category pairs that models use interchangeably for one problem."""

SAME_CATEGORY_STRONG = 40.0
"""Similarity needed for the same category on a strong line match.

Unrelated problems on one line scored 25-33 in trials, paraphrases of one problem 39-66
before the keyword signal (`KIND_AGREES`) lifts most of them well clear."""
SAME_CATEGORY_NEAR = 45.0
"""Message similarity needed for the same category when the line match is only partial or adjacent."""
RELATED_CATEGORY_STRONG = 45.0
"""Message similarity needed for related categories on a strong line match."""
RELATED_CATEGORY_NEAR = 60.0
"""Message similarity needed for related categories on a partial or adjacent line match."""
UNRELATED_CATEGORY = 85.0
"""Message similarity needed for unrelated categories (near-identical text)."""

KIND_AGREES = 25.0
"""Similarity added when two messages name a common problem kind."""
KIND_DIFFERS = 40.0
"""Similarity taken away when both messages name problem kinds and none is common."""

_KIND_KEYWORDS = {  # Words of normalized messages; "stem*" matches words starting so, "a_b" two in a row.
    "bounds": "off_one indexerror index_error indexoutofbounds out_range out_bounds past_end past_last "
    "beyond_end too_far too_high one_too one_past bound bounds overrun* fencepost outofrange",
    "zero division": "zerodivisionerror zerodivision division_zero divide_zero divides_zero dividing_zero "
    "divided_zero divisor_zero zero_divisor zero_denominator divide_0 division_0 divisor_0",
    "none": "none null nil nonetype attributeerror nullpointer* optional undefined",
    "injection": "sql inject* unsanitized unsanitised unescaped parameteriz* parameteris* prepared_statement "
    "query queries xss eval exec shell",
    "typing": "annotat* type_hint type_hints untyped return_type typing mypy",
    "shadowing": "shadow*",
    "naming": "snake snakecase camelcase camel_case naming rename* pep8 pep_8 convention*",
    "resources": "close closes closed closing leak* context_manager handle handles stays_open",
    "slowness": "quadratic recomput* repeated* cache caches cached caching inefficien* slow*",
    "exceptions": "except exception_handling catch* swallow* silenc*",
    "mutable default": "mutable_default default_argument default_arg",
    "unused": "unused never_used dead_code unreachable not_used",
    "concurrency": "race thread* lock deadlock* concurren* atomic*",
    "secrets": "password* secret* credential credentials api_key token hardcoded hard_coded",
    "termination": "infinite recursion recursive never_terminates hangs hang",
    "undefined name": "nameerror not_defined unbound* uninitialized uninitialised before_assignment",
    "type error": "typeerror wrong_type type_mismatch",
    "documentation": "docstring docstrings documentation undocumented comment comments",
    "magic number": "magic_number magic_numbers magic_value magic_constant",
    "line length": "too_long long_line line_length",
    "overflow": "overflow*",
    "mutation": "mutat* modified_while modifies_while modifying_while in_place",
    "precision": "precision rounding float_comparison",
}
PROBLEM_KINDS = tuple(_KIND_KEYWORDS)
"""The problem kinds the keyword signal knows; a message may name several or none."""


def _keyword_tables() -> tuple[dict[str, int], dict[str, int], dict[str, dict[str, int]]]:
    """(whole word → kind bits, stem → kind bits, first word → second word → kind bits)."""
    words: dict[str, int] = {}
    stems: dict[str, int] = {}
    pairs: dict[str, dict[str, int]] = {}
    for index, keywords in enumerate(_KIND_KEYWORDS.values()):
        for keyword in keywords.split():
            if "_" in keyword:
                first, second = keyword.split("_")
                pairs.setdefault(first, {})[second] = pairs.get(first, {}).get(second, 0) | 1 << index
            elif keyword.endswith("*"):
                stems[keyword[:-1]] = stems.get(keyword[:-1], 0) | 1 << index
            else:
                words[keyword] = words.get(keyword, 0) | 1 << index
    return words, stems, pairs


_KIND_OF_WORD, _KIND_OF_STEM, _KIND_OF_PAIR = _keyword_tables()
_STEM_LENGTHS = sorted({len(stem) for stem in _KIND_OF_STEM})


@functools.lru_cache(maxsize=1 << 16)
def _word_kinds(word: str) -> int:
    """The kind bits one word names by itself (whole word or stem)."""
    kinds = _KIND_OF_WORD.get(word, 0)
    for length in _STEM_LENGTHS:
        if length > len(word):
            break
        kinds |= _KIND_OF_STEM.get(word[:length], 0)
    return kinds


def problem_kinds(norm: str) -> int:
    """The problem kinds a normalized message names, as bits (bit i = `PROBLEM_KINDS[i]`)."""
    words = norm.split()
    kinds = reduce(or_, map(_word_kinds, words), 0)
    for index, word in enumerate(words[:-1]):
        if (seconds := _KIND_OF_PAIR.get(word)) is not None:
            kinds |= seconds.get(words[index + 1], 0)
    return kinds


def message_similarity(first: str, second: str, first_kinds: int, second_kinds: int) -> float:
    """How alike two normalized messages are in meaning (0-100): wording plus the problem-kind signal."""
    similarity = _similarity(first, second)
    if first_kinds and second_kinds:
        similarity += KIND_AGREES if first_kinds & second_kinds else -KIND_DIFFERS
    return min(max(similarity, 0.0), 100.0)


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
    messages of the members, in member order, and `kinds` their `problem_kinds`.
    """

    __slots__ = ("category", "end", "kinds", "members", "norms", "seats", "start")

    def __init__(self, entry: Entry, seat_bit: int, norm: str, kinds: int) -> None:
        self.start, self.end, _, _, _, self.category, _, _ = entry
        self.members = [entry]
        self.seats = seat_bit
        self.norms = [norm]
        self.kinds = [kinds]


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

_BY_BONUS = itemgetter(0)  # A ranked candidate's bonus.
_SEAT = itemgetter(2)  # An entry's seat.
_MESSAGE = itemgetter(3)  # An entry's message.
_similarity = fuzz.token_set_ratio


def _best_cluster(ranked: list[tuple[float, Cluster]], query: str, kinds: int) -> Cluster | None:
    """The cluster a finding joins among its candidates, (bonus, cluster) nearest first; None for none.

    `query` is the finding's normalized message and `kinds` its problem kinds. Each candidate
    that clears its similarity bar is scored: `message_similarity` (the best over the
    cluster's distinct normalized messages) + its bonus. Candidates are tried by bonus, so
    the search stops as soon as no remaining one could beat the best score; ties go to the
    larger bonus, then the nearer cluster. A similarity below what the candidate must reach
    to matter counts as 0, as with rapidfuzz's `score_cutoff` (applied here: passing it costs
    more than it saves).
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
        for norm, norm_kinds in zip(norms, cluster.kinds, strict=True):
            score = _similarity(query, norm)
            if kinds and norm_kinds:
                score += KIND_AGREES if kinds & norm_kinds else -KIND_DIFFERS
                score = 100.0 if score > 100.0 else score
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
    for norm, norm_kinds in zip(cluster.norms, cluster.kinds, strict=True):
        bar = needed
        if kinds and norm_kinds:
            bar -= KIND_AGREES if kinds & norm_kinds else -KIND_DIFFERS
        if bar <= 0.0 or (bar <= 100.0 and _similarity(query, norm, score_cutoff=bar)):
            return True
    return False


def cluster_findings(entries: list[Entry], seat_count: int) -> list[Cluster]:
    """Sweep sorted entries in line order, joining each to the best reachable cluster or starting a new one.

    `active` holds the clusters still within reach (end line ≥ start − 1) that still lack
    a seat, newest last. The candidates for a finding are the `MAX_CANDIDATES` nearest
    clusters lacking its seat among the `4 * MAX_CANDIDATES` newest active ones, each with
    its bonus: 15 for a strong line match (the ranges overlap by at least half of their
    union) plus 5 per degree of category kinship. Even a lone candidate in the finding's
    category with a strong line match is joined only when the meaning agrees.
    """
    normalized = normalize_messages(map(_MESSAGE, entries))
    kinds_of: dict[str, int] = {}
    seat_bits = {seat: 1 << index for index, seat in enumerate(dict.fromkeys(map(_SEAT, entries)))}
    clusters: list[Cluster] = []
    active: list[Cluster] = []
    current_start = 0
    window = 4 * MAX_CANDIDATES
    for entry in entries:
        start, end, seat, message, _, category, _, _ = entry
        seat_bit = seat_bits[seat]
        chosen: Cluster | None = None
        ranked: list[tuple[float, Cluster]] = []
        if active:
            if start != current_start:
                current_start = start
                reach = start - 1
                active = [cluster for cluster in active if cluster.end >= reach]
            bonuses = _BONUS[category]
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
        norm = normalized[message]
        kinds = kinds_of.get(norm)
        if kinds is None:
            kinds = kinds_of[norm] = problem_kinds(norm)
        if len(ranked) == 1:
            lone = ranked[0][1]
            chosen = lone if _agrees(lone, norm, kinds, _NEEDED[ranked[0][0]]) else None
        elif ranked:
            chosen = _best_cluster(ranked, norm, kinds)
        if chosen is None:
            chosen = Cluster(entry, seat_bit, norm, kinds)
            clusters.append(chosen)
            active.append(chosen)
            if len(active) > 2 * window:  # Dense input: clusters beyond the window are never examined.
                del active[:-window]
        else:
            chosen.members.append(entry)
            chosen.seats |= seat_bit
            if end > chosen.end:
                chosen.end = end
            if norm not in chosen.norms:
                chosen.norms.append(norm)
                chosen.kinds.append(kinds)
            if len(chosen.members) >= seat_count:  # Each member is from another seat.
                active.remove(chosen)
    return clusters
