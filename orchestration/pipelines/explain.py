"""Explain the diagnostics on some lines: one explanation from many seats, plus fixes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from orchestration.answers.parsing import parse_explanation
from orchestration.answers.prompts import EXPLAIN_SCHEMA, explain_messages, number_lines
from orchestration.merge.consensus import rank_fixes
from orchestration.offload import off_loop
from orchestration.panel.arbiter import combine_explanations, synthesize_explanation
from orchestration.panel.fanout import Seat
from orchestration.panel.seats import PanelRun
from orchestration.pipelines.review import indent_like_original
from orchestration.pipelines.skeleton import ArbiterStep, OpenedRequest, Pipeline, seats_asked_alike
from orchestration.privacy.roundtrip import restore_ranked, withheld_notice
from orchestration.types.config import Task
from orchestration.types.findings import Fix
from orchestration.types.requests import ExplainRequest
from orchestration.types.results import ExplainResult, ModelStatus

Explanation = tuple[str, Fix | None]
"""One seat's answer: its Markdown explanation and the fix it proposes, if any."""


def summarize_diagnostics(request: ExplainRequest) -> str:
    """The diagnostics being explained, one per line, for the arbiter."""
    if not request.diagnostics:
        return f"(no diagnostics given; lines {request.start_line}-{request.end_line})"
    return "\n".join(
        f"lines {d.start_line}-{d.end_line} [{d.source or 'unknown source'}"
        f"{' ' + d.code if d.code else ''}]: {d.message}"
        for d in request.diagnostics
    )


def explanation_texts(answers: dict[str, Explanation]) -> dict[str, str]:
    """Each seat's explanation, without its fix."""
    return {name: text for name, (text, _fix) in answers.items()}


@dataclass(slots=True)
class ExplainPipeline(Pipeline[ExplainRequest, Explanation, ExplainResult]):
    """Ask every explain seat at once; return one markdown explanation and the ranked fixes.

    With an arbiter the explanations are synthesized into one text that names the
    disagreements; without one (or when the arbiter fails) they are combined and
    attributed to their seats. Raises `InputError` before anything is sent for lines that
    do not exist, a file over `policy.max_file_bytes` or a prompt no seat's budget holds.
    Fixes that would write a redaction placeholder get the secret back or are withheld.
    """

    task: ClassVar[Task] = "explain"
    json_schema: ClassVar[dict[str, Any]] = EXPLAIN_SCHEMA

    first: int = field(default=0, init=False)
    last: int = field(default=0, init=False)

    def check(self) -> None:
        self.first, self.last = self.request.selection()

    def span(self) -> tuple[int, int] | None:
        return self.first, self.last

    async def seat(self, opened: OpenedRequest) -> tuple[list[Seat], list[ModelStatus]]:
        safe_request = self.request.model_copy(
            update={"document": opened.document, "start_line": self.first, "end_line": self.last}
        )
        return await seats_asked_alike(opened, explain_messages(safe_request))

    def parse(self, raw: str, seat: Seat, opened: OpenedRequest) -> Explanation:
        lines = opened.document.lines
        # A fix may reach beyond the diagnostic's lines (an import, the enclosing function).
        text, fix = parse_explanation(raw, start_line=1, end_line=max(1, len(lines)))
        return text, indent_like_original(fix, lines) if fix is not None else None

    def combined(
        self, answers: dict[str, Explanation], models: list[ModelStatus], opened: OpenedRequest, final: bool
    ) -> ExplainResult:
        """The explanations combined and the fixes ranked (blocking; long texts run in a worker thread)."""
        fixes = {name: fix for name, (_text, fix) in answers.items() if fix is not None}
        ranked, withheld = restore_ranked(
            rank_fixes(fixes, opened.weights), self.request.document.lines, opened.document.lines
        )
        return ExplainResult(
            path=self.request.document.path,
            start_line=self.first,
            end_line=self.last,
            explanation=combine_explanations(explanation_texts(answers)),
            fixes=ranked,
            models=models,
            final=final,
            withheld=withheld,
            notice=withheld_notice(withheld),
        )

    async def result(
        self, run: PanelRun[Explanation], opened: OpenedRequest, *, final: bool
    ) -> ExplainResult:
        size = sum(len(text) for text, _fix in run.answers.values())
        return await off_loop(self.combined, dict(run.answers), run.models, opened, final, size=size)

    def arbiter_step(
        self, result: ExplainResult, run: PanelRun[Explanation], opened: OpenedRequest
    ) -> ArbiterStep[str, ExplainResult] | None:
        if len(run.answers) < 2:
            return None
        texts = explanation_texts(run.answers)
        excerpt = number_lines(opened.document.lines, self.first, self.last)
        summary = summarize_diagnostics(self.request)

        def keep(synthesized: str | None, status: ModelStatus | None) -> ExplainResult:
            return result.model_copy(
                update={"explanation": synthesized or result.explanation, "arbiter": status}
            )

        return ArbiterStep(lambda complete: synthesize_explanation(texts, summary, excerpt, complete), keep)


explain_diagnostics = ExplainPipeline.answer
"""`await explain_diagnostics(request, config, workspace=..., on_event=..., memory=...)`: see
`ExplainPipeline`."""
