"""Tolerant parsing of model answers into findings, code and explanations.

Real models deviate from the requested JSON: they wrap it in prose or Markdown fences, rename
keys, invent severities, cut the answer off mid-string, or give a bare list. Every parser here
accepts those deviations, but only accepts a parsed value when it has the expected structure
(json_repair will happily turn prose into *something*); otherwise it raises `UnusableAnswer`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from orchestration.answers.json_answers import FENCE, clean_text, json_candidates, never_crashes
from orchestration.types.errors import UnusableAnswer
from orchestration.types.findings import Category, Finding, Fix, Severity

_NUMBERED_LINE = re.compile(r"^\s*\d+\s*\| ?")
_LINE_SPAN = re.compile(  # At most 9 digits: a longer number is no line (and int() would refuse 4300+).
    r"^\D*?(\d{1,9})(?!\d)(?:\s*(?:-|–|—|\.\.\.?|to)\s*[Ll]?(\d{1,9})(?!\d))?"
)
_STRING_FINDING = re.compile(
    r"^\s*lines?\s*(\d{1,9})(?:\s*[-–]\s*(\d{1,9}))?\s*[:.)\-–]\s*(?P<message>.+)", re.I | re.S
)
_LOOKS_LIKE_CODE = re.compile(
    r"^\s*(?:@\w|(?:async\s+)?def\s|class\s|function\b|fn\s|func\s|pub\s|public\s|private\s|protected\s"
    r"|static\s|export\s|const\s|let\s|var\s)"
)

_FINDINGS_KEYS = tuple("findings issues problems bugs comments results review".split())
_MESSAGE_KEYS = tuple("message description issue text msg problem detail comment explanation title".split())
_START_KEYS = tuple("startline linestart start line lineno linenumber lines location range".split())
_SEVERITY_KEYS = ("severity", "level", "priority")
_CATEGORY_KEYS = ("category", "type", "kind")
_END_KEYS = tuple("endline lineend end toline".split())
_FIX_KEYS = tuple("fix suggestedfix fixedcode correctedcode replacement".split())
_REPLACEMENT_KEYS = tuple("replacement code newcode replacementcode fixedcode newtext text".split())
_CODE_KEYS = tuple("code implementation function source solution".split())
_EXPLANATION_KEYS = tuple("explanation explain analysis answer description summary".split())
_NO_FIX_WORDS = {"", "null", "none", "n/a", "na", "no fix", "-"}

_Word = TypeVar("_Word", Severity, Category)
_Loose = TypeVar("_Loose", bound=BaseModel)


def _by_word(table: Mapping[_Word, str]) -> dict[str, _Word]:
    """{'critical': ERROR, ...} from {ERROR: 'error critical ...'}."""
    return {word: value for value, words in table.items() for word in words.split()}


_SEVERITY_WORDS = _by_word(
    {
        Severity.ERROR: "error critical blocker high fatal severe",
        Severity.WARNING: "warning warn medium major moderate",
        Severity.INFO: "info information informational low minor",
        Severity.HINT: "hint trivial nit nitpick note suggestion optional",
    }
)
_CATEGORY_WORDS = _by_word(
    {
        Category.BUG: "bug bugs correctness correct logic logical error crash exception runtime",
        Category.SECURITY: "security vuln vulnerability injection xss secret secrets auth unsafe",
        Category.PERFORMANCE: "performance perf efficiency speed slow memory",
        Category.STYLE: "style readability naming formatting format convention documentation typo",
        Category.MAINTAINABILITY: "maintainability maintenance design refactor duplication complexity",
    }
)


def _normalized(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    """Keys lower-cased with everything but letters removed: 'Start_Line' → 'startline'."""
    return {re.sub(r"[^a-z]", "", str(key).lower()): value for key, value in mapping.items()}


def _first_text(keys: Mapping[str, Any], names: tuple[str, ...], joiner: str = "\n") -> str | None:
    """The first non-blank text under one of `names`; a list of strings is joined."""
    for name in names:
        value = keys.get(name)
        if isinstance(value, list) and value and all(isinstance(part, str) for part in value):
            value = joiner.join(value)
        if isinstance(value, str) and value.strip():
            return clean_text(value)
    return None


def _first_fix(keys: Mapping[str, Any]) -> Any:
    """Whatever the model put under a fix-like key (object, text or list of lines)."""
    return next((keys[name] for name in _FIX_KEYS if keys.get(name) not in (None, "")), None)


def _validated(model: type[_Loose], value: Any) -> _Loose | None:
    """`value` validated as `model`, or None when it cannot be."""
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _line_span(value: Any) -> tuple[int, int] | None:
    """(first, last) from 5, 5.0, "5", "L5", "5-7", "lines 5 to 7", [5, 7] or {"start": 5, "end": 7}."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value, value
    if isinstance(value, float) and value.is_integer():  # Not NaN or infinite.
        return int(value), int(value)
    if isinstance(value, str) and (match := _LINE_SPAN.match(value.strip())):
        first = int(match.group(1))
        return first, int(match.group(2) or first)
    if isinstance(value, list):
        spans = [span for item in value if (span := _line_span(item)) is not None]
        return (spans[0][0], spans[-1][1]) if spans else None
    if isinstance(value, Mapping):
        return _span_from_mapping(_normalized(value))
    return None


