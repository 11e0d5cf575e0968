"""Wording for the merge: messages normalized for comparison, and the problem kinds they name.

Two seats rarely describe one problem in the same words. `normalize_message` reduces a message to
its lower-case content words (no ASCII punctuation, no stopwords) for rapidfuzz;
`normalize_messages` does that for many messages in one pass. The *problem kinds*
(`PROBLEM_KINDS`: bounds, division by zero, None, injection, typing, shadowing, resources, ...)
are looked up by keyword: "Off-by-one: range(len(x)+1)" and "IndexError when i == len(items)"
share little wording but both name a bounds problem. `message_similarity` combines the two:
messages naming a common kind gain `KIND_AGREES`; messages that both name kinds, none in common,
lose `KIND_DIFFERS`. `orchestration.merge.clustering` decides with these which findings meet.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from functools import reduce
from itertools import filterfalse
from operator import or_

from rapidfuzz import fuzz

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
    similarity = fuzz.token_set_ratio(first, second)
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
