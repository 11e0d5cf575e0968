"""Wording for the merge: messages normalized for comparison, and the problem kinds they name.

Two seats rarely describe one problem in the same words. `normalize_message` reduces a message to
its lower-case content words (no ASCII punctuation, no stopwords) for rapidfuzz;
`normalize_messages` does that for many messages in one pass. The *problem kinds*
(`PROBLEM_KINDS`: bounds, division by zero, None, injection, xss, secrets, cryptography, logging,
timezone, precision, mutable default, shadowing, resources, ...: 47 of them) are looked up by
keyword: "Off-by-one: range(len(x)+1)" and "IndexError when i == len(items)" share little
wording but both name a bounds problem.

Each kind has *problem words*, which name the defect ("leak", "md5", "shadows", "off by one"),
and *cue words*, which name what it is about ("handle", "password", "query", "cache"). A message's
kinds are those its problem words name, or, when it has none, those its cue words name: "Passwords
are hashed with MD5" is a cryptography problem although it mentions passwords, while "Hard-coded
secret key" is a secrets problem; "cache={} default is shared across calls" has no problem word,
so its cues (mutable default, slowness) stand.

`message_similarity` combines wording (rapidfuzz `token_set_ratio` of the normalized messages,
0-100) with the kinds: messages naming a common kind gain `KIND_AGREES` (25); messages that both
name kinds, none in common, lose `KIND_DIFFERS` (40); when either names no kind the wording must
carry the decision alone, and its shortfall from 100 counts `NO_KIND_STRETCH` (4/3) times, so 55
scores 40 and 100 stays 100. That last rule exists because `token_set_ratio` of unrelated
messages is high: 25-48 with no word in common (character noise), up to 60 when they share an
identifier ("items", "percentage"). Measured on the held-out sets in `tests/test_merge.py` (40
unrelated groups, 35 paraphrase groups, each pair on one line in one category): unrelated pairs
never named a common kind; with different kinds they score 0-20, with no kind signal 11-37;
paraphrase pairs never named different kinds; sharing a kind they score 50-100, with no kind
signal 46-63. `orchestration.merge.clustering` decides with these which findings meet (40 is its
bar for one category on one line).
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
NO_KIND_STRETCH = 4.0 / 3.0
"""How much more the wording's shortfall from 100 counts when a message names no problem kind."""

