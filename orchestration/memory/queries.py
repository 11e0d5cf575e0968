"""Reading the memory: history, one run in full, one finding, suppressions, cache hits, export.

Functions take an open `Connection` and return the typed records of `orchestration.memory.records`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import ColumnElement, Connection, Row, RowMapping, Table, and_, func, or_, select

from orchestration.memory import schema
from orchestration.memory.crypto import CodeCipher
from orchestration.memory.records import (
    ConflictRecord,
    FeedbackEvent,
    FindingRecord,
    JSONValue,
    RunDetail,
    RunOutcome,
    RunSummary,
    SeatCall,
    SeatFinding,
    Suppression,
)


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def run_summary(row: Row[tuple[object, ...]]) -> RunSummary:
    """A `runs` row as a record."""
    m = row._mapping
    return RunSummary(
        run_id=m["id"], task=m["task"], workspace=m["workspace"], path=m["path"],
        start_line=m["start_line"], end_line=m["end_line"], user=m["user"], started_at=m["started_at"],
        ended_at=m["ended_at"], outcome=cast(RunOutcome, m["outcome"]), notice=m["notice"],
        seats=_strings(m["seats"]), content_hash=m["content_hash"], config_hash=m["config_hash"],
        prompt_version=m["prompt_version"],
    )  # fmt: skip


def _seat_call(m: RowMapping) -> SeatCall:
    raw = m["findings"]
    opinions = (
        tuple(SeatFinding(**item) for item in raw if isinstance(item, dict)) if isinstance(raw, list) else ()
    )
    values = {name: m[name] for name in schema.seat_calls.c.keys() if name not in ("id", "findings")}
    return SeatCall(**values, findings=opinions)


def _finding(m: RowMapping, fix: str | None) -> FindingRecord:
    values = {name: m[name] for name in schema.findings.c.keys() if name not in ("id", "models")}
    return FindingRecord(finding_id=str(m["id"]), models=_strings(m["models"]), fix=fix, **values)


def _conflict(m: RowMapping) -> ConflictRecord:
    values = {
        name: m[name]
        for name in schema.conflicts.c.keys()
        if name not in ("id", "models_for", "models_against")
    }
    return ConflictRecord(
        models_for=_strings(m["models_for"]),
        models_against=_strings(m["models_against"]),
        **values,
    )


def find_run_id(connection: Connection, run_id: str) -> str | None:
    """`run_id` itself, or the one run whose id starts with it (at least 4 characters)."""
    runs = schema.runs
    if connection.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is not None:
        return run_id
    if len(run_id) < 4:
        return None
    matches = connection.execute(select(runs.c.id).where(runs.c.id.startswith(run_id)).limit(2)).all()
    return str(matches[0][0]) if len(matches) == 1 else None


def history(connection: Connection, limit: int, user: str | None, workspace: str | None) -> list[RunSummary]:
    """The newest `limit` runs, newest first, optionally of one user or one workspace."""
    runs = schema.runs
    query = select(runs).order_by(runs.c.started_at.desc()).limit(limit)
    if user is not None:
        query = query.where(runs.c.user == user)
    if workspace is not None:
        query = query.where(runs.c.workspace == workspace)
    return [run_summary(row) for row in connection.execute(query)]


def show(connection: Connection, run_id: str, cipher: CodeCipher) -> RunDetail | None:
    """One run with its seats, findings, conflicts, feedback (and code, when it was kept)."""
    found = find_run_id(connection, run_id)
    if found is None:
        return None
    run = connection.execute(select(schema.runs).where(schema.runs.c.id == found)).one()
    blobs = schema.code_blobs
    code: dict[tuple[str, str | None], str | None] = {}
    for blob in connection.execute(select(blobs).where(blobs.c.run_id == found)):
        key = (blob.kind, blob.finding_id)
        code[key] = cipher.open(blob.sealed, f"{blob.kind}:{found}:{blob.finding_id or ''}")
    seats = connection.execute(select(schema.seat_calls).where(schema.seat_calls.c.run_id == found))
    merged = connection.execute(
        select(schema.findings)
        .where(schema.findings.c.run_id == found)
        .order_by(schema.findings.c.start_line)
    )
    conflicts = connection.execute(select(schema.conflicts).where(schema.conflicts.c.run_id == found))
    findings = tuple(_finding(row._mapping, code.get(("fix", row.id))) for row in merged)
    feedback = schema.feedback
    verdicts = connection.execute(
        select(feedback)
        .where(feedback.c.finding_id.in_([finding.finding_id for finding in findings]))
        .order_by(feedback.c.at)
    )
    return RunDetail(
        run=run_summary(run),
        seats=tuple(_seat_call(row._mapping) for row in seats),
        findings=findings,
        conflicts=tuple(_conflict(row._mapping) for row in conflicts),
        feedback=tuple(
            FeedbackEvent(finding_id=row.finding_id, verdict=row.verdict, user=row.user, at=row.at)
            for row in verdicts
        ),
        code=code.get(("document", None)),
    )


def _visible(table: Table, user: str) -> ColumnElement[bool]:
    return or_(table.c.user == user, table.c.shared.is_(True))


def is_suppressed(connection: Connection, fingerprint: str, user: str) -> bool:
    """Whether the user (or the team, by sharing) dismissed the finding with this fingerprint."""
    table = schema.suppressions
    query = select(table.c.id).where(and_(table.c.fingerprint == fingerprint, _visible(table, user))).limit(1)
    return connection.execute(query).first() is not None


def suppressions(connection: Connection, user: str) -> list[Suppression]:
    """The user's suppressions and the team's shared ones, newest first."""
    table = schema.suppressions
    rows = connection.execute(select(table).where(_visible(table, user)).order_by(table.c.created_at.desc()))
    return [
        Suppression(
            fingerprint=row.fingerprint,
            cluster_key=row.cluster_key,
            user=row.user,
            shared=bool(row.shared),
            finding_id=row.finding_id,
            created_at=row.created_at,
        )
        for row in rows
    ]


def suppressed_among(connection: Connection, fingerprints: Sequence[str], user: str) -> set[str]:
    """Those of `fingerprints` the user (or the team, by sharing) dismissed."""
    table = schema.suppressions
    found: set[str] = set()
    wanted = list(dict.fromkeys(fingerprints))
    for start in range(0, len(wanted), 500):  # Bounded IN lists, for every backend.
        query = select(table.c.fingerprint).where(
            and_(table.c.fingerprint.in_(wanted[start : start + 500]), _visible(table, user))
        )
        found.update(str(row[0]) for row in connection.execute(query))
    return found


def suppressed_fingerprints(connection: Connection, user: str) -> frozenset[str]:
    """Every fingerprint the user (or the team, by sharing) dismissed."""
    table = schema.suppressions
    return frozenset(
        str(row[0]) for row in connection.execute(select(table.c.fingerprint).where(_visible(table, user)))
    )


def finding(connection: Connection, finding_id: str, cipher: CodeCipher) -> FindingRecord | None:
    """One merged finding by its id (with its fix, when code was kept), or None."""
    row = connection.execute(select(schema.findings).where(schema.findings.c.id == finding_id)).first()
    if row is None:
        return None
    blobs = schema.code_blobs
    blob = connection.execute(
        select(blobs).where(blobs.c.finding_id == finding_id, blobs.c.kind == "fix").limit(1)
    ).first()
    fix = cipher.open(blob.sealed, f"fix:{row.run_id}:{finding_id}") if blob is not None else None
    return _finding(row._mapping, fix)


def cached_answer(connection: Connection, key: str, now: float, cipher: CodeCipher) -> str | None:
    """The answer cached under `key` if it has not expired (and opens with this store's key)."""
    table = schema.cache_entries
    row = connection.execute(select(table).where(table.c.key == key)).first()
    if row is None or row.created_at + row.ttl_s < now:
        return None
    return cipher.open(row.answer, f"cache:{key}")


def _json_rows(connection: Connection, table: Table, skip: Sequence[str] = ()) -> list[JSONValue]:
    columns = [column for column in table.c if column.name not in skip]
    rows: list[JSONValue] = []
    for row in connection.execute(select(*columns)):
        rows.append({name: cast(JSONValue, value) for name, value in row._mapping.items()})
    return rows


def export(connection: Connection, revision: str | None) -> dict[str, JSONValue]:
    """Everything but code and cached answers, as JSON-able data (`chorus store export --json`)."""
    counts = connection.execute(select(func.count()).select_from(schema.runs)).scalar_one()
    return {
        "schema_revision": revision,
        "run_count": counts,
        "runs": _json_rows(connection, schema.runs),
        "seat_calls": _json_rows(connection, schema.seat_calls),
        "findings": _json_rows(connection, schema.findings),
        "conflicts": _json_rows(connection, schema.conflicts),
        "feedback": _json_rows(connection, schema.feedback),
        "suppressions": _json_rows(connection, schema.suppressions),
        "cache_entries": _json_rows(connection, schema.cache_entries, skip=("answer",)),
        "audit": _json_rows(connection, schema.audit),
    }
