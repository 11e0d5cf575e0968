"""Per-document state: snapshots for panel runs, Chorus's diagnostics, other tools' diagnostics.

pygls keeps the text in sync (incremental). On top of that, `DocumentState` keeps

- an `EditLog` per running panel request, so late results can be moved with the
  edits made meanwhile (or dropped when their lines were edited);
- the diagnostics Chorus published per document (machine form), moved with edits and
  dropped when their lines are edited;
- the diagnostics of other tools the client mentioned in `codeAction` contexts,
  which `chorus/explainDiagnostics` uses when a client sends none.

`server.features.documents` feeds it the client's edits and publishes the diagnostics.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from pygls.uris import to_fs_path
from pygls.workspace.position_codec import PositionCodec

from orchestration.machine_form import DiagnosticForm, JSONObject
from orchestration.types.config import PolicyConfig
from orchestration.types.errors import InputError
from orchestration.types.requests import SourceDocument
from server.convert import to_client_units
from server.memory_messages import is_finding_id
from server.messages import DIAGNOSTIC_SOURCE
from server.staleness import EVERYTHING, EditLog, LineEdit, carry_through, range_lines

if TYPE_CHECKING:
    from server.language_server import ChorusLanguageServer

F = TypeVar("F")

LANGUAGE_IDS = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "java": "java",
    "kotlin": "kotlin",
    "go": "go",
    "rust": "rust",
    "c": "c",
    "cpp": "cpp",
    "csharp": "csharp",
    "php": "php",
    "ruby": "ruby",
}
"""LSP language ids → Chorus's language names (others are guessed from the file name)."""

SEEN_LIMIT = 200
"""Diagnostics of other tools remembered per document."""

CLOSED = LineEdit(0, EVERYTHING, EVERYTHING, 0)
"""What closing a document means to a run still working on it: every line is gone."""

OPEN_FLAGS = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
"""How a closed document is opened: never waiting for a FIFO's writer (POSIX), in binary mode (Windows)."""


def max_file_bytes(ls: ChorusLanguageServer) -> int:
    """`policy.max_file_bytes` of the configuration in force (the default before there is one)."""
    config = ls.settings.config
    return config.policy.max_file_bytes if config is not None else PolicyConfig().max_file_bytes


