"""The implement pipeline end to end: stub lookup, candidates over HTTP, validation and ranking."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from orchestration.pipelines.implement import implement_stub
from orchestration.types.errors import StubNotFoundError
from orchestration.types.requests import ImplementRequest, SourceDocument
from orchestration.types.results import ResultUpdate
from tests.fake_models import FakeModelServer, make_config

WINDOW = """\
def moving_average(values: list[float], size: int) -> list[float]:
    \"\"\"Averages of each window of `size` consecutive values.\"\"\"
    raise NotImplementedError
"""
GOOD = (
    "def moving_average(values: list[float], size: int) -> list[float]:\n"
    "    return [sum(values[i : i + size]) / size for i in range(len(values) - size + 1)]\n"
)
WRONG = (
    "def moving_average(values: list[float], size: int) -> list[float]:\n"
    "    return [sum(values[i : i + size]) / size for i in range(len(values))]\n"
)
BROKEN = "def moving_average(values: list[float], size: int) -> list[float]:\n    return [sum(values[i:\n"
TEST_FILE = """\
from window import moving_average


def test_windows():
    assert moving_average([1, 2, 3, 4], 2) == [1.5, 2.5, 3.5]
"""


def window_request(text: str = WINDOW, line: int = 3) -> ImplementRequest:
    return ImplementRequest(document=SourceDocument(path="window.py", text=text), line=line)


async def test_candidates_are_validated_and_ranked(model_server: FakeModelServer) -> None:
    model_server.script("codex", json.dumps({"code": GOOD}))
    model_server.script("claude", f"Here you go:\n```python\n{GOOD}```")
    model_server.script("gemini", json.dumps({"code": BROKEN}))
    config = make_config(model_server, ["codex", "claude", "gemini"])
    updates: list[ResultUpdate] = []

    async def record(event: object) -> None:
        if isinstance(event, ResultUpdate):
            updates.append(event)

    result = await implement_stub(window_request(), config, on_event=record)

    assert result.stub is not None and result.stub.name == "moving_average"
    best, worst = result.candidates[0], result.candidates[-1]
    assert best.valid and best.votes == 2 and sorted(best.models) == ["claude", "codex"]
    assert not worst.valid and worst.models == ["gemini"] and worst.problems
    assert updates[-1].final and updates[-1].result == result
    assert any(not update.final for update in updates)


async def test_validate_command_puts_passing_code_first(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    (tmp_path / "window.py").write_text(WINDOW)
    (tmp_path / "test_window.py").write_text(TEST_FILE)
    model_server.script("wrong", json.dumps({"code": WRONG}))
    model_server.script("right", json.dumps({"code": GOOD}))
    command = f"{sys.executable} -m pytest -q -p no:cacheprovider test_window.py"
    config = make_config(
        model_server, {"wrong": {"weight": 5.0}, "right": {}}, policy={"validate_command": command}
    )
    request = ImplementRequest(document=SourceDocument(path=str(tmp_path / "window.py"), text=WINDOW), line=1)

    result = await implement_stub(request, config, workspace=tmp_path)

    assert [c.models for c in result.candidates] == [["right"], ["wrong"]]
    assert result.candidates[0].tests_passed is True
    assert result.candidates[1].tests_passed is False
    assert (tmp_path / "window.py").read_text() == WINDOW  # validation ran on a copy


async def test_no_stub_is_a_clear_error(model_server: FakeModelServer) -> None:
    config = make_config(model_server, ["codex"])
    text = "def done(x):\n    return x * 2\n"
    with pytest.raises(StubNotFoundError, match=r"no stub function at window\.py:1"):
        await implement_stub(window_request(text, 1), config)
    assert model_server.requests == []


async def test_one_seat_failing_still_gives_candidates(model_server: FakeModelServer) -> None:
    model_server.script("codex", json.dumps({"code": GOOD}))
    model_server.script("claude", status=429)
    config = make_config(model_server, ["codex", "claude"])
    result = await implement_stub(window_request(), config)
    assert {m.name: m.status for m in result.models} == {"codex": "ok", "claude": "error"}
    assert len(result.candidates) == 1 and result.candidates[0].valid
    sent = model_server.requests_for("codex")[0].prompt
    assert "moving_average" in sent
