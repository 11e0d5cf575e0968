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


def max_file_bytes(ls: ChorusLanguageServer) -> int:
    """`policy.max_file_bytes` of the configuration in force (the default before there is one)."""
    config = ls.settings.config
    return config.policy.max_file_bytes if config is not None else PolicyConfig().max_file_bytes


def read_closed_document(uri: str, limit: int) -> str:
    """The text of a document the client has not opened: only regular `file:` files up to `limit` bytes."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    if not path or not os.path.isabs(path):
        raise InputError(f"{uri} is not open and is not a file: URI")
    try:
        with open(path, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise InputError(f"{path} is not open and is not a regular file")
            data = file.read(limit + 1)
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
        not a regular file, larger than `policy.max_file_bytes`).
        """
        document = ls.workspace.text_documents.get(uri)
        if document is not None:
            text = document.source
            language = LANGUAGE_IDS.get(document.language_id or "", "")
        else:
            text, language = read_closed_document(uri, max_file_bytes(ls)), ""
        path = (to_fs_path(uri) or uri) if uri.startswith("file:") else uri
        source = SourceDocument(path=path, text=text, language=language)
        return Snapshot(uri=uri, document=source, log=EditLog(uri), codec=ls.workspace.position_codec)

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
