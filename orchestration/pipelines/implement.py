"""Implement a stub function: every seat writes a candidate; Chorus checks and ranks them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from orchestration.answers.parsing import parse_implementation
from orchestration.answers.prompts import IMPLEMENT_SCHEMA, implement_messages
from orchestration.code.candidates import build_candidates
from orchestration.code.stubs import find_stub
from orchestration.panel.budgets import check_file_size
from orchestration.panel.fanout import Seat
from orchestration.panel.seats import PanelRun
from orchestration.pipelines.skeleton import OpenedRequest, Pipeline, seats_asked_alike
from orchestration.privacy.roundtrip import restore_codes, withheld_notice
from orchestration.types.config import Task
from orchestration.types.errors import StubNotFoundError
from orchestration.types.requests import ImplementRequest
from orchestration.types.results import ImplementResult, ModelStatus, StubLocation


@dataclass(slots=True)
class ImplementPipeline(Pipeline[ImplementRequest, str, ImplementResult]):
    """Ask every implement seat for the stub's body; return validated candidates, best first.

    Partial results rank candidates on syntax and agreement only; the final result
    also runs `policy.validate_command` on each valid candidate. Raises
    `StubNotFoundError` when no stub function is at `request.line`, and `InputError` for a
    line past the end, a file over `policy.max_file_bytes` or a prompt no seat's budget
    holds. A candidate that would write a redaction placeholder gets the secret back or is
    withheld (`orchestration.privacy.roundtrip`). There is no arbiter step: the candidates are
    checked and ranked instead.
    """

    task: ClassVar[Task] = "implement"
    json_schema: ClassVar[dict[str, Any]] = IMPLEMENT_SCHEMA

    stub: StubLocation = field(init=False)
    """The stub function at the request's line, found by `check`."""

    def check(self) -> None:
        line = self.request.checked_line()
        original = self.request.document
        check_file_size(original, self.config.policy)
        stub = find_stub(original, line)
        if stub is None:
            raise StubNotFoundError(
                f"no stub function at {original.path}:{self.request.line} (a function whose body is only "
                "pass, ..., raise NotImplementedError, throw new Error(...) or a TODO comment)"
            )
        self.stub = stub

    def span(self) -> tuple[int, int] | None:
        return self.stub.start_line, self.stub.end_line

    async def seat(self, opened: OpenedRequest) -> tuple[list[Seat], list[ModelStatus]]:
        safe_request = self.request.model_copy(update={"document": opened.document})
        return await seats_asked_alike(opened, implement_messages(safe_request, self.stub))

    def parse(self, raw: str, seat: Seat, opened: OpenedRequest) -> str:
        return parse_implementation(raw)

    async def result(self, run: PanelRun[str], opened: OpenedRequest, *, final: bool) -> ImplementResult:
        original = self.request.document
        codes, withheld = restore_codes(run.answers, self.stub, original.lines, opened.document.lines)
        policy = (
            self.config.policy if final else self.config.policy.model_copy(update={"validate_command": None})
        )
        candidates = await build_candidates(
            original, self.stub, codes, weights=opened.weights, policy=policy, workspace=self.workspace
        )
        return ImplementResult(
            path=original.path,
            stub=self.stub,
            candidates=candidates,
            models=run.models,
            final=final,
            withheld=withheld,
            notice=withheld_notice(withheld),
        )


implement_stub = ImplementPipeline.answer
"""`await implement_stub(request, config, workspace=..., on_event=..., memory=...)`: see
`ImplementPipeline`."""
