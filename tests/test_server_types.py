"""The typed boundaries: machine forms have exactly their TypedDicts' keys, and pygls can read every hint.

The TypedDicts in `orchestration.machine_form` describe what `--json` prints and the server
sends; these tests keep them true to the pydantic models they are dumped from and to the
forms the builders return. pygls reads each command handler's type hints at run time, so
every name in them must be importable where the handler is defined.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from orchestration.machine_form import (
    CandidateForm,
    DiagnosticData,
    DiagnosticForm,
    ExplainForm,
    FixActionForm,
    FixForm,
    ImplementForm,
    ModelForm,
    ReviewForm,
    StubForm,
    explain_machine_form,
    implement_machine_form,
    review_machine_form,
)
from orchestration.types.findings import Category, Fix, MergedFinding, ModelOpinion, RankedFix, Severity
from orchestration.types.requests import SourceDocument
from orchestration.types.results import (
    ExplainResult,
    ImplementCandidate,
    ImplementResult,
    ModelStatus,
    ReviewResult,
    StubLocation,
)

URI = "file:///shape.py"
TEXT = "def area(radius):\n    pass\n\nprint(area(2))\n"
DOCUMENT = SourceDocument(path="shape.py", text=TEXT)
SEAT = ModelStatus(name="codex", model="openai/codex", status="ok", latency_ms=12)
FIX = RankedFix(
    fix=Fix(start_line=2, end_line=2, replacement="    return 3.14 * radius**2\n"), votes=1, models=["codex"]
)


def keys(shape: type[Any]) -> set[str]:
    """The keys a TypedDict declares."""
    return set(typing.get_type_hints(shape))


def assert_shape(value: Mapping[str, Any], shape: type[Any]) -> None:
    """`value` has exactly the keys of `shape`, the TypedDict it is typed as."""
    assert set(value) == keys(shape), shape.__name__


def test_model_and_stub_forms_are_the_pydantic_models_fields() -> None:
    assert keys(ModelForm) == set(ModelStatus.model_fields)
    assert keys(StubForm) == set(StubLocation.model_fields)


def test_a_review_form_has_exactly_its_typed_keys() -> None:
    where: dict[str, Any] = {
        "start_line": 2,
        "end_line": 2,
        "severity": Severity.ERROR,
        "category": Category.BUG,
    }
    opinion = ModelOpinion(model="codex", message="no return", **where)
    finding = MergedFinding(
        message="The area is never returned",
        votes=1,
        panel=1,
        models=["codex"],
        opinions=[opinion],
        fixes=[FIX],
        **where,
    )
    result = ReviewResult(path="shape.py", start_line=1, end_line=2, findings=[finding], models=[SEAT])
    form = review_machine_form(result, DOCUMENT, URI)
    assert_shape(form, ReviewForm)
    assert_shape(form["models"][0], ModelForm)
    diagnostic = form["diagnostics"][0]
    assert_shape(diagnostic, DiagnosticForm)
    assert_shape(diagnostic["data"], DiagnosticData)
    assert_shape(diagnostic["data"]["fixes"][0], FixForm)


def test_implement_and_explain_forms_have_exactly_their_typed_keys() -> None:
    stub = StubLocation(name="area", params=["radius"], start_line=1, end_line=2, language="python")
    code = "def area(radius):\n    return 3.14 * radius**2\n"
    candidate = ImplementCandidate(code=code, models=["codex"], votes=1, valid=True, start_line=1, end_line=2)
    implemented = ImplementResult(path="shape.py", stub=stub, candidates=[candidate], models=[SEAT])
    form = implement_machine_form(implemented, DOCUMENT, URI)
    assert_shape(form, ImplementForm)
    assert form["stub"] is not None
    assert_shape(form["stub"], StubForm)
    assert_shape(form["candidates"][0], CandidateForm)
    explained = ExplainResult(
        path="shape.py", start_line=2, end_line=2, explanation="It returns None.", fixes=[FIX], models=[SEAT]
    )
    explanation = explain_machine_form(explained, DOCUMENT, URI)
    assert_shape(explanation, ExplainForm)
    assert_shape(explanation["fixes"][0], FixActionForm)


def test_every_command_handler_s_type_hints_resolve_at_run_time() -> None:
    from server.app import create_server

    commands = create_server().protocol.fm.commands
    assert set(commands) >= {"chorus.reviewSelection", "chorus.implementStub", "chorus.explainDiagnostics"}
    for name, handler in commands.items():
        hints = typing.get_type_hints(getattr(handler, "func", handler))
        assert "return" in hints and hints["return"] is not Any, name
