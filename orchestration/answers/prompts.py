"""Prompts for the panel: short, concrete chat messages and the JSON schemas the answers follow.

Code is shown with 1-based line numbers (`  12 | code`) so that even a small local model can
point at the right lines. Surrounding lines are shown too, clearly marked as context only.
The schemas are exported as plain dicts, in the subset OpenAI's strict structured output accepts
(every property required, no additional properties, null via anyOf); providers that support
structured output receive them as `response_format`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from orchestration.types.findings import Category, Severity
from orchestration.types.requests import PLAIN_TEXT, ExplainRequest, ImplementRequest, Message, ReviewRequest
from orchestration.types.results import StubLocation

CONTEXT_LINES = 20
"""Lines of context shown before and after a reviewed or explained range."""

IMPLEMENT_HEAD_LINES = 30
"""Lines from the top of a big file (imports, constants) always shown to an implementer."""

IMPLEMENT_BEFORE_LINES = 100
IMPLEMENT_AFTER_LINES = 50
"""Lines shown before and after a stub when the file is too big to show whole."""

IMPLEMENT_WHOLE_FILE_LINES = 200
"""Files up to this many lines are shown whole to an implementer."""

FIX_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Replace whole lines start_line..end_line with replacement (original indentation kept).",
    "properties": {
        "start_line": {"type": "integer"},
        "end_line": {"type": "integer"},
        "replacement": {"type": "string", "description": "The complete new text of those lines."},
    },
    "required": ["start_line", "end_line", "replacement"],
    "additionalProperties": False,
}

_NULLABLE_FIX: dict[str, Any] = {"anyOf": [FIX_SCHEMA, {"type": "null"}]}

REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "start_line": {"type": "integer"},
                    "end_line": {"type": "integer"},
                    "severity": {"type": "string", "enum": [severity.value for severity in Severity]},
                    "category": {"type": "string", "enum": [category.value for category in Category]},
                    "message": {"type": "string"},
                    "fix": _NULLABLE_FIX,
                },
                "required": ["start_line", "end_line", "severity", "category", "message", "fix"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["findings"],
    "additionalProperties": False,
}

IMPLEMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"code": {"type": "string", "description": "The whole function, signature included."}},
    "required": ["code"],
    "additionalProperties": False,
}

EXPLAIN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"explanation": {"type": "string", "description": "Markdown."}, "fix": _NULLABLE_FIX},
    "required": ["explanation", "fix"],
    "additionalProperties": False,
}

_FIX_RULES = (
    "A fix replaces whole lines start_line..end_line: `replacement` is the complete new text of those "
    "lines, with their original indentation and without the line numbers."
)

_REVIEW_SYSTEM = (
    "You review code and report concrete problems: bugs (wrong results, crashes, off-by-one, wrong "
    "conditions, unhandled None/null), security holes, performance traps, and confusing code.\n"
    "Answer with JSON only, no prose:\n"
    '{"findings": [{"start_line": N, "end_line": N, "severity": "error|warning|info|hint", '
    '"category": "bug|security|performance|style|maintainability", "message": "what is wrong and why", '
    '"fix": {"start_line": N, "end_line": N, "replacement": "..."} or null}]}\n'
    "Line numbers are the numbers shown left of the `|`. severity: error = wrong or crashing code, "
    "warning = likely problem, info/hint = minor. " + _FIX_RULES
)

_IMPLEMENT_SYSTEM = (
    "You implement unfinished functions. Write a complete, working body: no placeholders, no TODOs. "
    "Keep the name and signature unchanged; use only the standard library and what the file already "
    "imports or defines.\n"
    'Answer with JSON only, no prose: {"code": "<the whole function, signature included>"}'
)

_EXPLAIN_SYSTEM = (
    "You explain diagnostics (compiler, linter or type-checker messages) to a developer: what the "
    "message means in this code, why it happens, and how to fix it. Be brief and concrete.\n"
    "Answer with JSON only, no prose:\n"
    '{"explanation": "<markdown>", "fix": {"start_line": N, "end_line": N, "replacement": "..."} or null}\n'
    "Line numbers are the numbers shown left of the `|`. " + _FIX_RULES
)


def number_lines(lines: Sequence[str], first: int, last: int) -> str:
    """Lines `first..last` (1-based, inclusive, clamped to `lines`) as `  12 | code`, one per line."""
    first = max(first, 1)
    last = min(last, len(lines))
    width = max(4, len(str(last)))
    return "\n".join(f"{number:>{width}} | {lines[number - 1]}" for number in range(first, last + 1))


def _fenced(body: str, language: str = "") -> str:
    """`body` in a Markdown code fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{body}\n{fence}"


def _span(first: int, last: int) -> str:
    """'line 7' or 'lines 7–9'."""
    return f"line {first}" if first == last else f"lines {first}–{last}"