def read_closed_document(uri: str, limit: int) -> str:
    """The text of a document the client has not opened: only regular `file:` files up to `limit` bytes.

    Blocking (call it off the event loop: `read_closed_document_async`). The path is checked with
    `os.stat` before it is opened, and opened with `O_NONBLOCK`, so a FIFO or a device never blocks
    the caller; the open file is checked again (it may have been swapped meanwhile), and at most
    `limit + 1` bytes are read.
    """
    path = to_fs_path(uri) if uri.startswith("file:") else None
    if not path or not os.path.isabs(path):
        raise InputError(f"{uri} is not open and is not a file: URI")
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise InputError(f"{path} is not open and is not a regular file")
        data = read_regular_file(path, limit + 1)
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise InputError(f"{uri} is not open and cannot be read: {reason}") from None
    if len(data) > limit:
        raise InputError(
            f"{path} is larger than policy.max_file_bytes ({limit} bytes); select less or raise the limit"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None


def read_regular_file(path: str, most: int) -> bytes:
    """Up to `most` bytes of the file at `path`, opened without blocking; `InputError` if not regular."""
    descriptor = os.open(path, os.O_RDONLY | OPEN_FLAGS)
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise InputError(f"{path} is not open and is not a regular file")
        return file.read(most)


async def read_closed_document_async(uri: str, limit: int) -> str:
    """`read_closed_document` in a worker thread, so a slow disk never stalls the event loop."""
    return await anyio.to_thread.run_sync(read_closed_document, uri, limit)


@dataclass(slots=True)
class Snapshot:
    """A document as a panel run sees it, plus the log of edits made since."""

    uri: str
    document: SourceDocument
    log: EditLog
    codec: PositionCodec

    def carry(self, form: F, first_line: int, last_line: int) -> F | None:
        """Machine-form ranges (snapshot, code points) → the current document (client units).

        `first_line..last_line` (0-based) are the lines the run was about. None when
        any of them was edited since the snapshot.
        """
        encoded = to_client_units(form, self.document.lines, self.codec)
        return self.log.carry(encoded, first_line, last_line)


def overlaps(diagnostic: Mapping[str, Any], first: int, last: int) -> bool:
    """True when a JSON diagnostic covers any of lines `first..last`."""
    start, end = range_lines(diagnostic["range"])
    return start <= last and end >= first


def finding_id_of(diagnostic: Mapping[str, Any]) -> str | None:
    """The `findingId` in a Chorus diagnostic's `data` (a JSON diagnostic), if it has a valid one."""
    data = diagnostic.get("data")
    found = data.get("findingId") if isinstance(data, Mapping) else None
    return found if is_finding_id(found) else None


def same_diagnostic(left: Mapping[str, Any], right: Mapping[str, Any]) -> bool:
    """Same range and message: how a client's copy is matched with the stored one."""
    return bool(left.get("range") == right.get("range") and left.get("message") == right.get("message"))


def document_path(uri: str) -> str:
    """The path a snapshot names its document by: the file's path for a `file:` URI, else the URI."""
    return (to_fs_path(uri) or uri) if uri.startswith("file:") else uri


def open_snapshot(ls: ChorusLanguageServer, uri: str) -> Snapshot:
    """A snapshot of the open document `uri`, as the editor last sent it."""
    document = ls.workspace.text_documents[uri]
    language = LANGUAGE_IDS.get(document.language_id or "", "")
    source = SourceDocument(path=document_path(uri), text=document.source, language=language)
    return Snapshot(uri=uri, document=source, log=EditLog(uri), codec=ls.workspace.position_codec)


def closed_snapshot(ls: ChorusLanguageServer, uri: str, text: str) -> Snapshot:
    """A snapshot of `uri`, not open, whose file holds `text` (the language is guessed from its name)."""
    source = SourceDocument(path=document_path(uri), text=text, language="")
    return Snapshot(uri=uri, document=source, log=EditLog(uri), codec=ls.workspace.position_codec)


@dataclass(slots=True)
class DocumentState:
    """Per-document bookkeeping that pygls's workspace does not do."""

    logs: dict[str, list[EditLog]] = field(default_factory=dict)
    chorus: dict[str, list[DiagnosticForm]] = field(default_factory=dict)
    seen: dict[str, list[JSONObject]] = field(default_factory=dict)
    """Other tools' diagnostics, as the client sent them."""
    unpublished: set[str] = field(default_factory=set)
    """Documents with a publish pending (see `server.features.documents.publish`)."""

    def snapshot(self, ls: ChorusLanguageServer, uri: str) -> Snapshot:
        """The document's current text: the open copy, else a regular `file:` file read from disk.

        Raises `InputError` for anything else (not open and unreadable, not a `file:` URI,
        not a regular file, larger than `policy.max_file_bytes`). A closed document is read
        on the calling thread: on the event loop, prefer `snapshot_async`.
        """
        if uri in ls.workspace.text_documents:
            return open_snapshot(ls, uri)
        return closed_snapshot(ls, uri, read_closed_document(uri, max_file_bytes(ls)))

    async def snapshot_async(self, ls: ChorusLanguageServer, uri: str) -> Snapshot:
        """`snapshot`, reading a closed document from disk in a worker thread."""
        if uri in ls.workspace.text_documents:
            return open_snapshot(ls, uri)
        text = await read_closed_document_async(uri, max_file_bytes(ls))
        if uri in ls.workspace.text_documents:  # Opened while the file was read: the editor's copy wins.
            return open_snapshot(ls, uri)
        return closed_snapshot(ls, uri, text)

    @contextmanager
    def watching(self, log: EditLog) -> Iterator[EditLog]:
        """Record every edit to the log's document while the block runs."""
        logs = self.logs.setdefault(log.uri, [])
        logs.append(log)
        try:
            yield log
        finally:
            logs.remove(log)
            if not logs:
                self.logs.pop(log.uri, None)

    def record(self, uri: str, edit: LineEdit) -> bool:
        """Apply one content change to every log and stored diagnostic; True if any diagnostic went."""
        for log in self.logs.get(uri, []):
            log.record(edit)
        self.seen[uri] = [moved for d in self.seen.get(uri, []) if (moved := carry_through(d, edit))]
        before = self.chorus.get(uri, [])
        after = [carried for d in before if (carried := carry_through(d, edit)) is not None]
        self.chorus[uri] = after
        return len(after) != len(before)

    def replace_chorus(
        self, uri: str, first: int, last: int, diagnostics: list[DiagnosticForm]
    ) -> list[DiagnosticForm]:
        """Chorus's diagnostics for `uri`: those on lines `first..last` replaced by `diagnostics`."""
        kept = [d for d in self.chorus.get(uri, []) if not overlaps(d, first, last)]
        merged = sorted(
            kept + diagnostics, key=lambda d: (d["range"]["start"]["line"], d["range"]["start"]["character"])
        )
        self.chorus[uri] = merged
        return merged

    def drop_findings(self, finding_ids: set[str]) -> dict[str, int]:
        """Remove the Chorus diagnostics of these findings from every document: how many, per URI."""
        dropped: dict[str, int] = {}
        for where in list(self.chorus):
            before = self.chorus.get(where, [])
            kept = [d for d in before if finding_id_of(d) not in finding_ids]
            if len(kept) != len(before):
                self.chorus[where] = kept
                dropped[where] = len(before) - len(kept)
        return dropped

    def remember(self, uri: str, diagnostics: list[JSONObject]) -> None:
        """Keep diagnostics a client mentioned (any source) for later explanations."""
        known = self.seen.setdefault(uri, [])
        for diagnostic in diagnostics:
            if diagnostic.get("source") == DIAGNOSTIC_SOURCE:
                continue
            if not any(same_diagnostic(diagnostic, other) for other in known):
                known.append(diagnostic)
        del known[:-SEEN_LIMIT]

    def stored_chorus(self, uri: str, diagnostic: Mapping[str, Any]) -> DiagnosticForm | None:
        """The stored Chorus diagnostic a client's copy refers to."""
        return next((d for d in self.chorus.get(uri, []) if same_diagnostic(d, diagnostic)), None)

    def known(self, uri: str, first: int, last: int) -> list[Mapping[str, Any]]:
        """Every diagnostic known on lines `first..last`: other tools' first, then Chorus's."""
        found: list[Mapping[str, Any]] = [d for d in self.seen.get(uri, []) if overlaps(d, first, last)]
        found += [d for d in self.chorus.get(uri, []) if overlaps(d, first, last)]
        return found

    def forget(self, uri: str) -> None:
        """Drop everything stored for a closed document."""
        self.chorus.pop(uri, None)
        self.seen.pop(uri, None)

    def close(self, uri: str) -> bool:
        """The client closed `uri`: every run on it goes stale, its diagnostics go; True if it had some."""
        for log in self.logs.get(uri, []):
            log.record(CLOSED)
        had_diagnostics = bool(self.chorus.get(uri))
        self.forget(uri)
        self.unpublished.discard(uri)
        return had_diagnostics
