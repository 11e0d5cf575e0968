"""The pipeline skeleton on its own: a minimal task over the fake model server, step by step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from orchestration.panel.arbiter import CompleteChat
from orchestration.panel.fanout import Seat
from orchestration.panel.seats import PanelRun
from orchestration.pipelines.explain import ExplainPipeline, explain_diagnostics
from orchestration.pipelines.implement import ImplementPipeline, implement_stub
from orchestration.pipelines.review import ReviewPipeline, review_selection
from orchestration.pipelines.skeleton import ArbiterStep, OpenedRequest, Pipeline, seats_asked_alike
from orchestration.types.config import Task
from orchestration.types.errors import InputError
from orchestration.types.requests import ReviewRequest, SourceDocument
from orchestration.types.results import ModelStatus, PanelEvent, ResultUpdate, ReviewResult, SeatFinished
from tests.fake_models import FakeModelServer, make_config

SECRET = "sk-live-0123456789abcdefghijklmnopqrstuv"
TEXT = f'API_KEY = "{SECRET}"\nprint("hello")\n'


@dataclass(slots=True)
class EchoPipeline(Pipeline[ReviewRequest, str, ReviewResult]):
    """Asks every review seat the same question; the result's notice lists the answers in seat order."""

    task: ClassVar[Task] = "review"
    json_schema: ClassVar[dict[str, Any]] = {"type": "object"}

    steps: list[str] = field(default_factory=list, init=False)
    seen_document: str = field(default="", init=False)

    def check(self) -> None:
        self.steps.append("check")
        self.request.selection()

    async def seat(self, opened: OpenedRequest) -> tuple[list[Seat], list[ModelStatus]]:
        self.steps.append("seat")
        self.seen_document = opened.document.text
        return await seats_asked_alike(opened, [{"role": "user", "content": opened.document.text}])

    def parse(self, raw: str, seat: Seat, opened: OpenedRequest) -> str:
        return raw.strip()

    async def result(self, run: PanelRun[str], opened: OpenedRequest, *, final: bool) -> ReviewResult:
        self.steps.append("final" if final else "partial")
        notice = ", ".join(run.answers[name] for name in run.answered) or None
        return ReviewResult(
            path="a.py", start_line=1, end_line=2, findings=[], models=run.models, final=final, notice=notice
        )

    def arbiter_step(
        self, result: ReviewResult, run: PanelRun[str], opened: OpenedRequest
    ) -> ArbiterStep[str, ReviewResult] | None:
        self.steps.append("arbiter")

        async def ask(complete: CompleteChat) -> str:
            return await complete([{"role": "user", "content": "one word"}])

        def apply(word: str | None, status: ModelStatus | None) -> ReviewResult:
            return result.model_copy(update={"notice": f"{result.notice} → {word}", "arbiter": status})

        return ArbiterStep(ask, apply)

    async def restored(self, result: ReviewResult, opened: OpenedRequest) -> ReviewResult:
        self.steps.append("restored")
        return result


def request(text: str = TEXT, first: int = 1) -> ReviewRequest:
    return ReviewRequest(document=SourceDocument(path="a.py", text=text), start_line=first)


async def test_the_skeleton_runs_every_step_in_order_and_reports_the_final_result(
    model_server: FakeModelServer,
) -> None:
    model_server.script("alpha", "one")
    model_server.script("beta", "two", latency=0.2)
    model_server.script("judge", "three")
    config = make_config(
        model_server, ["alpha", "beta", "judge"], panels={"review": ["alpha", "beta"], "arbiter": "judge"}
    )
    pipeline = EchoPipeline(request(), config, None)
    events: list[PanelEvent] = []

    async def on_event(event: PanelEvent) -> None:
        events.append(event)

    result = await pipeline.run(on_event)
    assert pipeline.steps == ["check", "seat", "partial", "restored", "final", "arbiter", "restored"]
    assert SECRET not in pipeline.seen_document and "<redacted:" in pipeline.seen_document
    assert result.notice == "one, two → three" and result.arbiter is not None and result.final
    assert [type(event).__name__ for event in events if isinstance(event, SeatFinished)] == [
        "SeatFinished"
    ] * 2
    assert isinstance(events[-1], ResultUpdate) and events[-1].result == result
    for recorded in model_server.requests_for("alpha"):
        assert SECRET not in str(recorded.messages)


async def test_without_an_arbiter_the_arbiter_step_is_not_even_built(model_server: FakeModelServer) -> None:
    model_server.script("alpha", "one")
    pipeline = EchoPipeline(
        request(), make_config(model_server, ["alpha"], panels={"review": ["alpha"]}), None
    )
    result = await pipeline.run()
    assert "arbiter" not in pipeline.steps and result.arbiter is None and result.notice == "one"


async def test_check_refuses_before_anything_is_opened_or_sent(model_server: FakeModelServer) -> None:
    config = make_config(model_server, ["alpha"], panels={"review": ["alpha"]})
    pipeline = EchoPipeline(request(first=99), config, None)
    with pytest.raises(InputError):
        await pipeline.run()
    assert pipeline.steps == ["check"] and model_server.requests == []


def test_the_three_tasks_are_pipelines_and_their_functions_are_the_classes_answer() -> None:
    tasks = {
        ReviewPipeline: review_selection,
        ImplementPipeline: implement_stub,
        ExplainPipeline: explain_diagnostics,
    }
    for pipeline, function in tasks.items():
        assert issubclass(pipeline, Pipeline)
        assert function == pipeline.answer
    assert [pipeline.task for pipeline in tasks] == ["review", "implement", "explain"]
