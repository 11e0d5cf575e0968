"""Apply, check, validate and rank the implementations the panel proposes for a stub.

A candidate is the whole function, signature included. It replaces the stub's lines
`start_line..end_line`; text on those lines before or after the function (the
indentation, a trailing `,` or `;`) and everything outside them stay byte-identical.
The candidate is re-indented to the stub's indentation, written with the file's line
breaks, and cleaned of what models commonly add: Markdown fences, a repeat of the
decorators that stay above the stub, or a missing `export` keyword is restored.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from rapidfuzz import fuzz
from tree_sitter import Node

from orchestration.code.stubs import FunctionSpan, functions_starting_in, parser_for, syntax_errors
from orchestration.code.validation import relative_document_path, run_validate_command
from orchestration.types.config import PolicyConfig
from orchestration.types.requests import SourceDocument
from orchestration.types.results import ImplementCandidate, StubLocation

SIMILAR_RATIO = 95.0
"""rapidfuzz ratio (0-100) from which two codes differing only in string literals count as one."""
STRING_NODES = frozenset({"string", "template_string", "concatenated_string"})
VALIDATIONS_AT_ONCE = 2


def _clean_code(code: str) -> list[str]:
    """The candidate's lines: `\\n` line breaks, no Markdown fence, no blank edges, dedented."""
    lines = code.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and lines[0].lstrip().startswith("```"):
        lines.pop(0)
        if "```" in (line.strip() for line in lines):
            lines = lines[: max(i for i, line in enumerate(lines) if line.strip() == "```")]
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.rstrip() for line in textwrap.dedent("\n".join(lines)).split("\n")] if lines else []