def _numbered_with_context(lines: Sequence[str], first: int, last: int, heading: str) -> str:
    """The numbered range under `heading`, framed by context blocks marked as context only."""
    parts: list[str] = []
    before_first = max(1, first - CONTEXT_LINES)
    if before_first < first:
        parts.append(f"Context before ({_span(before_first, first - 1)}; context only, do not review):")
        parts.append(_fenced(number_lines(lines, before_first, first - 1)))
    parts.append(f"{heading} ({_span(first, last)}):")
    parts.append(_fenced(number_lines(lines, first, last)))
    after_last = min(len(lines), last + CONTEXT_LINES)
    if after_last > last:
        parts.append(f"Context after ({_span(last + 1, after_last)}; context only, do not review):")
        parts.append(_fenced(number_lines(lines, last + 1, after_last)))
    return "\n".join(parts)


def _file_header(path: str, language: str) -> str:
    return f"File: {path} ({language})"


def review_messages(request: ReviewRequest, instructions: str | None = None) -> list[Message]:
    """System and user messages asking for the findings in the request's lines."""
    lines = request.document.lines or [""]
    first = min(request.start_line, len(lines))
    last = max(first, request.last_line)
    user = "\n".join(
        [
            _file_header(request.document.path, request.document.language),
            _numbered_with_context(lines, first, last, "Review these lines"),
            f"Report only real problems in {_span(first, last)}, most serious first; an empty list is fine.",
        ]
    )
    if instructions and instructions.strip():
        user += f"\nExtra instructions: {instructions.strip()}"
    return [{"role": "system", "content": _REVIEW_SYSTEM}, {"role": "user", "content": user}]


def _excerpt_around(lines: Sequence[str], first: int, last: int) -> str:
    """The file unnumbered; a big file is cut to its head plus a window around lines first..last."""
    if len(lines) <= IMPLEMENT_WHOLE_FILE_LINES:
        return "\n".join(lines)
    window_start = max(1, first - IMPLEMENT_BEFORE_LINES)
    window_end = min(len(lines), last + IMPLEMENT_AFTER_LINES)
    head_end = min(IMPLEMENT_HEAD_LINES, window_start - 1)
    parts: list[str] = list(lines[:head_end])
    if window_start > head_end + 1:
        parts.append(f"... ({_span(head_end + 1, window_start - 1)} omitted) ...")
    parts.extend(lines[window_start - 1 : window_end])
    if window_end < len(lines):
        parts.append(f"... ({_span(window_end + 1, len(lines))} omitted) ...")
    return "\n".join(parts)


def _describe_indentation(line: str) -> str:
    """'not indented', 'indented by 4 spaces' or 'indented by 1 tab'."""
    indentation = line[: len(line) - len(line.lstrip())]
    if not indentation:
        return "not indented"
    unit = "tab" if "\t" in indentation else "space"
    return f"indented by {len(indentation)} {unit}{'' if len(indentation) == 1 else 's'}"


def implement_messages(request: ImplementRequest, stub: StubLocation | None) -> list[Message]:
    """System and user messages asking for the whole implemented function."""
    document = request.document
    lines = document.lines or [""]
    language = stub.language if stub else document.language
    fence_language = "" if language == PLAIN_TEXT else language
    if stub is not None:
        first = min(stub.start_line, len(lines))
        last = min(max(first, stub.end_line), len(lines))
        target = f"Implement the function `{stub.name}({', '.join(stub.params)})` ({_span(first, last)}):"
    else:
        first = last = min(request.line, len(lines))
        target = f"Implement the unfinished function at line {first}:"
    parts = [_file_header(document.path, language), target]
    if stub is not None:
        parts.append(_fenced("\n".join(lines[first - 1 : last]), fence_language))
    parts.append("The file, for context:")
    parts.append(_fenced(_excerpt_around(lines, first, last), fence_language))
    parts.append(
        f"Return the whole function in {language}, starting at its signature line "
        f"(without decorators above it), {_describe_indentation(lines[first - 1])} as in the file."
    )
    return [{"role": "system", "content": _IMPLEMENT_SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def _describe_diagnostic(start_line: int, end_line: int, message: str, origin: str, severity: str) -> str:
    severity_part = f"[{severity}] " if severity else ""
    origin_part = f"{origin}: " if origin else ""
    return f"- {_span(start_line, end_line)}: {severity_part}{origin_part}{message}"


def explain_messages(request: ExplainRequest) -> list[Message]:
    """System and user messages asking for an explanation of the diagnostics, and a fix."""
    document = request.document
    lines = document.lines or [""]
    first = min(request.start_line, len(lines))
    last = min(max(first, request.end_line), len(lines))
    described = []
    for diagnostic in request.diagnostics:
        origin = diagnostic.source or ""
        if diagnostic.code:
            origin = f"{origin}({diagnostic.code})" if origin else diagnostic.code
        described.append(
            _describe_diagnostic(
                diagnostic.start_line,
                diagnostic.end_line,
                diagnostic.message,
                origin,
                diagnostic.severity or "",
            )
        )
    diagnostics_text = "\n".join(described) if described else "- (none given; explain what is wrong here)"
    user = "\n".join(
        [
            _file_header(document.path, document.language),
            "Diagnostics:",
            diagnostics_text,
            _numbered_with_context(lines, first, last, "The diagnosed code"),
            f"Explain the diagnostics; a fix may change only {_span(first, last)}.",
        ]
    )
    return [{"role": "system", "content": _EXPLAIN_SYSTEM}, {"role": "user", "content": user}]
