"""The machine form of results: plain JSON in LSP's shapes (0-based ranges), typed.

`chorus ... --json` prints it and the language server structures it into lsprotocol
types, so both speak exactly the same language. A recorded run's id is `runId`, each finding's
`data.findingId` (None when nothing was recorded). Lines here become LSP positions:
a fix replacing lines 5..7 becomes a TextEdit from (4, 0) to (7, 0). The shapes are
TypedDicts (`ReviewForm`, `ImplementForm`, `ExplainForm` and their parts); `JSONObject`
names what is left without a fixed shape: a JSON object a client sent.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

from orchestration.code.candidates import apply_candidate
from orchestration.types.findings import Fix, MergedFinding, RankedFix
from orchestration.types.requests import LINE_BREAK, SourceDocument
from orchestration.types.results import (
    ExplainResult,
    ImplementCandidate,
    ImplementResult,
    ModelStatus,
    ReviewResult,
    SeatState,
)

JSONObject = dict[str, Any]
"""A JSON object of no fixed shape: settings or diagnostics a client sent, lsprotocol's unstructured form."""


class PositionForm(TypedDict):
    """An LSP Position: 0-based line, column in code points (the server converts to client units)."""

    line: int
    character: int


class RangeForm(TypedDict):
    """An LSP Range."""

    start: PositionForm
    end: PositionForm


class TextEditForm(TypedDict):
    """An LSP TextEdit."""

    range: RangeForm
    newText: str


class WorkspaceEditForm(TypedDict):
    """An LSP WorkspaceEdit with text edits per document URI."""

    changes: dict[str, list[TextEditForm]]


class FixForm(TextEditForm):
    """A fix in a diagnostic's `data`: its TextEdit plus who proposed it."""

    votes: int
    models: list[str]


class DiagnosticData(TypedDict):
    """A Chorus diagnostic's `data`: the agreement behind it, the fixes on offer (best first), and the
    finding's id in the memory (`chorus/feedback {findingId, verdict}`; None when nothing was recorded)."""

    votes: int
    panel: int
    models: list[str]
    verdict: str | None
    fixes: list[FixForm]
    findingId: str | None


class LocationForm(TypedDict):
    """An LSP Location."""

    uri: str
    range: RangeForm


class RelatedInformationForm(TypedDict):
    """One model's own words on a finding, as LSP DiagnosticRelatedInformation."""

    location: LocationForm
    message: str


class DiagnosticForm(TypedDict):
    """An LSP Diagnostic for one merged finding."""

    range: RangeForm
    severity: int
    source: str
    code: str
    message: str
    data: DiagnosticData
    relatedInformation: list[RelatedInformationForm]


class ModelForm(TypedDict):
    """How one seat fared (`ModelStatus` as JSON): a reused answer is status "ok" with `cached` true."""

    name: str
    model: str
    status: SeatState
    latency_ms: float | None
    error: str | None
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    cached: bool


class StubForm(TypedDict):
    """The stub an implementation replaces (`StubLocation` as JSON, 1-based lines)."""

    name: str
    params: list[str]
    start_line: int
    end_line: int
    language: str


class ReviewForm(TypedDict):
    """A review: the findings as diagnostics and how each seat fared."""

    path: str
    range: RangeForm
    diagnostics: list[DiagnosticForm]
    models: list[ModelForm]
    arbiter: ModelForm | None
    final: bool
    notice: str | None
    runId: str | None


class CandidateForm(TypedDict):
    """One implementation candidate with the WorkspaceEdit that applies it."""

    title: str
    models: list[str]
    votes: int
    code: str
    valid: bool
    problems: list[str]
    tests_passed: bool | None
    edit: WorkspaceEditForm


class ImplementForm(TypedDict):
    """An implementation: the stub and its candidates, best first."""

    path: str
    stub: StubForm | None
    candidates: list[CandidateForm]
    models: list[ModelForm]
    final: bool
    notice: str | None
    runId: str | None


class FixActionForm(TypedDict):
    """A fix proposed with an explanation, as an LSP CodeAction."""

    title: str
    kind: str
    edit: WorkspaceEditForm