def _retab(line: str, indent: str) -> str:
    """Leading groups of four spaces become tabs when the file indents with tabs."""
    if "\t" not in indent:
        return line
    stripped = line.lstrip(" ")
    spaces = len(line) - len(stripped)
    return "\t" * (spaces // 4) + " " * (spaces % 4) + stripped


def _stub_span(document_text: str, stub: StubLocation) -> FunctionSpan | None:
    spans = functions_starting_in(document_text, stub.language, stub.start_line, stub.start_line)
    return next((span for span in spans if span.name == stub.name), spans[0] if spans else None)


def _shaped_lines(code: str, span: FunctionSpan | None) -> list[str]:
    """The cleaned lines, minus repeated decorators, with the stub's `export ...` head restored."""
    lines = _clean_code(code)
    if span is None:
        return lines
    kept_decorators = {decorator.strip() for decorator in span.decorators}
    while lines and lines[0].strip().startswith("@") and lines[0].strip() in kept_decorators:
        lines.pop(0)
    if lines and span.outer.type == "export_statement" and not lines[0].startswith("export"):
        exported = span.outer.child_by_field_name("declaration") or span.outer.child_by_field_name("value")
        if exported is not None and span.outer.text is not None:
            head = span.outer.text[: exported.start_byte - span.outer.start_byte].decode("utf-8")
            lines[0] = head + lines[0]
    return lines


def _line_offsets(source: bytes, first_line: int, last_line: int) -> tuple[int, int, int]:
    """Byte offsets: start of `first_line`, end of `last_line`'s content, end of its line break."""
    start = 0
    for _ in range(first_line - 1):
        start = source.find(b"\n", start) + 1 or len(source)
    end = start
    for _ in range(last_line - first_line):
        end = source.find(b"\n", end) + 1 or len(source)
    newline = source.find(b"\n", end)
    if newline < 0:
        return start, len(source), len(source)
    content_end = newline - 1 if newline > 0 and source[newline - 1 : newline] == b"\r" else newline
    return start, content_end, newline + 1


def prepare_candidate(document_text: str, stub: StubLocation, code: str) -> str:
    """The candidate as it will stand in the file: cleaned and indented like the stub (`\\n` breaks)."""
    lines = _shaped_lines(code, _stub_span(document_text, stub))
    start_line = next(iter(document_text.split("\n")[stub.start_line - 1 :]), "")
    indent = start_line[: len(start_line) - len(start_line.lstrip())]
    return "\n".join(indent + _retab(line, indent) if line else "" for line in lines)


def replacement_text(document_text: str, stub: StubLocation, code: str) -> str:
    """The text that replaces lines `start_line..end_line`, the last line's break included."""
    source = document_text.encode("utf-8")
    start, content_end, end = _line_offsets(source, stub.start_line, stub.end_line)
    span = _stub_span(document_text, stub)
    first_line = source[start:content_end].split(b"\n", 1)[0].decode("utf-8")
    indent = first_line[: len(first_line) - len(first_line.lstrip())]
    prefix, suffix = indent, ""
    if span is not None and span.outer.end_point.row + 1 == stub.end_line:
        prefix = source[start : span.outer.start_byte].decode("utf-8")
        suffix = source[span.outer.end_byte : content_end].decode("utf-8")
    lines = _shaped_lines(code, span)
    body = [lines[0] if lines else ""] + [indent + _retab(line, indent) if line else "" for line in lines[1:]]
    newline = "\r\n" if b"\r\n" in source else "\n"
    return prefix + newline.join(body) + suffix + source[content_end:end].decode("utf-8")


def apply_candidate(document_text: str, stub: StubLocation, code: str) -> str:
    """The whole file with the stub's lines replaced by the candidate."""
    source = document_text.encode("utf-8")
    start, _, end = _line_offsets(source, stub.start_line, stub.end_line)
    replacement = replacement_text(document_text, stub, code).encode("utf-8")
    return (source[:start] + replacement + source[end:]).decode("utf-8")


def check_candidate(code: str, stub: StubLocation, document_text: str) -> list[str]:
    """Problems with a candidate: syntax errors once applied, renamed, changed parameters, still a stub."""
    if not _clean_code(code):
        return ["empty candidate"]
    replacement = replacement_text(document_text, stub, code)
    new_text = apply_candidate(document_text, stub, code)
    last_line = stub.start_line + replacement.rstrip("\n").count("\n")
    errors = syntax_errors(new_text, stub.language)
    if syntax_errors(document_text, stub.language):
        errors = [(line, message) for line, message in errors if stub.start_line <= line <= last_line]
    problems = [message for _, message in errors]
    spans = functions_starting_in(new_text, stub.language, stub.start_line, last_line)
    if not spans:
        return [*problems, "not a whole function: the candidate must include the signature"]
    function = next((span for span in spans if span.name == stub.name), spans[0])
    if function.name != stub.name:
        problems.append(f"function renamed from '{stub.name}' to '{function.name}'")
    if list(function.params) != stub.params:
        problems.append(
            f"parameters changed from ({', '.join(stub.params)}) to ({', '.join(function.params)})"
        )
    if function.is_stub:
        problems.append("still a stub: the body is only a placeholder")
    return problems


@dataclass(slots=True)
class _Draft:
    """A group of equivalent codes on its way to becoming an `ImplementCandidate`."""

    key: str
    skeleton: str
    seats: list[str]
    codes: list[str]
    weights: list[float]
    problems: list[str] = field(default_factory=list)
    valid: bool = False
    tests_passed: bool | None = None
    similarity: float = 0.0
    code: str = ""


def _is_docstring(node: Node) -> bool:
    holder = node.parent if node.parent is not None and node.parent.type == "expression_statement" else node
    container = holder.parent
    if container is None or container.type not in ("block", "module"):
        return False
    statements = [child for child in container.named_children if child.type != "comment"]
    return bool(statements) and statements[0] == holder


def comparison_keys(code: str, language: str) -> tuple[str, str]:
    """Two texts to compare codes by: the tokens without comments, docstrings, `;` and `,` (strings
    in one quote style), and the same skeleton with every string literal blanked out."""
    lines = _clean_code(code)
    parser = parser_for(language)
    if parser is None:
        return (words := " ".join(" ".join(lines).split())), words
    exact: list[str] = []
    skeleton: list[str] = []

    def visit(node: Node) -> None:
        if node.type == "comment" or (node.type in STRING_NODES and _is_docstring(node)):
            return
        text = (node.text or b"").decode("utf-8", "replace")
        if node.type in STRING_NODES:
            exact.append('"' + text.strip("'\"`") + '"')
            skeleton.append('""')
        elif node.child_count == 0:
            if text not in (";", ","):
                exact.append(text)
                skeleton.append(text)
        else:
            for child in node.children:
                visit(child)

    visit(parser.parse("\n".join(lines).encode("utf-8")).root_node)
    return " ".join(exact), " ".join(skeleton)


def group_equivalent_codes(
    codes_by_seat: Mapping[str, str], weights: Mapping[str, float], language: str
) -> list[_Draft]:
    """Group seats with equivalent codes: the same tokens once comments, docstrings, layout and
    quote style are set aside, or the same skeleton with strings ≥ SIMILAR_RATIO alike (a one-token
    logic change like `a + b` / `a - b` never merges, however similar the texts)."""
    drafts: list[_Draft] = []
    for seat, code in codes_by_seat.items():
        key, skeleton = comparison_keys(code, language)
        if not key:
            continue
        weight = weights.get(seat, 1.0)
        for draft in drafts:
            if key == draft.key or (
                skeleton == draft.skeleton and fuzz.ratio(key, draft.key) >= SIMILAR_RATIO
            ):
                draft.seats.append(seat)
                draft.codes.append(code)
                draft.weights.append(weight)
                break
        else:
            drafts.append(_Draft(key, skeleton, [seat], [code], [weight]))
    return drafts


def _checked_drafts(
    document: SourceDocument,
    stub: StubLocation,
    codes_by_seat: Mapping[str, str],
    weights: Mapping[str, float],
) -> list[_Draft]:
    """The seats' codes prepared, grouped, checked and compared: the CPU-heavy part (tree-sitter
    parses, rapidfuzz), run in a worker thread by `build_candidates`."""
    prepared = {seat: prepare_candidate(document.text, stub, code) for seat, code in codes_by_seat.items()}
    drafts = group_equivalent_codes(prepared, weights, stub.language)
    for draft in drafts:
        draft.code = draft.codes[max(range(len(draft.seats)), key=lambda index: draft.weights[index])]
        draft.problems = check_candidate(draft.code, stub, document.text)
        draft.valid = not draft.problems
        others = [fuzz.ratio(draft.key, other.key) for other in drafts if other is not draft]
        draft.similarity = sum(others) / len(others) if others else 0.0
    return drafts


async def build_candidates(
    document: SourceDocument,
    stub: StubLocation,
    codes_by_seat: Mapping[str, str],
    *,
    weights: Mapping[str, float],
    policy: PolicyConfig,
    workspace: Path | None,
) -> list[ImplementCandidate]:
    """Group, check, validate and rank the seats' codes; best candidate first.

    `valid` means the candidate passed `check_candidate`; when `policy.validate_command`
    is set and a workspace is given, it runs (two at a time) for every valid candidate
    and sets `tests_passed`. Ranking: valid first, tests passing first (then not run,
    then failing), more votes, more similar to the other candidates, more seat weight.
    """
    drafts = await anyio.to_thread.run_sync(_checked_drafts, document, stub, codes_by_seat, weights)
    command = policy.validate_command
    valid = [draft for draft in drafts if draft.valid]
    if command and workspace is not None and valid:
        relative = relative_document_path(document.path, workspace)
        if relative is None:
            for draft in valid:
                draft.problems.append("not validated: the file is outside the workspace")
        else:
            limiter = anyio.CapacityLimiter(VALIDATIONS_AT_ONCE)

            async def validate(draft: _Draft, workspace: Path, relative: str) -> None:
                new_text = await anyio.to_thread.run_sync(apply_candidate, document.text, stub, draft.code)
                async with limiter:
                    passed, output = await run_validate_command(
                        command, workspace, relative, new_text, policy.validate_timeout
                    )
                draft.tests_passed = passed
                if not passed:
                    draft.problems.append(f"validate_command failed: {output}")

            async with anyio.create_task_group() as group:
                for draft in valid:
                    group.start_soon(validate, draft, workspace, relative)
    tests_rank = {True: 0, None: 1, False: 2}
    drafts.sort(
        key=lambda d: (not d.valid, tests_rank[d.tests_passed], -len(d.seats), -d.similarity, -sum(d.weights))
    )
    return [
        ImplementCandidate(
            code=draft.code,
            models=draft.seats,
            votes=len(draft.seats),
            valid=draft.valid,
            problems=draft.problems,
            tests_passed=draft.tests_passed,
            weight=sum(draft.weights),
            start_line=stub.start_line,
            end_line=stub.end_line,
        )
        for draft in drafts
    ]