_KIND_KEYWORDS = {  # "problem words | cue words"; "stem*" matches words starting so, "a_b" two in a row.
    "bounds": "off_one indexerror index_error indexoutofbounds out_range out_bounds outofrange past_end "
    "past_last beyond_end too_far one_too one_past fencepost overrun* adds_1 added_1 plus_one plus_1 "
    "1_added one_added extra_one one_extra | bound bounds boundary empty "
    "last_index last_element last_iteration",
    "zero division": "zerodivisionerror zerodivision division_zero divide_zero divides_zero dividing_zero "
    "divided_zero divisor_zero zero_divisor zero_denominator divide_0 division_0 divisor_0 | empty divide "
    "divides dividing division divisor denominator mean average",
    "none": "none null nil nonetype attributeerror nullpointer* nullable | optional undefined",
    "injection": "sql_injection sqli parameteriz* parameteris* prepared_statement prepared_statements "
    "bind_parameters placeholders | sql query queries cursor execute interpolat* concatenat* "
    "string_formatting formatted inject* unsanitized unsanitised unescaped untrusted escap*",
    "typing": "annotat* type_hint type_hints untyped return_type typing mypy | signature",
    "shadowing": "shadow* builtin builtins hides_built overrides_built masks_built | overrides hides masks",
    "naming": "snake snakecase camelcase camel_case naming pep8 pep_8 convention* | rename* name names",
    "resources": "leak leaks leaked leaking leakage close closes closed closing unclosed context_manager "
    "stays_open resource_leak file_descriptor | handle handles descriptor descriptors resource resources "
    "contextlib context connection open opening block",
    "slowness": "quadratic recomput* inefficien* slow slower slowly repeated* nested_loops o_n "
    "every_iteration each_iteration every_call each_call each_time | cache caches cached caching "
    "performance concatenat* linear_search membership",
    "exceptions": "except excepts unhandled bare_except broad_except exception_handling catch catches "
    "catching caught swallow* silenc* keyboardinterrupt systemexit baseexception | exception exceptions "
    "errors ignored hides",
    "mutable default": "mutable_default default_argument default_arg default_value default_values "
    "default_parameter | mutable default defaults shared_between shared_across evaluated_once",
    "unused": "unused never_used dead_code unreachable not_used nothing_uses never_read",
    "concurrency": "race thread* lock locks locking deadlock* concurren* atomic* synchroniz* unsynchroniz* "
    "mutex lost_update lost_updates | parallel shared_state",
    "secrets": "hardcoded hard_coded embedded secret_key private_key api_key | secret secrets committed "
    "credential credentials token tokens password passwords environment",
    "termination": "infinite never_terminates hangs hang base_case recursionerror | recursion recursive",
    "undefined name": "nameerror not_defined unbound* uninitialized uninitialised before_assignment",
    "type error": "typeerror wrong_type type_mismatch | incompatible",
    "documentation": "docstring docstrings documentation undocumented | comment comments",
    "magic number": "magic_number magic_numbers magic_value magic_constant | magic",
    "line length": "long_line line_length line_too line_exceeds | too_long characters",
    "overflow": "overflow*",
    "mutation": "modified_while modifies_while modifying_while mutated_while mutates_while changed_while "
    "while_iterating during_iteration | mutat* in_place",
    "precision": "precision rounding float_comparison float_equality floating_point isclose "
    "exact_equality | float floats floating decimal",
    "command injection": "command_injection shell_injection shell_true os_system shell | subprocess popen "
    "inject* untrusted",
    "xss": "xss cross_site scripting markupsafe autoescape innerhtml | html template rendered escap* "
    "unescaped inject* untrusted",
    "path traversal": "path_traversal directory_traversal traversal | untrusted",
    "deserialization": "pickle unpickl* deserializ* deserialis* marshal yaml_load safe_load safeloader | "
    "untrusted",
    "cryptography": "md5 sha1 weak_hash weak_hashing weak_cipher weak_crypto weak_encryption bcrypt argon2 "
    "pbkdf2 scrypt kdf plaintext plain_text cleartext unhashed unsalted ecb | hash hashed hashes hashing "
    "crypto* encrypt* cipher password passwords",
    "authentication": "auth authenticat* authoriz* unauthenticated unauthorized csrf jwt bypass* "
    "not_verified unverified access_control privilege* permission permissions | login session "
    "signature verif*",
    "tls": "verify_false tls ssl certificate certificates plain_http | https",
    "value error": "valueerror non_numeric invalid_literal",
    "key error": "keyerror missing_key key_missing",
    "memory": "memory_leak unbounded grows_without without_bound out_memory memoryerror | memory grows",
    "complexity": "complexity cyclomatic too_complex does_too too_many too_much god_class | complex refactor",
    "async": "await awaited never_awaited coroutine* asyncio event_loop | async blocking",
    "truncation": "truncat* integer_division floor_division",
    "timezone": "timezone* naive tzinfo tz aware offset_naive offset_aware utc utcnow | datetime",
    "encoding": "encoding encodings unicodedecodeerror unicodeencodeerror unicodeerror utf_8 utf8 | "
    "unicode decode encode charset",
    "logging": "log logs logged logger loggers logging",
    "timeout": "timeout timeouts timed_out",
    "deprecation": "deprecat*",
    "global state": "global globals nonlocal",
    "assertion": "assert asserts assertion assertions",
    "identity comparison": "identity string_literal is_literal",
    "randomness": "predictable cryptographically insecure_random prng csprng | random",
    "duplication": "duplicat* copy_paste copy_pasted | repeat repeats same_block",
    "exhaustion": "exhaust* consumed | generator generators iterator iterators",
}
PROBLEM_KINDS = tuple(_KIND_KEYWORDS)
"""The problem kinds the keyword signal knows; a message may name several or none."""


_CUE_SHIFT = len(_KIND_KEYWORDS)
"""Cue words set the kind bits shifted this far left, above the bits problem words set."""
_PROBLEM_WORD_BITS = (1 << _CUE_SHIFT) - 1


def _keyword_tables() -> tuple[dict[str, int], dict[str, int], dict[str, dict[str, int]]]:
    """(whole word → kind bits, stem → kind bits, first word → second word → kind bits)."""
    words: dict[str, int] = {}
    stems: dict[str, int] = {}
    pairs: dict[str, dict[str, int]] = {}
    for kind_index, keywords in enumerate(_KIND_KEYWORDS.values()):
        problem_words, _, cue_words = keywords.partition("|")
        tagged = [(word, kind_index) for word in problem_words.split()]
        tagged += [(word, kind_index + _CUE_SHIFT) for word in cue_words.split()]
        for keyword, index in tagged:
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
    """The problem kinds a normalized message names, as bits (bit i = `PROBLEM_KINDS[i]`).

    Those its problem words name, or, when it has none, those its cue words name.
    """
    words = norm.split()
    kinds = reduce(or_, map(_word_kinds, words), 0)
    for index, word in enumerate(words[:-1]):
        if (seconds := _KIND_OF_PAIR.get(word)) is not None:
            kinds |= seconds.get(words[index + 1], 0)
    return kinds & _PROBLEM_WORD_BITS or kinds >> _CUE_SHIFT


def message_similarity(first: str, second: str, first_kinds: int, second_kinds: int) -> float:
    """How alike two normalized messages are in meaning (0-100): wording plus the problem-kind signal."""
    similarity = fuzz.token_set_ratio(first, second)
    if first_kinds and second_kinds:
        similarity += KIND_AGREES if first_kinds & second_kinds else -KIND_DIFFERS
    else:
        similarity = 100.0 - (100.0 - similarity) * NO_KIND_STRETCH
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
