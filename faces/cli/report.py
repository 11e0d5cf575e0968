"""Human-readable reports for the `chorus` command line, linter style.

`path:line:col severity [2/3 models] message`, followed by each fix as a unified
diff and a line per panel seat. Progress goes to stderr; reports go to stdout.
Every value is printed through `faces.cli.terminal.say`, so model text, paths and
diffs are shown literally: no Rich markup, emoji codes or terminal escapes take effect.
"""

from __future__ import annotations

import difflib

from rich.console import Console
from rich.markdown import Markdown

from faces.cli.terminal import plain, say
from orchestration.machine_form import agreement_words
from orchestration.types.findings import Fix, MergedFinding, Severity
from orchestration.types.requests import SourceDocument, lsp_lines
from orchestration.types.results import ExplainResult, ImplementResult, ModelStatus, ReviewResult

SEVERITY_STYLE = {
    Severity.ERROR: "bold red",
    Severity.WARNING: "yellow",
    Severity.INFO: "cyan",
    Severity.HINT: "dim",
}


def fix_diff(document: SourceDocument, fix: Fix) -> str:
    """A unified diff of what a fix changes."""
    old = document.lines
    first, last = fix.start_line, min(fix.end_line, len(old))
    replaced = lsp_lines(fix.replacement)
    new = old[: first - 1] + replaced + old[last:]
    diff = difflib.unified_diff(old, new, document.path, document.path, n=1, lineterm="")
    return "\n".join(diff)


def code_diff(document: SourceDocument, new_text: str) -> str:
    """A unified diff between the document and a new version of it."""
    diff = difflib.unified_diff(
        document.lines, lsp_lines(new_text), document.path, document.path, n=1, lineterm=""
    )
    return "\n".join(diff)


def render_models(console: Console, models: list[ModelStatus], arbiter: ModelStatus | None = None) -> None:
    """One line per seat: status, latency and reason."""
    ok = sum(1 for m in models if m.status == "ok")
    say(console, "[bold]Panel:[/] {}/{} models answered", ok, len(models))
    for status in [*models, *([arbiter] if arbiter else [])]:
        role = " (arbiter)" if status is arbiter else ""
        mark = "[green]✓[/]" if status.status == "ok" else "[red]✗[/]"
        latency = f" {status.latency_ms / 1000:.1f} s" if status.latency_ms is not None else ""
        reason = f" — {status.error}" if status.error else ""
        say(
            console,
            "  " + mark + " {}{} [dim]{}[/] {}{}{}",
            status.name,
            role,
            status.model,
            status.status,
            latency,
            reason,
        )


def render_finding(console: Console, finding: MergedFinding, document: SourceDocument) -> None:
    """The linter line for one merged finding, each seat's words and its top fix."""
    style = SEVERITY_STYLE[finding.severity]
    agreement = f"[{agreement_words(finding)}]"
    verdict = f" (arbiter: {finding.arbiter_verdict})" if finding.arbiter_verdict else ""
    say(
        console,
        "{}:{}:1 [" + style + "]{}[/] {} [dim]{}[/] {}{}",
        document.path,
        finding.start_line,
        finding.severity.value,
        agreement,
        finding.category.value,
        finding.message,
        verdict,
    )
    if finding.votes > 1 or finding.opinions[0].message != finding.message:
        for opinion in finding.opinions:
            say(console, "    [dim]{}: {}[/]", opinion.model, opinion.message)
    for ranked in finding.fixes[:1]:
        say(console, "    [green]fix[/] proposed by {} ({} votes):", ", ".join(ranked.models), ranked.votes)
        say(console, "{}", fix_diff(document, ranked.fix))


def render_review(console: Console, result: ReviewResult, document: SourceDocument) -> None:
    """The whole review report."""
    if result.notice:
        say(console, "[bold cyan]note:[/] {}", result.notice)
    where = f"{document.path}:{result.start_line}-{result.end_line}"
    if not result.findings:
        say(console, "No findings in {}.", where)
    for finding in result.findings:
        render_finding(console, finding, document)
    say(console, "{} finding(s) in {}", len(result.findings), where)
    render_models(console, result.models, result.arbiter)


def render_implementation(console: Console, result: ImplementResult, document: SourceDocument) -> None:
    """Candidates best first, each with its checks and a diff."""
    from orchestration.code.candidates import apply_candidate

    if result.notice:
        say(console, "[bold cyan]note:[/] {}", result.notice)
    stub = result.stub
    if stub is not None:
        say(console, "Stub [bold]{}[/] at {}:{}-{}", stub.name, document.path, stub.start_line, stub.end_line)
    if not result.candidates:
        say(console, "No candidate implementation.")
    for rank, candidate in enumerate(result.candidates, start=1):
        state = "[green]valid[/]" if candidate.valid else "[red]invalid[/]"
        tests = {True: ", tests pass", False: ", tests fail", None: ""}[candidate.tests_passed]
        say(
            console,
            "#{} {} — {} vote(s), " + state + "{}",
            rank,
            ", ".join(candidate.models),
            candidate.votes,
            tests,
        )
        for problem in candidate.problems:
            say(console, "    [red]problem:[/] {}", problem)
        if stub is not None:
            say(console, "{}", code_diff(document, apply_candidate(document.text, stub, candidate.code)))
    render_models(console, result.models)


def render_explanation(console: Console, result: ExplainResult, document: SourceDocument) -> None:
    """The markdown explanation and its fixes."""
    if result.notice:
        say(console, "[bold cyan]note:[/] {}", result.notice)
    console.print(Markdown(plain(result.explanation or "_No explanation._"), hyperlinks=False))
    for ranked in result.fixes:
        say(console, "[green]fix[/] proposed by {} ({} votes):", ", ".join(ranked.models), ranked.votes)
        say(console, "{}", fix_diff(document, ranked.fix))
    render_models(console, result.models, result.arbiter)