class ExplainForm(TypedDict):
    """An explanation: markdown, the fixes as code actions, and how each seat fared."""

    path: str
    explanation: str
    fixes: list[FixActionForm]
    models: list[ModelForm]
    arbiter: ModelForm | None
    final: bool
    notice: str | None
    runId: str | None


MachineForm = ReviewForm | ImplementForm | ExplainForm
"""What `--json` prints and the server sends, for any of the three tasks."""


def model_form(status: ModelStatus) -> ModelForm:
    """A seat's status as JSON (the keys are `ModelStatus`'s fields)."""
    return cast(ModelForm, status.model_dump())


def lines_with_ends(text: str) -> list[str]:
    """`text`'s lines with their line breaks, split as LSP does (`LINE_BREAK`: \\n, \\r\\n, \\r only).

    Unlike `str.splitlines`, a form feed, `\\x1c`-`\\x1e`, NEL or `\\u2028` stays inside its line.
    """
    lines: list[str] = []
    start = 0
    for line_break in LINE_BREAK.finditer(text):
        lines.append(text[start : line_break.end()])
        start = line_break.end()
    if start < len(text):
        lines.append(text[start:])
    return lines


def newline_of(text: str) -> str:
    """The document's newline style ("\\r\\n" or "\\n")."""
    return "\r\n" if "\r\n" in text else "\n"


def line_range(document: SourceDocument, start_line: int, end_line: int) -> RangeForm:
    """The LSP range covering lines `start_line..end_line` from the first to the last character."""
    lines = document.lines or [""]
    last = min(max(end_line, 1), len(lines))
    first = min(max(start_line, 1), last)
    return {
        "start": {"line": first - 1, "character": 0},
        "end": {"line": last - 1, "character": len(lines[last - 1])},
    }


def fix_text_edit(fix: Fix, document: SourceDocument) -> TextEditForm:
    """A TextEdit replacing whole lines `fix.start_line..fix.end_line` with the replacement."""
    lines = document.lines
    newline = newline_of(document.text)
    total = len(lines)
    last = min(fix.end_line, max(total, 1))
    first = min(fix.start_line, last)
    replacement = fix.replacement.replace("\r\n", "\n")
    if replacement and not replacement.endswith("\n"):
        replacement += "\n"
    ends_with_newline = document.text.endswith(("\n", "\r"))
    end: PositionForm
    if last < total or ends_with_newline:
        end = {"line": last, "character": 0}
    else:
        end = {"line": last - 1, "character": len(lines[last - 1]) if lines else 0}
        replacement = replacement.removesuffix("\n")
    return {
        "range": {"start": {"line": first - 1, "character": 0}, "end": end},
        "newText": replacement.replace("\n", newline),
    }


def ranked_fix_form(ranked: RankedFix, document: SourceDocument) -> FixForm:
    """A fix inside a diagnostic's `data`: its edit plus who proposed it."""
    return {**fix_text_edit(ranked.fix, document), "votes": ranked.votes, "models": ranked.models}


def agreement_words(finding: MergedFinding) -> str:
    """`2/3 models`, or with weighted voting `2/3 models · 81%`: how reports in words name the agreement."""
    weighted = f" · {finding.confidence:.0%}" if finding.confidence is not None else ""
    return f"{finding.votes}/{finding.panel} models{weighted}"


def agreement_label(finding: MergedFinding) -> str:
    """`[2/3]`, or with weighted voting `[2/3 · 81%]` (the finding's confidence)."""
    if finding.confidence is None:
        return f"[{finding.votes}/{finding.panel}]"
    return f"[{finding.votes}/{finding.panel} · {finding.confidence:.0%}]"


def finding_diagnostic(finding: MergedFinding, document: SourceDocument, uri: str = "") -> DiagnosticForm:
    """An LSP Diagnostic for one merged finding; the message leads with the agreement (`agreement_label`)."""
    where = line_range(document, finding.start_line, finding.end_line)
    return {
        "range": where,
        "severity": finding.severity.lsp_value,
        "source": "chorus",
        "code": finding.category.value,
        "message": f"{agreement_label(finding)} {finding.message}",
        "data": {
            "votes": finding.votes,
            "panel": finding.panel,
            "models": finding.models,
            "verdict": finding.arbiter_verdict,
            "fixes": [ranked_fix_form(ranked, document) for ranked in finding.fixes],
            "findingId": finding.finding_id,
        },
        "relatedInformation": [
            {
                "location": {"uri": uri, "range": line_range(document, op.start_line, op.end_line)},
                "message": f"{op.model}: {op.message}",
            }
            for op in finding.opinions
        ],
    }


