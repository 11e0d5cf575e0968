"""Records to rows: scrubbing, sealing code, one insert or update per `StoreWrite`.

Everything goes through `scrubbed` first: each field a record names in `TEXT_FIELDS` (and every
message inside a seat's findings) passes `scrub_secrets`, which replaces every secret value Chorus
holds and redacts every credential it recognizes. Code (a run's document, a finding's fix) is
written only with `keep_code`, sealed with AES-GCM; cached answers are always sealed. Consecutive
plain inserts into one table (seat calls, findings, conflicts, feedback, audit) are written as one
executemany (`RowWriter.write_all`).
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Sequence
from typing import Final, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Connection, Table, delete, update
from sqlalchemy.dialects import postgresql, sqlite

from orchestration.memory import schema
from orchestration.memory.crypto import CodeCipher
from orchestration.memory.records import (
    AuditRecord,
    CacheEntry,
    ClearSuppressions,
    ConflictRecord,
    FeedbackEvent,
    FindingRecord,
    RunEnd,
    RunStart,
    SeatCall,
    StoreWrite,
    Suppression,
)
from orchestration.privacy.gate import scrub_secrets

HOST: Final = socket.gethostname()[:255]
R = TypeVar("R", bound=StoreWrite)
_FIELDS: Final = {
    kind: tuple(item.name for item in dataclasses.fields(kind))
    for kind in (
        RunStart, RunEnd, SeatCall, FindingRecord, ConflictRecord, FeedbackEvent, Suppression,
        ClearSuppressions, CacheEntry, AuditRecord,
    )
}  # fmt: skip


def scrubbed(record: R, *, keep_code: bool) -> R:
    """`record` with every text field scrubbed of secrets (and without code unless `keep_code`)."""
    changes: dict[str, object] = {}
    if not keep_code and isinstance(record, RunStart) and record.code is not None:
        changes["code"] = None
    if not keep_code and isinstance(record, FindingRecord) and record.fix is not None:
        changes["fix"] = None
    for name in record.TEXT_FIELDS:
        value = getattr(record, name)
        if isinstance(value, str) and value and name not in changes:
            changes[name] = scrub_secrets(value)
    if isinstance(record, SeatCall) and record.findings:
        changes["findings"] = tuple(
            dataclasses.replace(finding, message=scrub_secrets(finding.message))
            for finding in record.findings
        )
    if isinstance(record, CacheEntry):
        changes["answer"] = scrub_secrets(record.answer)
    return dataclasses.replace(record, **changes) if changes else record  # type: ignore[arg-type]


def _values(record: StoreWrite) -> dict[str, object]:
    """The record's fields by name, as they are (`dataclasses.asdict` would deep-copy every value)."""
    return {name: getattr(record, name) for name in _FIELDS[type(record)]}


def endpoint_host(endpoint: str | None) -> str | None:
    """Only the host of `endpoint` (no scheme, user, password, port, path or query)."""
    if not endpoint:
        return None
    parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    return (parts.hostname or "")[:255] or None


def _insert_or_replace(
    connection: Connection, table: Table, keys: list[str], values: dict[str, object]
) -> None:
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = module.insert(table).values(**values)
    changed = {name: statement.excluded[name] for name in values if name not in keys}
    connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=changed))


class RowWriter:
    """Writes scrubbed records on one connection (inside the caller's transaction)."""

    __slots__ = ("cipher", "keep_code", "user")

    def __init__(self, *, user: str, keep_code: bool, cipher: CodeCipher) -> None:
        self.user = user
        self.keep_code = keep_code
        self.cipher = cipher

    def _seal_code(
        self, connection: Connection, run_id: str, kind: str, text: str, finding_id: str | None
    ) -> None:
        context = f"{kind}:{run_id}:{finding_id or ''}"
        connection.execute(
            schema.code_blobs.insert().values(
                run_id=run_id,
                kind=kind,
                finding_id=finding_id,
                key_id=self.cipher.key_id,
                sealed=self.cipher.seal(text, context),
            )
        )

    def _run_row(self, record: RunStart) -> dict[str, object]:
        row = _values(record)
        del row["code"]
        row["id"] = row.pop("run_id")
        row["seats"] = list(record.seats)
        return row | {
            "user": record.user or self.user,
            "host": HOST,
            "pid": os.getpid(),
            "outcome": "running",
        }

    def plain_row(self, record: StoreWrite) -> tuple[Table, dict[str, object]] | None:
        """The one row a record that is a plain insert stands for (None for every other record)."""
        match record:
            case SeatCall():
                row = _values(record)
                row["findings"] = [dataclasses.asdict(opinion) for opinion in record.findings]
                return schema.seat_calls, row
            case FindingRecord() if not (self.keep_code and record.fix is not None):
                row = _values(record)
                row["id"] = row.pop("finding_id")
                row["models"] = list(record.models)
                del row["fix"]
                return schema.findings, row
            case ConflictRecord():
                row = _values(record)
                row["models_for"], row["models_against"] = (
                    list(record.models_for),
                    list(record.models_against),
                )
                return schema.conflicts, row
            case FeedbackEvent():
                return schema.feedback, _values(record) | {"user": record.user or self.user}
            case AuditRecord():
                row = _values(record)
                del row["endpoint"]
                row["endpoint_host"] = endpoint_host(record.endpoint)
                return schema.audit, row
        return None

    def write_all(self, connection: Connection, records: Sequence[StoreWrite]) -> None:
        """Write `records` in order; consecutive plain inserts into one table go as one executemany."""
        table: Table | None = None
        pending: list[dict[str, object]] = []
        for record in records:
            plain = self.plain_row(record)
            if plain is not None and plain[0] is table:
                pending.append(plain[1])
                continue
            if table is not None:
                connection.execute(table.insert(), pending)
                table, pending = None, []
            if plain is not None:
                table, pending = plain[0], [plain[1]]
            else:
                self.write(connection, record)
        if table is not None:
            connection.execute(table.insert(), pending)

    def write(self, connection: Connection, record: StoreWrite) -> None:
        """Insert or update the rows `record` stands for."""
        plain = self.plain_row(record)
        if plain is not None:
            connection.execute(plain[0].insert(), plain[1])
            return
        match record:
            case RunStart():
                connection.execute(schema.runs.insert(), self._run_row(record))
                if self.keep_code and record.code is not None:
                    self._seal_code(connection, record.run_id, "document", record.code, None)
            case RunEnd():
                values: dict[str, object] = {"ended_at": record.ended_at, "outcome": record.outcome}
                if record.notice is not None:
                    values["notice"] = record.notice
                connection.execute(
                    update(schema.runs).where(schema.runs.c.id == record.run_id).values(**values)
                )
            case FindingRecord():
                row = _values(record)
                row["id"] = row.pop("finding_id")
                row["models"] = list(record.models)
                del row["fix"]
                connection.execute(schema.findings.insert(), row)
                if record.fix is not None:
                    self._seal_code(connection, record.run_id, "fix", record.fix, record.finding_id)
            case Suppression():
                row = _values(record) | {"user": record.user or self.user}
                _insert_or_replace(connection, schema.suppressions, ["fingerprint", "user"], row)
            case ClearSuppressions():
                table = schema.suppressions
                connection.execute(delete(table).where(table.c.user == (record.user or self.user)))
            case CacheEntry():
                sealed = self.cipher.seal(record.answer, f"cache:{record.key}")
                row = _values(record) | {"answer": sealed}
                _insert_or_replace(connection, schema.cache_entries, ["key"], row)
