"""Who a merged finding is, for the memory: its cluster key, fingerprint, id, and the panel's conflicts.

A finding's **cluster key** names the problem: its category and the problem kinds its message names
(`orchestration.merge.wording.problem_kinds`: "division by zero", "sql injection", ...), or the
normalized message when it names none, so rewordings of one problem keep one key. Its
**fingerprint** (`records.code_fingerprint`) is that key over the normalized lines around it
(`CONTEXT_LINES` either side): a dismissed finding stays hidden while that code is unchanged,
wherever it moves, and comes back when the code around it changes. Its **id** is
`records.stable_finding_id(run_id, fingerprint)`: the same in partial and final results.

Conflicts are where seats disagreed: a finding some answering seats reported and others did not
("missing"), seats that gave one finding different severities ("severity_split"), and a finding
the arbiter rejected ("arbiter_overrule").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from orchestration.memory.records import (
    ConflictKind,
    ConflictRecord,
    FindingRecord,
    code_fingerprint,
    stable_finding_id,
)
from orchestration.merge.wording import PROBLEM_KINDS, normalize_message, problem_kinds
from orchestration.types.findings import MergedFinding, Severity

CONTEXT_LINES: Final = 2
"""Lines above and below a finding that belong to its fingerprint."""


def problem_key(category: str, message: str) -> str:
    """'bug:division by zero', or 'style:<normalized message>' when the message names no known kind."""
    norm = normalize_message(message)
    kinds = problem_kinds(norm)
    named = "+".join(kind for index, kind in enumerate(PROBLEM_KINDS) if kinds >> index & 1)
    return f"{category}:{named or norm}"


def cluster_key(finding: MergedFinding) -> str:
    """The finding's problem, as `problem_key` names it."""
    return problem_key(finding.category.value, finding.message)


def finding_fingerprint(finding: MergedFinding, lines: Sequence[str]) -> str:
    """The fingerprint of `finding` on `lines` (the document's lines, 1-based in the finding)."""
    first = max(1, finding.start_line - CONTEXT_LINES)
    last = min(len(lines), finding.end_line + CONTEXT_LINES)
    return code_fingerprint(lines[first - 1 : last], cluster_key(finding))


@dataclass(frozen=True, slots=True)
class Identified:
    """A finding with its id set, and its fingerprint."""

    finding: MergedFinding
    fingerprint: str


def identify(findings: Iterable[MergedFinding], lines: Sequence[str], run_id: str) -> list[Identified]:
    """Each finding with its stable id (twins on the same code and problem get distinct ids)."""
    seen: dict[str, int] = {}
    identified = []
    for finding in findings:
        fingerprint = finding_fingerprint(finding, lines)
        twin = seen.get(fingerprint, 0)
        seen[fingerprint] = twin + 1
        finding_id = stable_finding_id(run_id, fingerprint if not twin else f"{fingerprint}:{twin}")
        identified.append(Identified(finding.model_copy(update={"finding_id": finding_id}), fingerprint))
    return identified


def finding_record(finding: MergedFinding, run_id: str, fingerprint: str | None) -> FindingRecord:
    """The merged finding as the store keeps it (the best fix as its code, kept only with keep_code)."""
    return FindingRecord(
        finding_id=finding.finding_id or stable_finding_id(run_id, fingerprint or finding.message),
        run_id=run_id,
        start_line=finding.start_line,
        end_line=finding.end_line,
        votes=finding.votes,
        panel_size=finding.panel,
        severity=finding.severity.value,
        category=finding.category.value,
        message=finding.message,
        models=tuple(finding.models),
        arbiter_verdict=finding.arbiter_verdict,
        fingerprint=fingerprint,
        fix=finding.fixes[0].fix.replacement if finding.fixes else None,
    )


def _conflict(
    kind: ConflictKind,
    finding: MergedFinding,
    run_id: str,
    sides: tuple[Sequence[str], Sequence[str]],
    detail: str,
) -> ConflictRecord:
    return ConflictRecord(
        run_id=run_id,
        kind=kind,
        finding_id=finding.finding_id,
        start_line=finding.start_line,
        end_line=finding.end_line,
        models_for=tuple(sides[0]),
        models_against=tuple(sides[1]),
        detail=detail,
    )


def conflicts(
    findings: Iterable[MergedFinding], answered: Sequence[str], run_id: str, arbiter: str | None = None
) -> list[ConflictRecord]:
    """Where the answering seats disagreed about `findings` (see the module docstring)."""
    found: list[ConflictRecord] = []
    for finding in findings:
        silent = [seat for seat in answered if seat not in finding.models]
        if len(answered) > 1 and silent:
            detail = f"{finding.votes} of {len(answered)} answering seats reported it"
            found.append(_conflict("missing", finding, run_id, (finding.models, silent), detail))
        by_severity: dict[Severity, list[str]] = {}
        for opinion in finding.opinions:
            by_severity.setdefault(opinion.severity, []).append(opinion.model)
        if len(by_severity) > 1:
            agree = by_severity.get(finding.severity, [])
            differ = [op.model for op in finding.opinions if op.severity is not finding.severity]
            detail = "; ".join(
                f"{severity.value}: {', '.join(models)}"
                for severity, models in sorted(by_severity.items(), key=lambda item: item[0].lsp_value)
            )
            found.append(_conflict("severity_split", finding, run_id, (agree, differ), detail))
        if finding.arbiter_verdict == "rejected":
            against = [arbiter] if arbiter else []
            detail = "rejected by the arbiter"
            found.append(_conflict("arbiter_overrule", finding, run_id, (finding.models, against), detail))
    return found
