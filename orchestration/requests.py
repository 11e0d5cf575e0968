"""Typed requests: what an editor or the command line asks the panel to do."""

from __future__ import annotations

import re
from pathlib import PurePath

from pydantic import BaseModel, Field, PrivateAttr, model_validator

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


def language_for_path(path: str) -> str:
    """Guess a tree-sitter language name from a file name ("text" when unknown)."""
    return LANGUAGE_BY_SUFFIX.get(PurePath(path).suffix.lower(), "text")


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
        lines = LINE_BREAK.split(self.text)
        if lines and lines[-1] == "":
            lines.pop()
        self._split = (self.text, lines)
        return lines


class ReviewRequest(BaseModel):
    """Review lines `start_line..end_line` (1-based, inclusive) of a document."""

    document: SourceDocument
    start_line: int = Field(default=1, ge=1)
    end_line: int | None = Field(default=None, description="None means the end of the file.")

    @property
    def last_line(self) -> int:
        """The last reviewed line, clamped to the document."""
        total = max(1, len(self.document.lines))
        return min(self.end_line or total, total)


class ImplementRequest(BaseModel):
    """Implement the stub function at or around `line` (1-based)."""

    document: SourceDocument
    line: int = Field(ge=1)


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
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    diagnostics: list[DiagnosticInput] = Field(default_factory=list)
