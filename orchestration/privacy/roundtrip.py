"""The redaction round trip: models see `<redacted:KIND>` placeholders; editors must never get them back.

Every fix (review, explain) and candidate (implement) that contains a placeholder is passed
through `privacy.restore_placeholders` with the lines it replaces, as the file has them and as
the models saw them. When each placeholder stands for exactly one hidden value, the original
text is put back; otherwise the fix is withheld (dropped from the result) and the result's
`withheld` list says which fix and why. A fix without placeholders is returned unchanged, even
when it replaces a redacted line: it does not write a placeholder, it rewrites the code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from orchestration.privacy.gate import PLACEHOLDER_PREFIX, restore_placeholders
from orchestration.types.findings import Fix, MergedFinding, RankedFix, line_span
from orchestration.types.results import StubLocation

WITHHELD_BECAUSE: Final = (
    "it contains a redaction placeholder that cannot be matched to the secret it hides, "
    "so applying it would overwrite the secret"
)


def restored_text(
    replacement: str, first: int, last: int, original: Sequence[str], redacted: Sequence[str]
) -> str | None:
    """`replacement` for lines `first..last` with its placeholders restored, or None to withhold it."""
    return restore_placeholders(replacement, original[first - 1 : last], redacted[first - 1 : last])


def restore_fix(fix: Fix, original: Sequence[str], redacted: Sequence[str]) -> Fix | None:
    """The fix with the original text back in place of its placeholders, or None to withhold it."""
    replacement = restored_text(fix.replacement, fix.start_line, fix.end_line, original, redacted)
    if replacement is None:
        return None
    return fix if replacement is fix.replacement else fix.model_copy(update={"replacement": replacement})


def restore_ranked(
    fixes: Sequence[RankedFix], original: Sequence[str], redacted: Sequence[str]
) -> tuple[list[RankedFix], list[str]]:
    """The ranked fixes restored, the withheld ones dropped; and a note per withheld fix."""
    kept: list[RankedFix] = []
    notes: list[str] = []
    for ranked in fixes:
        fix = restore_fix(ranked.fix, original, redacted)
        if fix is None:
            span, proposers = line_span(ranked.fix.start_line, ranked.fix.end_line), ", ".join(ranked.models)
            notes.append(f"a fix for {span} from {proposers} was withheld: {WITHHELD_BECAUSE}")
        else:
            kept.append(ranked if fix is ranked.fix else ranked.model_copy(update={"fix": fix}))
    return kept, notes


def restore_findings(
    findings: Sequence[MergedFinding], original: Sequence[str], redacted: Sequence[str]
) -> tuple[list[MergedFinding], list[str]]:
    """Merged findings with their fixes restored; a finding whose fix is withheld keeps its message."""
    result: list[MergedFinding] = []
    notes: list[str] = []
    for finding in findings:
        if not any(PLACEHOLDER_PREFIX in ranked.fix.replacement for ranked in finding.fixes):
            result.append(finding)
            continue
        fixes, withheld = restore_ranked(finding.fixes, original, redacted)
        result.append(finding.model_copy(update={"fixes": fixes}))
        notes.extend(withheld)
    return result, notes


def restore_codes(
    codes: Mapping[str, str], stub: StubLocation, original: Sequence[str], redacted: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """Each seat's candidate code restored for the stub's lines; withheld candidates dropped, with a note."""
    kept: dict[str, str] = {}
    notes: list[str] = []
    for seat, code in codes.items():
        restored = restored_text(code, stub.start_line, stub.end_line, original, redacted)
        if restored is None:
            notes.append(f"{seat}'s candidate for {stub.name} was withheld: {WITHHELD_BECAUSE}")
        else:
            kept[seat] = restored
    return kept, notes


def withheld_notice(notes: Sequence[str]) -> str | None:
    """One line for the result's `notice` when fixes were withheld."""
    if not notes:
        return None
    count = len(notes)
    return f"{count} fix{'es' * (count != 1)} withheld to protect redacted secrets: " + "; ".join(notes)