def review_machine_form(result: ReviewResult, document: SourceDocument, uri: str = "") -> ReviewForm:
    """`{"diagnostics": [...], "models": [...]}` for a review."""
    return {
        "path": result.path,
        "range": line_range(document, result.start_line, result.end_line),
        "diagnostics": [finding_diagnostic(f, document, uri) for f in result.findings],
        "models": [model_form(m) for m in result.models],
        "arbiter": model_form(result.arbiter) if result.arbiter else None,
        "final": result.final,
        "notice": result.notice,
        "runId": result.run_id,
    }


def candidate_edit(
    candidate: ImplementCandidate, result: ImplementResult, document: SourceDocument
) -> TextEditForm:
    """The TextEdit that swaps the stub for the candidate (re-indented to fit)."""
    if result.stub is None:
        raise ValueError("an implementation result without a stub has no candidates to apply")
    new_text = apply_candidate(document.text, result.stub, candidate.code)
    old_lines = lines_with_ends(document.text)
    new_lines = lines_with_ends(new_text)
    first = candidate.start_line - 1
    grown = len(new_lines) - len(old_lines)
    replaced = "".join(new_lines[first : candidate.end_line + grown])
    fix = Fix(start_line=candidate.start_line, end_line=candidate.end_line, replacement=replaced)
    return fix_text_edit(fix, document)


def candidate_title(candidate: ImplementCandidate, panel: int) -> str:
    """A one-line label: who proposed it, how many agree, whether it checks out."""
    checks = "valid" if candidate.valid else "invalid: " + "; ".join(candidate.problems)[:80]
    if candidate.tests_passed is True:
        checks += ", tests pass"
    elif candidate.tests_passed is False:
        checks += ", tests fail"
    return f"{', '.join(candidate.models)} ({candidate.votes}/{panel} models, {checks})"


def implement_machine_form(result: ImplementResult, document: SourceDocument, uri: str) -> ImplementForm:
    """`{"candidates": [...], "models": [...]}` for an implementation, best candidate first."""
    panel = sum(1 for m in result.models if m.status == "ok")
    candidates: list[CandidateForm] = []
    for candidate in result.candidates:
        edit = candidate_edit(candidate, result, document)
        candidates.append(
            {
                "title": candidate_title(candidate, panel),
                "models": candidate.models,
                "votes": candidate.votes,
                "code": candidate.code,
                "valid": candidate.valid,
                "problems": candidate.problems,
                "tests_passed": candidate.tests_passed,
                "edit": {"changes": {uri: [edit]}},
            }
        )
    return {
        "path": result.path,
        "stub": cast(StubForm, result.stub.model_dump()) if result.stub else None,
        "candidates": candidates,
        "models": [model_form(m) for m in result.models],
        "final": result.final,
        "notice": result.notice,
        "runId": result.run_id,
    }


def explain_machine_form(result: ExplainResult, document: SourceDocument, uri: str) -> ExplainForm:
    """`{"explanation": markdown, "fixes": [CodeAction], "models": [...]}` for an explanation."""
    panel = sum(1 for m in result.models if m.status == "ok")
    fixes: list[FixActionForm] = [
        {
            "title": f"Fix ({ranked.votes}/{panel} models): "
            f"lines {ranked.fix.start_line}-{ranked.fix.end_line}",
            "kind": "quickfix",
            "edit": {"changes": {uri: [fix_text_edit(ranked.fix, document)]}},
        }
        for ranked in result.fixes
    ]
    return {
        "path": result.path,
        "explanation": result.explanation,
        "fixes": fixes,
        "models": [model_form(m) for m in result.models],
        "arbiter": model_form(result.arbiter) if result.arbiter else None,
        "final": result.final,
        "notice": result.notice,
        "runId": result.run_id,
    }
