"""What the memory knows about one file: its past merged findings and the verdicts on them.

`recall_findings(store, paths, limit=...)` reads the findings of every run recorded on any of
`paths` (a run stores its file relative to its workspace, or as given when outside it: pass both
forms), newest run first, each with the user's verdicts in the order they were given. The MCP
face's `recall` tool shows them to an agent before it edits the file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select

from orchestration.memory import schema
from orchestration.memory.stats import reading
from orchestration.memory.store import Store

RECALL_LIMIT: Final = 50


@dataclass(frozen=True, slots=True)
class RecalledFinding:
    """One merged finding of a past run on the file, with the verdicts given on it."""

    finding_id: str
    run_id: str
    task: str
    started_at: float
    start_line: int
    end_line: int
    votes: int
    panel_size: int
    severity: str
    category: str
    message: str
    models: tuple[str, ...]
    verdicts: tuple[str, ...]


def recall_findings(
    store: Store, paths: Sequence[str], *, limit: int = RECALL_LIMIT
) -> list[RecalledFinding]:
    """The newest `limit` findings recorded on any of `paths` (newest run first, then by line).

    Raises `StoreError` when the database cannot be read.
    """
    runs, findings, feedback = schema.runs, schema.findings, schema.feedback
    query = (
        select(
            findings.c.id, findings.c.run_id, runs.c.task, runs.c.started_at, findings.c.start_line,
            findings.c.end_line, findings.c.votes, findings.c.panel_size, findings.c.severity,
            findings.c.category, findings.c.message, findings.c.models,
        )
        .join(runs, runs.c.id == findings.c.run_id)
        .where(runs.c.path.in_(list(dict.fromkeys(paths))))
        .order_by(runs.c.started_at.desc(), findings.c.start_line, findings.c.id)
        .limit(limit)
    )  # fmt: skip
    with reading(store) as connection:
        rows = connection.execute(query).all()
        ids = [str(row.id) for row in rows]
        verdicts: dict[str, list[str]] = defaultdict(list)
        if ids:
            given = select(feedback.c.finding_id, feedback.c.verdict).where(feedback.c.finding_id.in_(ids))
            for finding_id, verdict in connection.execute(given.order_by(feedback.c.at)):
                verdicts[str(finding_id)].append(str(verdict))
    return [
        RecalledFinding(
            finding_id=str(row.id),
            run_id=str(row.run_id),
            task=row.task,
            started_at=row.started_at,
            start_line=row.start_line,
            end_line=row.end_line,
            votes=row.votes,
            panel_size=row.panel_size,
            severity=row.severity,
            category=row.category,
            message=row.message,
            models=tuple(str(m) for m in row.models) if isinstance(row.models, list) else (),
            verdicts=tuple(verdicts.get(str(row.id), ())),
        )
        for row in rows
    ]
