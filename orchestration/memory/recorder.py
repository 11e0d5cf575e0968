"""One run, written down as it happens: `RunRecorder` turns a pipeline's steps into store records.

A pipeline with a memory makes one recorder per request (`RunRecorder.begin`: the `RunStart`), hands
its `audit` to the request's privacy gate (an `AuditRecord` per model call), and when it is done
records each seat (`seats`: a `SeatCall` with status, scrubbed error, latency, tokens, cost, its own
findings and a hash of its raw answer), the merged findings and conflicts (`findings`), and the end
(`end`: "ok", "partial", "failed" or "cancelled", with the notice). Everything goes through
`StoreWriter.submit`, which never blocks and never raises: recording costs a request microseconds,
and a store that fails costs it nothing. A face that calls a model outside a run (a model check)
hands its gate `audit_without_run(memory)`, so that call is logged too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlparse

from orchestration.memory.records import (
    AuditRecord,
    ConflictRecord,
    FindingRecord,
    RunEnd,
    RunOutcome,
    RunStart,
    SeatCall,
    SeatFinding,
    SeatStatus,
    content_hash,
)
from orchestration.privacy.audit import AuditHook, OutboundCall
from orchestration.types.config import ChorusConfig
from orchestration.types.requests import SourceDocument
from orchestration.types.results import ModelStatus

if TYPE_CHECKING:
    from orchestration.memory.writer import StoreWriter

ERROR_CLASS_CHARS: Final = 300
ARBITER_SUFFIX: Final = " (arbiter)"
"""Appended to the arbiter's seat name in the store, so it never collides with a panel seat's."""


def relative_path(path: str, workspace: Path | None) -> str:
    """`path` (a path or file: URI) relative to `workspace` when inside it, '/'-separated."""
    if path.startswith("file:"):
        path = unquote(urlparse(path).path)
    candidate = Path(path)
    if workspace is not None and candidate.is_absolute():
        for root in (Path(os.path.abspath(workspace)), workspace.resolve()):
            try:
                return candidate.relative_to(root).as_posix()
            except ValueError:
                continue
    return candidate.as_posix()


def audit_without_run(memory: StoreWriter) -> AuditHook:
    """An audit hook for calls made outside a recorded run (a face's model check): one row per call."""

    def audit(call: OutboundCall) -> None:
        memory.submit(
            AuditRecord(
                seat=call.seat,
                model=call.model,
                endpoint=call.endpoint,
                outcome=call.outcome,
                bytes_sent=call.bytes_sent,
                redactions=call.redactions,
                at=call.at,
            )
        )

    return audit


def config_hash(config: ChorusConfig) -> str:
    """SHA-256 of the configuration a run used (canonical JSON; no key is in it, only variable names)."""
    text = config.model_dump_json(exclude={"store"})
    return hashlib.sha256(text.encode()).hexdigest()


def seat_status(status: ModelStatus) -> SeatStatus:
    """The status the store records: a reused answer is "cached", everything else as it was."""
    return "cached" if status.cached and status.status == "ok" else status.status


def run_outcome(models: Sequence[ModelStatus]) -> RunOutcome:
    """ "ok" when every asked seat answered, "partial" when some did, "failed" when none did."""
    asked = [status for status in models if status.status != "skipped"]
    answered = sum(status.status == "ok" for status in asked)
    if not answered:
        return "failed"
    return "ok" if answered == len(asked) else "partial"


@dataclass(slots=True)
class RunRecorder:
    """Writes one run to the memory (see the module docstring)."""

    memory: StoreWriter
    run_id: str
    path: str | None
    span: tuple[int, int] | None
    ended: bool = field(default=False, init=False)

    @classmethod
    def begin(
        cls,
        memory: StoreWriter,
        *,
        task: str,
        document: SourceDocument,
        workspace: Path | None,
        span: tuple[int, int] | None,
        config: ChorusConfig,
        prompt_version: str,
        seats: Iterable[str],
    ) -> RunRecorder:
        """Record that a run on `document` began; returns its recorder."""
        path = relative_path(document.path, workspace)
        start = RunStart(
            task=task,
            workspace=str(workspace) if workspace is not None else None,
            path=path,
            start_line=span[0] if span else None,
            end_line=span[1] if span else None,
            content_hash=content_hash(document.text),
            config_hash=config_hash(config),
            prompt_version=prompt_version,
            seats=tuple(seats),
            code=document.text if memory.config.keep_code else None,
        )
        memory.submit(start)
        return cls(memory, start.run_id, path, span)

    def audit(self, call: OutboundCall) -> None:
        """The gate's audit hook: one `AuditRecord` per model call of this run."""
        self.memory.submit(
            AuditRecord(
                seat=call.seat,
                model=call.model,
                endpoint=call.endpoint,
                outcome=call.outcome,
                path=self.path,
                start_line=self.span[0] if self.span else None,
                end_line=self.span[1] if self.span else None,
                bytes_sent=call.bytes_sent,
                redactions=call.redactions,
                run_id=self.run_id,
                at=call.at,
            )
        )

    def seat_call(
        self, status: ModelStatus, *, findings: Sequence[SeatFinding] = (), answer_hash: str | None = None
    ) -> SeatCall:
        """`status` as the store's `SeatCall` of this run."""
        error = status.error[:ERROR_CLASS_CHARS] if status.error else None
        latency = round(status.latency_ms) if status.latency_ms is not None else None
        return SeatCall(
            run_id=self.run_id,
            seat=status.name,
            model=status.model,
            status=seat_status(status),
            error_class=error,
            latency_ms=latency,
            tokens_in=status.tokens_in,
            tokens_out=status.tokens_out,
            cost_usd=status.cost_usd,
            answer_hash=answer_hash,
            findings=tuple(findings),
        )

    def seats(
        self,
        models: Sequence[ModelStatus],
        *,
        opinions: Mapping[str, Sequence[SeatFinding]] | None = None,
        hashes: Mapping[str, str] | None = None,
        arbiter: ModelStatus | None = None,
    ) -> None:
        """Record every seat's call (and the arbiter's, named `<seat> (arbiter)`)."""
        for status in models:
            found = (opinions or {}).get(status.name, ())
            self.memory.submit(
                self.seat_call(status, findings=found, answer_hash=(hashes or {}).get(status.name))
            )
        if arbiter is not None:
            named = arbiter.model_copy(update={"name": arbiter.name + ARBITER_SUFFIX})
            self.memory.submit(self.seat_call(named))

    def findings(self, records: Iterable[FindingRecord], conflicts: Iterable[ConflictRecord] = ()) -> None:
        """Record the merged findings and the panel's conflicts."""
        for record in records:
            self.memory.submit(record)
        for conflict in conflicts:
            self.memory.submit(conflict)

    def end(self, outcome: RunOutcome, notice: str | None = None) -> None:
        """Record how the run ended (only the first call counts)."""
        if self.ended:
            return
        self.ended = True
        self.memory.submit(RunEnd(run_id=self.run_id, outcome=outcome, notice=notice))
