"""What `chorus review|implement|explain` is asked about: `PATH[:FIRST[-LAST]]`, read safely, as a request.

`Target.parse` splits the argument; `Target.read` reads the file without ever opening a FIFO or a
device and no further than `policy.max_file_bytes`; `task_request` builds the pipeline's request.
`UsageError` (exit 2) is a command line that cannot be carried out as given.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from orchestration.types.errors import InputError
from orchestration.types.requests import (
    DiagnosticInput,
    ExplainRequest,
    ImplementRequest,
    ReviewRequest,
    SourceDocument,
)

TARGET = re.compile(r"^(?P<path>.+?)(?::(?P<first>\d+)(?:-(?P<last>\d+))?)?$")


class UsageError(Exception):
    """The command line cannot be carried out as given."""


@dataclass(frozen=True)
class Target:
    """`path[:first[-last]]` from the command line."""

    path: Path
    first: int | None
    last: int | None

    @classmethod
    def parse(cls, text: str) -> Target:
        """Split `src/a.py:5-17` into path and 1-based lines."""
        match = TARGET.match(text)
        if match is None:
            raise UsageError(f"cannot read target {text!r}; expected PATH, PATH:LINE or PATH:FIRST-LAST")
        first = int(match["first"]) if match["first"] else None
        last = int(match["last"]) if match["last"] else first
        if first is not None and (first < 1 or (last is not None and last < first)):
            raise UsageError(f"bad line range in {text!r}: lines are 1-based and FIRST <= LAST")
        return cls(Path(match["path"]), first, last)

    def read(self, max_bytes: int) -> SourceDocument:
        """The file's text; `InputError` for a non-regular or too large file, `UsageError` otherwise.

        The path is checked with `os.stat` before it is opened (a FIFO is never opened), opened
        non-blocking and checked again on the open descriptor, and read no further than the limit.
        """
        try:
            info = os.stat(self.path)
            if not stat.S_ISREG(info.st_mode):
                raise InputError(
                    f"{self.path}: not a regular file (directories, FIFOs and devices are refused)"
                )
            if info.st_size > max_bytes:
                raise InputError(too_large(self.path, info.st_size, max_bytes))
            descriptor = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(descriptor, "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    raise InputError(f"{self.path}: not a regular file")
                data = handle.read(max_bytes + 1)
        except FileNotFoundError:
            raise UsageError(f"{self.path}: no such file") from None
        except OSError as error:
            raise UsageError(f"{self.path}: cannot read ({error.strerror or error})") from None
        if len(data) > max_bytes:
            raise InputError(too_large(self.path, len(data), max_bytes))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{self.path}: not a UTF-8 text file") from None
        return SourceDocument(path=str(self.path), text=text)


def too_large(path: Path, size: int, limit: int) -> str:
    """The one-line refusal of a file over `policy.max_file_bytes`."""
    return (
        f"{path}: {size:,} bytes is over policy.max_file_bytes ({limit:,}); "
        "review a line range (PATH:FIRST-LAST) or raise the limit"
    )


def check_lines(target: Target, document: SourceDocument) -> None:
    """`InputError` when the target's first line is past the end of the file (nothing is asked)."""
    count = len(document.lines) if document.text else 0
    if target.first is not None and target.first > count:
        raise InputError(f"{target.path}: line {target.first} is past the end of the file ({count} lines)")


def task_request(
    command: str, target: Target, document: SourceDocument, messages: list[str]
) -> ReviewRequest | ImplementRequest | ExplainRequest:
    """The request `command` ("review", "implement", "explain") makes of `target`."""
    if command == "review":
        return ReviewRequest(document=document, start_line=target.first or 1, end_line=target.last)
    if command == "implement":
        if target.first is None:
            raise UsageError("implement needs a line: chorus implement PATH:LINE")
        return ImplementRequest(document=document, line=target.first)
    if target.first is None:
        raise UsageError("explain needs a line: chorus explain PATH:LINE --message TEXT")
    first, last = target.first, target.last or target.first
    diagnostics = [DiagnosticInput(start_line=first, end_line=last, message=m) for m in messages]
    return ExplainRequest(document=document, start_line=first, end_line=last, diagnostics=diagnostics)