def _span_from_mapping(keys: Mapping[str, Any]) -> tuple[int, int] | None:
    """The line span named by a finding's or fix's keys; an end before the start is swapped."""
    start = next((span for key in _START_KEYS if key in keys and (span := _line_span(keys[key]))), None)
    end = next((span[0] for key in _END_KEYS if key in keys and (span := _line_span(keys[key]))), None)
    if start is None:
        return None if end is None else (end, end)
    first, last = start[0], end if end is not None else start[1]
    return (first, last) if first <= last else (last, first)


def _clean_code(code: str) -> str:
    """Strip a surrounding Markdown fence and copied `  12 | ` line-number prefixes."""
    if (block := FENCE.match(code.strip())) is not None:
        code = block["body"].rstrip("\n")
    lines = code.split("\n")
    filled = [line for line in lines if line.strip()]
    if filled and all(_NUMBERED_LINE.match(line) for line in filled):
        code = "\n".join(_NUMBERED_LINE.sub("", line, count=1) for line in lines)
    return clean_text(code)


class _LooseFix(BaseModel):
    """A fix as a model wrote it: lines may be missing (then they are the finding's own)."""

    start_line: int | None = None
    end_line: int | None = None
    replacement: str

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        if isinstance(data, list | str):
            data = {"replacement": data}
        if not isinstance(data, Mapping):
            return data
        keys = _normalized(data)
        span = _span_from_mapping(keys) or (None, None)
        replacement = next((keys[key] for key in _REPLACEMENT_KEYS if isinstance(keys.get(key), str)), None)
        replacement = _first_text(keys, _REPLACEMENT_KEYS) if replacement is None else replacement
        code = _clean_code(replacement) if replacement is not None else None
        return {"start_line": span[0], "end_line": span[1], "replacement": code}

    @model_validator(mode="after")
    def _ordered(self) -> _LooseFix:
        if self.start_line is not None and self.end_line is not None and self.start_line > self.end_line:
            self.start_line, self.end_line = self.end_line, self.start_line
        return self

    def placed(self, default_first: int, default_last: int, first: int, last: int) -> Fix | None:
        """The fix on its lines (the defaults when it named none), or None outside `first..last`."""
        start = self.start_line if self.start_line is not None else default_first
        end = self.end_line if self.end_line is not None else default_last
        if start < first or end > last:
            return None
        return Fix(start_line=start, end_line=end, replacement=self.replacement)


def _loose_fix(value: Any) -> _LooseFix | None:
    """A fix from whatever the model put under `fix`, or None for null/"none"/unparseable values."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _NO_FIX_WORDS):
        return None
    return _validated(_LooseFix, value)


def _word_lookup(value: Any, words: Mapping[str, _Word], default: _Word) -> _Word:
    """The first word of `value` (e.g. 'High severity') found in `words`, else `default`."""
    found = (words[word] for word in re.findall(r"[a-z]+", str(value).lower()) if word in words)
    return next(found, default)


class _LooseFinding(BaseModel):
    """A finding as a model wrote it, with keys and values normalized but lines not yet checked."""

    start_line: int
    end_line: int
    severity: Severity = Severity.WARNING
    category: Category = Category.BUG
    message: str = Field(min_length=1)
    fix: _LooseFix | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        if isinstance(data, str) and (match := _STRING_FINDING.match(data)):
            message = clean_text(match["message"])
            return {"start_line": match[1], "end_line": match[2] or match[1], "message": message}
        if not isinstance(data, Mapping):
            return data
        keys = _normalized(data)
        span = _span_from_mapping(keys) or (None, None)
        return {
            "start_line": span[0],
            "end_line": span[1],
            "severity": _word_lookup(_first_text(keys, _SEVERITY_KEYS), _SEVERITY_WORDS, Severity.WARNING),
            "category": _word_lookup(_first_text(keys, _CATEGORY_KEYS), _CATEGORY_WORDS, Category.BUG),
            "message": (_first_text(keys, _MESSAGE_KEYS) or "").strip(),
            "fix": _loose_fix(_first_fix(keys)),
        }

    @model_validator(mode="after")
    def _ordered(self) -> _LooseFinding:
        """ "lines 9-3" means lines 3 to 9: a span whose ends come swapped is put in order."""
        if self.start_line > self.end_line:
            self.start_line, self.end_line = self.end_line, self.start_line
        return self

    def placed(self, first: int, last: int, seat: str) -> Finding | None:
        """The finding clipped to lines `first..last`; None when it lies wholly outside them."""
        if self.end_line < first or self.start_line > last:
            return None
        fix = self.fix.placed(self.start_line, self.end_line, first, last) if self.fix else None
        return Finding(
            start_line=max(self.start_line, first),
            end_line=min(self.end_line, last),
            severity=self.severity,
            category=self.category,
            message=self.message,
            fix=fix,
            model=seat,
        )


def _looks_like_finding(keys: Mapping[str, Any]) -> bool:
    """Whether normalized keys carry both line numbers and a message."""
    return _span_from_mapping(keys) is not None and _first_text(keys, _MESSAGE_KEYS) is not None


def _findings_items(value: Any) -> list[Any] | None:
    """The list of raw findings inside a JSON value, or None when it has no findings structure."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and not _looks_like_finding(_normalized(item)):
                if (nested := _findings_items(item)) is not None:
                    return nested
        items = [item for item in value if isinstance(item, dict) or _STRING_FINDING.match(str(item))]
        return items if items or not value else None
    if not isinstance(value, dict):
        return None
    keys = _normalized(value)
    if _looks_like_finding(keys):
        return [value]
    for key in _FINDINGS_KEYS:
        if key in keys:
            if keys[key] is None:
                return []
            if (nested := _findings_items(keys[key])) is not None:
                return nested
    return None


