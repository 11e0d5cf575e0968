"""Typed requests: what an editor or the command line asks the panel to do."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Final

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from orchestration.types.errors import InputError

Message = dict[str, str]
"""One chat message to a seat: `{"role": "system" | "user" | "assistant", "content": ...}`."""

PLAIN_TEXT: Final = "text"
"""The language of a file whose suffix names no language tree-sitter knows."""

LANGUAGE_BY_SUFFIX: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".java": "java",
    ".kt": "kotlin",
    ".go": "go",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".php": "php",
    ".rb": "ruby",
}


LINE_BREAK = re.compile(r"\r\n|\r|\n")
"""The line terminators LSP recognizes (unlike str.splitlines, not \\x0c or \\u2028)."""


def lsp_lines(text: str) -> list[str]:
    """`text`'s lines without their line endings, split at `LINE_BREAK` only (as LSP counts lines)."""
    lines = LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def language_for_path(path: str) -> str:
    """Guess a tree-sitter language name from a file name (`PLAIN_TEXT` when unknown)."""
    return LANGUAGE_BY_SUFFIX.get(PurePath(path).suffix.lower(), PLAIN_TEXT)


class SourceDocument(BaseModel):
    """A whole file as the editor has it (possibly unsaved)."""

    path: str = Field(description="File system path or URI; used for display, policy globs and language.")
    text: str
    language: str = ""

    @model_validator(mode="after")
    def _fill_language(self) -> SourceDocument:
        if not self.language:
            self.language = language_for_path(self.path)
        return self

    _split: tuple[str, list[str]] | None = PrivateAttr(default=None)

    @property
    def lines(self) -> list[str]:
        """The file's lines without their line endings, split as LSP does (\\n, \\r\\n, \\r only).

        Split once per text (results are converted line by line, many times per review);
        callers must not modify the list.
        """
        split = self._split
        if split is not None and split[0] is self.text:
            return split[1]
        lines = lsp_lines(self.text)
        self._split = (self.text, lines)
        return lines


def checked_lines(document: SourceDocument, first: int, last: int | None) -> tuple[int, int]:
    """Lines `first..last` (1-based, inclusive; `last` None = the end) as they can be served.

    A range that starts past the end of the document, at line 0 or below, or that ends before it
    starts raises `InputError` with a one-line message. A range that starts inside the document but
    ends past its end is clamped to the last line (an editor selection may reach the empty line after
    the final newline). An empty document has one (empty) line.
    """
    total = max(1, len(document.lines))
    asked = f"{document.path}:{first}" if last is None or last == first else f"{document.path}:{first}-{last}"
    if first < 1:
        raise InputError(f"{asked}: there is no line {first}; lines are numbered from 1")
    if last is not None and last < first:
        raise InputError(f"{asked}: the range ends (line {last}) before it starts (line {first})")
    if first > total:
        raise InputError(
            f"{asked}: line {first} is past the end of the file ({total} line{'s' * (total != 1)}); "
            f"choose lines 1-{total}"
        )
    return first, min(last or total, total)


class ReviewRequest(BaseModel):
    """Review lines `start_line..end_line` (1-based, inclusive) of a document.

    The range is checked against the document by `selection()` (the pipeline calls it before any
    model is asked), so a request for lines that do not exist is a clear `InputError`.
    """

    document: SourceDocument
    start_line: int = Field(default=1, description="First reviewed line, 1-based.")
    end_line: int | None = Field(default=None, description="None means the end of the file.")

    @property
    def last_line(self) -> int:
        """The last reviewed line, clamped to the document."""
        total = max(1, len(self.document.lines))
        return min(self.end_line or total, total)

    def selection(self) -> tuple[int, int]:
        """The reviewed lines `(first, last)`; raises `InputError` (see `checked_lines`)."""
        return checked_lines(self.document, self.start_line, self.end_line)


class ImplementRequest(BaseModel):
    """Implement the stub function at or around `line` (1-based)."""

    document: SourceDocument
    line: int = Field(description="A line of the stub, 1-based; checked by `checked_line()`.")

    def checked_line(self) -> int:
        """`line`, or `InputError` when the document has no such line."""
        return checked_lines(self.document, self.line, self.line)[0]


class DiagnosticInput(BaseModel):
    """A diagnostic the editor already shows (from any tool) that the user wants explained."""

    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    message: str
    source: str | None = None
    code: str | None = None
    severity: str | None = None


class ExplainRequest(BaseModel):
    """Explain the diagnostics on lines `start_line..end_line` and propose fixes."""

    document: SourceDocument
    start_line: int = Field(description="First line, 1-based; checked by `selection()`.")
    end_line: int = Field(description="Last line, 1-based; past the end is clamped by `selection()`.")
    diagnostics: list[DiagnosticInput] = Field(default_factory=list)

    def selection(self) -> tuple[int, int]:
        """The explained lines `(first, last)`; raises `InputError` (see `checked_lines`)."""
        return checked_lines(self.document, self.start_line, self.end_line)
