"""The explain pipeline end to end: seats explain over HTTP, explanations are combined or arbitrated."""

from __future__ import annotations

import json
import time

from orchestration.pipelines.explain import explain_diagnostics
from orchestration.providers.chat import ensure_litellm
from orchestration.types.config import ChorusConfig
from orchestration.types.requests import DiagnosticInput, ExplainRequest, SourceDocument
from tests.fake_models import FakeModelServer, make_config

APP = """\
interface User {
  name: string;
  email?: string;
}

export function emailDomain(user: User): string {
  return user.email.split("@")[1];
}
"""
FIX = {"start_line": 7, "end_line": 7, "replacement": '  return user.email?.split("@")[1] ?? "";\n'}


def app_request() -> ExplainRequest:
    diagnostic = DiagnosticInput(
        start_line=7, end_line=7, message="'user.email' is possibly 'undefined'.", source="ts", code="18048"
    )
    return ExplainRequest(
        document=SourceDocument(path="src/app.ts", text=APP),
        start_line=7,
        end_line=7,
        diagnostics=[diagnostic],
    )


def judged_config(model_server: FakeModelServer) -> ChorusConfig:
    """gemini and claude explain, and judge arbitrates between them."""
    panels = {"explain": ["gemini", "claude"], "arbiter": "judge"}
    return make_config(model_server, ["gemini", "claude", "judge"], panels=panels)


def explanation(text: str, fix: dict[str, object] | None = None) -> str:
    """A seat's explain answer."""
    return json.dumps({"explanation": text, "fix": fix})


async def test_explanations_are_combined_and_fixes_ranked(model_server: FakeModelServer) -> None:
    model_server.script("gemini", explanation("`email` is optional, so it may be undefined.", FIX))
    model_server.script("claude", explanation("The optional `email` can be undefined here.", FIX))
    config = make_config(model_server, ["gemini", "claude"])

    result = await explain_diagnostics(app_request(), config)

    assert "undefined" in result.explanation
    assert len(result.fixes) == 1 and result.fixes[0].votes == 2
    assert result.fixes[0].fix.start_line == 7
    prompt = model_server.requests_for("gemini")[0].prompt
    assert "'user.email' is possibly 'undefined'." in prompt and "18048" in prompt


async def test_arbiter_synthesizes_one_explanation(model_server: FakeModelServer) -> None:
    model_server.script("gemini", explanation("It may be undefined."))
    model_server.script("claude", explanation("The split result may be empty."))
    model_server.script("judge", "Both agree `email` is optional; they differ on the split. **Use `?.`.**")
    result = await explain_diagnostics(app_request(), judged_config(model_server))
    assert result.arbiter is not None and result.arbiter.status == "ok"
    assert "**Use `?.`.**" in result.explanation
    judge_prompt = model_server.requests_for("judge")[0].prompt
    assert "It may be undefined." in judge_prompt and "The split result may be empty." in judge_prompt


async def test_arbiter_failure_falls_back_to_the_combined_text(model_server: FakeModelServer) -> None:
    model_server.script("gemini", explanation("It may be undefined."))
    model_server.script("claude", explanation("Totally different: the regex is wrong."))
    model_server.script("judge", status=500)
    result = await explain_diagnostics(app_request(), judged_config(model_server))
    assert result.arbiter is not None and result.arbiter.status == "error"
    assert "It may be undefined." in result.explanation and "the regex is wrong" in result.explanation


async def test_the_arbiter_stops_at_the_request_deadline(model_server: FakeModelServer) -> None:
    """Issue 13 item 9: the arbiter gets what is left of `policy.deadline` after the seats answered."""
    model_server.script("gemini", explanation("email may be undefined"), latency=1.0)
    model_server.script("claude", explanation("optional property accessed without a check"), latency=1.0)
    model_server.script("judge", "One explanation.", latency=10.0)
    config = judged_config(model_server)
    config.policy.deadline = 2.0
    config.models["judge"].timeout = 30.0
    await ensure_litellm()  # The one-time import is outside the deadline, as in the fan-out.
    started = time.monotonic()
    result = await explain_diagnostics(app_request(), config)
    elapsed = time.monotonic() - started
    assert elapsed < 2.6, f"the request took {elapsed:.1f} s with a 2 s deadline"
    assert result.arbiter is not None and result.arbiter.status == "timeout"
    assert "email may be undefined" in result.explanation