@never_crashes
def parse_review(text: str, *, start_line: int, end_line: int, seat: str) -> list[Finding]:
    """Findings in lines `start_line..end_line` from a review answer, attributed to `seat`.

    Findings outside the range are dropped, overlapping ones clipped; a fix reaching outside the
    range is dropped (the finding kept). Raises `UnusableAnswer` when no findings structure is found
    or when every reported finding lacked a message or line numbers.
    """
    reason = "no JSON in answer" if text.strip() else "empty answer"
    for value in json_candidates(text):
        items = _findings_items(value)
        if items is None:
            if isinstance(value, dict) and reason == "no JSON in answer":
                reason = "JSON without findings"
            continue
        loose = [finding for item in items if (finding := _validated(_LooseFinding, item)) is not None]
        if items and not loose:
            reason = "no finding had both a message and line numbers"
            continue
        return [placed for each in loose if (placed := each.placed(start_line, end_line, seat)) is not None]
    raise UnusableAnswer(reason)


@never_crashes
def parse_implementation(text: str) -> str:
    """The implemented function's code from `{"code": ...}`, a fenced block, or bare code."""
    bodies = [block["body"] for block in FENCE.finditer(text) if block["lang"].lower() != "json"]
    code_bodies = [body for body in bodies if body.strip() and body.lstrip()[0] not in "{["]
    longest = max(code_bodies, key=len, default=None)
    if longest is not None and not text.lstrip().startswith(("{", "[")):
        return _clean_code(longest).strip("\n")
    for value in json_candidates(text):
        code = _first_text(_normalized(value), _CODE_KEYS) if isinstance(value, dict) else None
        if code is not None and (cleaned := _clean_code(code)).strip():
            return cleaned.strip("\n")
    if longest is not None:
        return _clean_code(longest).strip("\n")
    if not text.strip():
        raise UnusableAnswer("empty answer")
    if _LOOKS_LIKE_CODE.match(text):
        return _clean_code(text).strip("\n")
    raise UnusableAnswer("no code in answer")


@never_crashes
def parse_explanation(text: str, *, start_line: int, end_line: int) -> tuple[str, Fix | None]:
    """(markdown explanation, fix or None) from `{"explanation", "fix"}` JSON or plain prose.

    A fix without line numbers replaces the whole range; a fix outside the range is dropped.
    """
    for value in json_candidates(text):
        if not isinstance(value, dict):
            continue
        keys = _normalized(value)
        explanation = _first_text(keys, _EXPLANATION_KEYS, joiner="\n\n")
        if explanation is not None:
            loose = _loose_fix(_first_fix(keys))
            fix = loose.placed(start_line, end_line, start_line, end_line) if loose else None
            return explanation.strip(), fix
    prose = text.strip()
    if not prose:
        raise UnusableAnswer("empty answer")
    without_json_blocks = FENCE.sub(lambda match: "" if match["lang"].lower() == "json" else match[0], prose)
    if prose.startswith(("{", "[")) or not without_json_blocks.strip():
        raise UnusableAnswer("JSON without an explanation")
    return clean_text(prose), None
