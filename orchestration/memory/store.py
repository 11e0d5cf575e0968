"""The memory's typed interface: `Store.open(config)`, then writes and reads of typed records.

Opening creates the database if needed, runs the migrations (an older store is upgraded, a newer
one refused with a `StoreTooNewError`) and marks the runs of dead processes as interrupted. Every
method raises `StoreError` (one line, no secret) when the database fails. Faces do not write
through `Store` directly on a hot path: they submit to `orchestration.memory.writer.StoreWriter`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from orchestration.memory import queries, records, rollup, schema
from orchestration.memory.crypto import CodeCipher
from orchestration.memory.engine import WRITE, create_store_engine, migrate, store_location
from orchestration.memory.errors import StoreError, StoreRowError, describe
from orchestration.memory.rows import HOST, RowWriter, scrubbed
from orchestration.memory.settings import StoreConfig, default_store_path

STALE_AFTER_S: Final = 24 * 3600.0
"""A run still "running" after this long is interrupted, whoever started it."""
DAY_S: Final = 86400.0


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def key_file_for(config: StoreConfig) -> Path:
    """The key file beside the SQLite database (in the user data dir for a PostgreSQL store)."""
    base = default_store_path() if config.url else config.path.expanduser()
    return base.with_name("chorus.key")


class Store:
    """One open store. Thread-safe: each call takes its own connection from the engine's pool."""

    def __init__(self, engine: Engine, config: StoreConfig, revision: str) -> None:
        self.engine = engine
        self.config = config
        self.revision = revision
        self.location = store_location(config)
        self.user = config.resolved_user()
        self.cipher = CodeCipher(key_file_for(config))
        self._rows = RowWriter(user=self.user, keep_code=config.keep_code, cipher=self.cipher)

    @classmethod
    def open(cls, config: StoreConfig, *, recover: bool = True) -> Store:
        """Open (create, migrate) the store; with `recover`, mark dead processes' runs interrupted."""
        if not config.enabled:
            raise StoreError("the store is turned off ([store] enabled = false)")
        engine = create_store_engine(config)
        try:
            store = cls(engine, config, migrate(engine, store_location(config)))
            if recover:
                store.mark_interrupted()
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        """Release every connection (SQLite checkpoints its WAL when the last one closes)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                if write:
                    connection = connection.execution_options(**WRITE)
                with connection.begin():
                    yield connection
        except StoreError:
            raise
        except IntegrityError as error:
            raise StoreRowError(
                f"the store at {self.location} refused a record: {describe(error)}"
            ) from error
        except (SQLAlchemyError, OSError) as error:
            raise StoreError(f"the store at {self.location} failed: {describe(error)}") from error

    # -- writes -------------------------------------------------------------------------------------

    def write(self, records: Sequence[records.StoreWrite]) -> None:
        """Write `records` (scrubbed first) in one transaction: all of them or none, the rollup
        (`orchestration.memory.rollup`) kept in step in the same transaction."""
        if not records:
            return
        clean = [scrubbed(record, keep_code=self.config.keep_code) for record in records]
        with self._transaction(write=True) as connection, rollup.maintained(connection, clean):
            self._rows.write_all(connection, clean)

    def begin_run(self, run: records.RunStart) -> str:
        """Record that a run started; returns its id."""
        self.write([run])
        return run.run_id

    def finish_run(self, end: records.RunEnd) -> None:
        """Record how a run ended."""
        self.write([end])

    def record_seat(self, call: records.SeatCall) -> None:
        """Record one seat's call and its own findings."""
        self.write([call])

    def record_findings(
        self, findings: Sequence[records.FindingRecord], conflicts: Sequence[records.ConflictRecord] = ()
    ) -> None:
        """Record a run's merged findings and the panel's conflicts."""
        self.write([*findings, *conflicts])

    def record_feedback(self, event: records.FeedbackEvent) -> None:
        """Record the user's verdict on a finding."""
        self.write([event])

    def add_suppression(self, suppression: records.Suppression) -> None:
        """Hide findings with this fingerprint from now on (updates an existing one)."""
        self.write([suppression])

    def clear_suppressions(self, user: str | None = None) -> None:
        """Forget the user's suppressions."""
        self.write([records.ClearSuppressions(user=user)])

    def cache_put(self, entry: records.CacheEntry) -> None:
        """Cache a seat's answer (sealed) under its key."""
        self.write([entry])

    def record_audit(self, entry: records.AuditRecord) -> None:
        """Record what one model call sent off the machine."""
        self.write([entry])

    def mark_interrupted(self, now: float | None = None) -> int:
        """Runs that never finished and whose process is gone become "interrupted"; returns how many."""
        now = time.time() if now is None else now
        runs = schema.runs
        with self._transaction(write=False) as connection:
            running = connection.execute(
                select(runs.c.id, runs.c.host, runs.c.pid, runs.c.started_at).where(
                    runs.c.outcome == "running"
                )
            ).all()
        lost = [
            row.id
            for row in running
            if now - row.started_at > STALE_AFTER_S or (row.host == HOST and not _process_alive(row.pid))
        ]
        if lost:
            with self._transaction(write=True) as connection:
                connection.execute(
                    update(runs)
                    .where(runs.c.id.in_(lost), runs.c.outcome == "running")
                    .values(outcome="interrupted", ended_at=now)
                )
        return len(lost)

    def prune(self, retention_days: int | None = None, now: float | None = None) -> records.PruneResult:
        """Delete runs, audit and feedback older than the retention, and expired cache entries."""
        now = time.time() if now is None else now
        cutoff = now - DAY_S * (retention_days if retention_days is not None else self.config.retention_days)
        with self._transaction(write=True) as connection:
            with rollup.around(connection, rollup.pruned_runs(connection, cutoff)):
                removed = [
                    connection.execute(delete(schema.runs).where(schema.runs.c.started_at < cutoff)).rowcount,
                    connection.execute(delete(schema.audit).where(schema.audit.c.at < cutoff)).rowcount,
                    connection.execute(delete(schema.feedback).where(schema.feedback.c.at < cutoff)).rowcount,
                ]
            rollup.forget_runs_before(connection, cutoff)
            cache = schema.cache_entries
            expired = delete(cache).where(cache.c.created_at + cache.c.ttl_s < now)
            removed.append(connection.execute(expired).rowcount)
        return records.PruneResult(*removed)

    # -- reads --------------------------------------------------------------------------------------

    def history(
        self, limit: int = 20, *, user: str | None = None, workspace: str | None = None
    ) -> list[records.RunSummary]:
        """The newest runs, newest first."""
        with self._transaction(write=False) as connection:
            return queries.history(connection, limit, user, workspace)

    def show(self, run_id: str) -> records.RunDetail | None:
        """One run in full (`run_id` or a unique prefix of it), or None."""
        with self._transaction(write=False) as connection:
            return queries.show(connection, run_id, self.cipher)

    def is_suppressed(self, fingerprint: str, user: str | None = None) -> bool:
        """Whether findings with this fingerprint are hidden for the user."""
        with self._transaction(write=False) as connection:
            return queries.is_suppressed(connection, fingerprint, user or self.user)

    def suppressed(self, fingerprints: Sequence[str], user: str | None = None) -> set[str]:
        """Those of `fingerprints` whose findings are hidden for the user (one query per 500)."""
        if not fingerprints:
            return set()
        with self._transaction(write=False) as connection:
            return queries.suppressed_among(connection, fingerprints, user or self.user)

    def suppressed_fingerprints(self, user: str | None = None) -> frozenset[str]:
        """Every fingerprint whose findings are hidden for the user (what a review leaves out)."""
        with self._transaction(write=False) as connection:
            return queries.suppressed_fingerprints(connection, user or self.user)

    def finding(self, finding_id: str) -> records.FindingRecord | None:
        """One merged finding by its id (`chorus feedback`, dismissing it), or None."""
        with self._transaction(write=False) as connection:
            return queries.finding(connection, finding_id, self.cipher)

    def suppressions(self, user: str | None = None) -> list[records.Suppression]:
        """The user's suppressions and the team's shared ones."""
        with self._transaction(write=False) as connection:
            return queries.suppressions(connection, user or self.user)

    def cache_get(self, key: str, now: float | None = None) -> str | None:
        """The cached answer under `key`, or None (missing, expired, sealed with another key)."""
        with self._transaction(write=False) as connection:
            return queries.cached_answer(connection, key, time.time() if now is None else now, self.cipher)

    def export(self) -> dict[str, records.JSONValue]:
        """Everything but code and cached answers, JSON-able."""
        with self._transaction(write=False) as connection:
            return queries.export(connection, self.revision)
