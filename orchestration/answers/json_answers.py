"""Finding the JSON value in a model's answer, whatever wraps it, without ever crashing.

Models wrap JSON in prose or Markdown fences, cut it off mid-string, or send hostile text (deep
nesting, brackets that never close, megabytes of noise). `extract_json` tries the cheap readings
first (the whole text, fenced blocks, balanced values in prose), then json_repair, and bounds
every step (`MAX_JSON_DEPTH`, `MAX_ANSWER_CHARS`, `MAX_UNCLOSED_OPENERS`); `never_crashes` is the
last line of defence that turns anything unexpected into `UnusableAnswer`. Imports only
`orchestration.types.errors`.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import json_repair

from orchestration.types.errors import UnusableAnswer

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")

FENCE = re.compile(  # A Markdown code block; one cut off by the end of the text counts too.
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+#.-]*)[^\n]*\n(?P<body>.*?)"
    r"(?:^[ \t]*(?P=fence)[ \t]*$|\Z)",
    re.DOTALL | re.MULTILINE,
)
_OPENER = re.compile(r"[{\[]")
_JSON_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|[{}\[\]]')
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

MAX_JSON_DEPTH = 64
"""Deepest bracket nesting a JSON value in an answer may have; deeper ones are not parsed at all.

Findings need four levels; a deeper value is hostile or broken, and parsing it (json's C decoder,
json_repair's recursion, the walk over the result) could exhaust the stack."""
MAX_ANSWER_CHARS = 2_000_000
"""Longest answer read; a longer one (no model writes that much) is unusable."""
MAX_UNCLOSED_OPENERS = 16
"""Brackets that never close tried per answer before the rest counts as inside the first (bounds work)."""

_log = logging.getLogger(__name__)


def never_crashes(parse: Callable[_Params, _Result]) -> Callable[_Params, _Result]:
    """`parse`, raising only `UnusableAnswer` on any text: the last line of defence against hostile answers.

    The parsers bound what they read (`MAX_JSON_DEPTH`, `MAX_ANSWER_CHARS`, 9-digit line numbers),
    so this should never fire; when an unexpected error does escape, it is logged with its traceback
    (to find and fix) and the answer counts as unusable ("unreadable answer (ErrorType)"). Only
    `Exception`s are caught: cancellation and KeyboardInterrupt pass through.
    """

    @functools.wraps(parse)
    def guarded(*args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        try:
            return parse(*args, **kwargs)
        except UnusableAnswer:
            raise
        except Exception as error:
            _log.warning("%s failed on a model answer", parse.__name__, exc_info=True)
            raise UnusableAnswer(f"unreadable answer ({type(error).__name__})") from error

    return guarded


def clean_text(text: str) -> str:
    """`text` with lone surrogates (JSON escapes like `\\ud800`, not encodable) replaced by U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text) if _LONE_SURROGATE.search(text) else text


def _too_deep(source: str) -> bool:
    """Whether brackets in `source` (outside JSON strings) nest deeper than `MAX_JSON_DEPTH`."""
    depth = 0
    for token in _JSON_TOKEN.finditer(source):
        if token[0] in "{[":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif token[0] in "}]":
            depth = max(depth - 1, 0)
    return False


def _loads(source: str) -> Any:
    """`json.loads(source)`; raises ValueError for invalid or too deeply nested JSON."""
    if _too_deep(source):
        raise ValueError("JSON nested too deeply")
    return json.loads(source, strict=False)


def _matching_close(text: str, start: int) -> int | None:
    """The index just past the bracket closing the one at `start` (strings respected), or None.

    None too when the brackets nest deeper than `MAX_JSON_DEPTH` (such a value is never parsed).
    """
    depth = 0
    for token in _JSON_TOKEN.finditer(text, start):
        if token[0] in "{[":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return None
        elif token[0] in "}]":
            depth -= 1
            if depth == 0:
                return token.end()
    return None


def _closed_values(text: str, position: int) -> Iterator[tuple[int, Any]]:
    """(length, value) of each outermost bracketed JSON value closed after `position`, in one pass."""
    openers: list[int] = []
    spans: list[tuple[int, int]] = []
    for token in _JSON_TOKEN.finditer(text, position):
        if token[0] in "{[":
            openers.append(token.start())
        elif token[0] in "}]" and openers:
            start = openers.pop()
            while spans and spans[-1][0] > start:  # Values inside this one are not outermost.
                spans.pop()
            spans.append((start, token.end()))
    for start, end in spans:
        try:
            yield end - start, _loads(text[start:end])
        except ValueError:
            continue


def _embedded_candidates(text: str) -> Iterator[Any]:
    """JSON values embedded in prose: complete ones (longest first), then sloppy or truncated ones.

    Once a bracket never closes (a truncated answer), everything after it lies inside it: complete
    values found there are fragments of the truncated whole and come after its repair.
    """
    complete: list[tuple[int, Any]] = []
    sloppy: list[str] = []
    truncated_from: int | None = None
    inner: list[tuple[int, Any]] = []
    position = 0
    unclosed = 0
    while (match := _OPENER.search(text, position)) is not None:
        start = match.start()
        end = _matching_close(text, start)
        if end is None:
            truncated_from = start if truncated_from is None else truncated_from
            position = start + 1
            unclosed += 1
            if unclosed >= MAX_UNCLOSED_OPENERS:  # Each try scans to the end: finish in one linear pass.
                inner.extend(_closed_values(text, position))
                break
            continue
        try:
            value = _loads(text[start:end])
        except ValueError:
            if truncated_from is None:
                sloppy.append(text[start:end])
        else:
            (complete if truncated_from is None else inner).append((end - start, value))
        position = end
    yield from (value for _, value in sorted(complete, key=lambda item: -item[0]))
    for source in sloppy:
        yield from _repaired(source)
    if truncated_from is not None:
        yield from _repaired(text[truncated_from:])
        yield from (value for _, value in sorted(inner, key=lambda item: -item[0]))


def _repaired(source: str) -> Iterator[Any]:
    """json_repair's reading of `source`, only when it is a non-empty object or array (and not too deep)."""
    if _too_deep(source):
        return
    repaired = json_repair.loads(source)
    if isinstance(repaired, dict | list) and repaired:
        yield repaired


def json_candidates(text: str) -> Iterator[Any]:
    """Every JSON value that `text` might be carrying, most trustworthy first.

    Strict parses come first (the whole text, then complete values inside prose or fences, longest
    first); repaired parses (sloppy or truncated JSON) later, and only when non-empty. Values nested
    deeper than `MAX_JSON_DEPTH` are skipped; an answer longer than `MAX_ANSWER_CHARS` is unusable.
    """
    if len(text) > MAX_ANSWER_CHARS:
        raise UnusableAnswer(f"answer too long ({len(text):,} characters)")
    try:
        yield _loads(text.strip())
    except ValueError:
        pass
    yield from _embedded_candidates(text)


@never_crashes
def extract_json(text: str) -> Any:
    """The JSON value carried by a model's answer (fenced, in prose, truncated, or bare)."""
    for value in json_candidates(text):
        if isinstance(value, dict | list):
            return value
    raise UnusableAnswer("no JSON in answer" if text.strip() else "empty answer")
