"""The redaction round trip (issue 12 item 5) through the real pipelines and the fake model server.

Models see `<redacted:password>` where the file has a secret. A fix or candidate that writes the
placeholder back gets the file's original text instead, or is withheld with a reason in the result;
the secret itself never reaches a model.
"""

from __future__ import annotations

import json

from orchestration.pipelines.explain import explain_diagnostics
from orchestration.pipelines.implement import implement_stub
from orchestration.pipelines.review import review_selection, stream_review
from orchestration.types.requests import (
    DiagnosticInput,
    ExplainRequest,
    ImplementRequest,
    ReviewRequest,
    SourceDocument,
)
from orchestration.types.results import ResultUpdate
from tests.fake_models import FakeModelServer, make_config

SECRET = "hunter2xyz"
CONNECT = f'def connect(host):\n    password = "{SECRET}"\n    return login(host, password)\n'
TWO_SECRETS = 'def connect(host):\n    a_password = "alpha-one-1"\n'
TWO_SECRETS += '    b_password = "beta-two-2"\n    return login(host)\n'

FIX_WITH_PLACEHOLDER = {
    "start_line": 2,
    "end_line": 3,
    "replacement": '    password = "<redacted:password>"\n    return login(host, password, timeout=10)',
}


def finding(fix: dict[str, object] | None, start: int = 3) -> str:
    item = {"start_line": start, "end_line": start, "severity": "warning", "category": "bug"}
    return json.dumps({"findings": [{**item, "message": "login() is called without a timeout", "fix": fix}]})


def review_request(text: str = CONNECT) -> ReviewRequest:
    return ReviewRequest(document=SourceDocument(path="app/db.py", text=text))


def assert_secret_never_sent(model_server: FakeModelServer, *secrets: str) -> None:
    assert model_server.requests
    for request in model_server.requests:
        for secret in secrets:
            assert secret not in json.dumps(request.body)


async def test_a_review_fix_gets_the_secret_back_for_its_placeholder(model_server: FakeModelServer) -> None:
    model_server.script("a", finding(FIX_WITH_PLACEHOLDER))
    config = make_config(model_server, ["a"])
    result = await review_selection(review_request(), config)
    assert_secret_never_sent(model_server, SECRET)
    assert "<redacted:password>" in model_server.requests_for("a")[0].prompt
    replacement = result.findings[0].fixes[0].fix.replacement
    assert replacement == f'    password = "{SECRET}"\n    return login(host, password, timeout=10)'
    assert result.withheld == [] and result.notice is None


async def test_partial_results_are_restored_too(model_server: FakeModelServer) -> None:
    model_server.script("fast", finding(FIX_WITH_PLACEHOLDER))
    model_server.script("slow", finding(None), latency=0.5)
    config = make_config(model_server, ["fast", "slow"])
    updates = []
    async with stream_review(review_request(), config) as events:
        async for event in events:
            if isinstance(event, ResultUpdate):
                updates.append(event.result)
    assert [update.final for update in updates] == [False, True]
    for update in updates:
        assert SECRET in update.findings[0].fixes[0].fix.replacement
        assert "<redacted:" not in update.findings[0].fixes[0].fix.replacement


async def test_an_ambiguous_placeholder_withholds_the_fix_and_says_why(model_server: FakeModelServer) -> None:
    merged_line = {"start_line": 2, "end_line": 3, "replacement": '    password = "<redacted:password>"'}
    model_server.script("a", finding(merged_line))
    config = make_config(model_server, ["a"])
    result = await review_selection(review_request(TWO_SECRETS), config)
    assert_secret_never_sent(model_server, "alpha-one-1", "beta-two-2")
    assert result.findings[0].message == "login() is called without a timeout"
    assert result.findings[0].fixes == []
    assert len(result.withheld) == 1 and "lines 2-3 from a was withheld" in result.withheld[0]
    assert "overwrite the secret" in result.withheld[0]
    assert result.notice is not None and "1 fix withheld" in result.notice


async def test_a_placeholder_the_lines_do_not_hide_is_withheld(model_server: FakeModelServer) -> None:
    invented = {
        "start_line": 3,
        "end_line": 3,
        "replacement": '    return login(host, "<redacted:password>")',
    }
    model_server.script("a", finding(invented))
    config = make_config(model_server, ["a"])
    result = await review_selection(review_request(), config)
    assert result.findings[0].fixes == [] and len(result.withheld) == 1


async def test_an_explain_fix_gets_the_secret_back(model_server: FakeModelServer) -> None:
    answer = {"explanation": "The call has no timeout.", "fix": FIX_WITH_PLACEHOLDER}
    invented = {"start_line": 3, "end_line": 3, "replacement": '    return login(host, "<redacted:token>")'}
    ambiguous = {"explanation": "Hard-coded password.", "fix": invented}
    model_server.script("a", json.dumps(answer))
    model_server.script("b", json.dumps(ambiguous))
    config = make_config(model_server, ["a", "b"], panels={"explain": ["a", "b"]})
    diagnostic = DiagnosticInput(start_line=3, end_line=3, message="missing timeout")
    document = SourceDocument(path="app/db.py", text=CONNECT)
    request = ExplainRequest(document=document, start_line=3, end_line=3, diagnostics=[diagnostic])
    result = await explain_diagnostics(request, config)
    assert_secret_never_sent(model_server, SECRET)
    assert [ranked.fix.replacement for ranked in result.fixes] == [
        f'    password = "{SECRET}"\n    return login(host, password, timeout=10)'
    ]
    assert result.fixes[0].models == ["a"]
    assert len(result.withheld) == 1 and "a fix for line 3 from b was withheld" in result.withheld[0]


async def test_an_implement_candidate_gets_the_secret_back_or_is_withheld(
    model_server: FakeModelServer,
) -> None:
    stub = f'def connect(host, password="{SECRET}"):\n    raise NotImplementedError\n'
    restored = 'def connect(host, password="<redacted:password>"):\n    return login(host, password)\n'
    invented = (
        'def connect(host, password="<redacted:password>"):\n    return login(host, "<redacted:token>")\n'
    )
    model_server.script("a", json.dumps({"code": restored}))
    model_server.script("b", json.dumps({"code": invented}))
    config = make_config(model_server, ["a", "b"], panels={"implement": ["a", "b"]})
    document = SourceDocument(path="app/db.py", text=stub)
    result = await implement_stub(ImplementRequest(document=document, line=2), config)
    assert_secret_never_sent(model_server, SECRET)
    assert [candidate.models for candidate in result.candidates] == [["a"]]
    assert f'password="{SECRET}"' in result.candidates[0].code
    assert "<redacted:" not in result.candidates[0].code
    assert len(result.withheld) == 1 and result.withheld[0].startswith(
        "b's candidate for connect was withheld"
    )
