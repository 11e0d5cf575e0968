"""The audit log: every model call of a recorded run leaves one row saying what left the machine.

The rows are written from the door every call passes (`complete_chat`, through the gate's audit
hook), so seats, the arbiter and failing calls are all there; a row holds the endpoint's host, never
a key, and the bytes it counts are the bytes the fake model server received.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestration.memory.settings import StoreConfig
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.pipelines.implement import implement_stub
from orchestration.pipelines.review import review_selection
from orchestration.privacy.audit import OutboundCall
from orchestration.privacy.gate import PrivacyGate
from orchestration.providers.chat import complete_chat
from orchestration.types.config import ModelConfig, PolicyConfig
from orchestration.types.errors import ProviderError
from orchestration.types.requests import ImplementRequest, SourceDocument
from tests.fake_models import FakeModelServer, make_config
from tests.test_memory_recording import LEDGER, OFF_BY_ONE, findings, ledger_request, with_store

KEY = "sk-test-AUDITCANARY0123456789abcdefgh"


def audit_rows(config: StoreConfig) -> list[dict[str, Any]]:
    with Store.open(config) as store:
        rows = store.export()["audit"]
    assert isinstance(rows, list)
    return [row for row in rows if isinstance(row, dict)]


def sent_bytes(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(message.get("content", "")).encode()) for message in messages)


async def test_every_call_of_a_run_is_audited_with_host_bytes_and_redactions_but_no_key(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHORUS_AUDIT_KEY", KEY)
    model_server.script("claude", findings(OFF_BY_ONE, {**OFF_BY_ONE, "start_line": 9, "end_line": 9}))
    model_server.script("codex", findings(OFF_BY_ONE))
    model_server.script("gemini", status=503)
    model_server.script("judge", '{"clusters": [{"id": 1, "message": "Off-by-one"}]}')
    keyed = {"api_key_env": "CHORUS_AUDIT_KEY"}
    config = with_store(
        make_config(
            model_server,
            {"claude": keyed, "codex": keyed, "gemini": keyed, "judge": keyed},
            panels={"review": ["claude", "codex", "gemini"], "arbiter": "judge"},
        ),
        store_path,
    )
    text = LEDGER + 'DB_PASSWORD = "hunter2-very-secret"\n'
    result = await review_selection(ledger_request(text, first=3, last=20), config, memory=memory)
    assert result.arbiter is not None and result.arbiter.status == "ok"
    assert memory.flush(10)

    rows = audit_rows(config.store)
    assert sorted(row["seat"] for row in rows) == ["claude", "codex", "gemini", "judge"]
    by_seat = {row["seat"]: row for row in rows}
    assert {seat: row["outcome"] for seat, row in by_seat.items()} == {
        "claude": "ok",
        "codex": "ok",
        "gemini": "error",
        "judge": "ok",
    }
    for seat, row in by_seat.items():
        (received,) = model_server.requests_for(seat)
        assert row["endpoint_host"] == "127.0.0.1" and row["model"] == f"openai/{seat}"
        assert row["bytes_sent"] == sent_bytes(received.messages) > 0
        assert row["run_id"] == result.run_id and row["path"] == "examples/ledger.py"
        assert (row["start_line"], row["end_line"]) == (3, 20)
        assert KEY not in str(row) and "hunter2" not in str(row)
        assert received.headers.get("authorization") == f"Bearer {KEY}"  # The key went to the model only.
    assert by_seat["claude"]["redactions"] >= 1  # The password stayed home.
    assert "hunter2" not in model_server.requests_for("claude")[0].prompt


async def test_implement_calls_are_audited_too(
    model_server: FakeModelServer, store_path: Path, memory: StoreWriter
) -> None:
    text = "def area(radius):\n    pass\n"
    model_server.script("codex", '{"code": "def area(radius):\\n    return 3.14 * radius ** 2\\n"}')
    config = with_store(make_config(model_server, ["codex"]), store_path)
    request = ImplementRequest(document=SourceDocument(path="shape.py", text=text), line=1)
    result = await implement_stub(request, config, memory=memory)
    assert result.run_id and result.candidates
    assert memory.flush(10)
    (row,) = audit_rows(config.store)
    assert (row["seat"], row["outcome"], row["path"], row["start_line"], row["end_line"]) == (
        "codex",
        "ok",
        "shape.py",
        1,
        2,
    )


async def test_the_door_reports_a_call_however_it_ends(model_server: FakeModelServer) -> None:
    model_server.script("fine", "hello")
    model_server.script("down", status=500)
    calls: list[OutboundCall] = []
    gate = PrivacyGate(PolicyConfig(), audit=calls.append)
    fine = ModelConfig(model="openai/fine", api_base=model_server.base_url)
    down = ModelConfig(model="openai/down", api_base=model_server.base_url)
    messages = [{"role": "user", "content": 'token = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"'}]
    assert await complete_chat("fine", fine, messages, gate=gate) == "hello"
    with pytest.raises(ProviderError):
        await complete_chat("down", down, messages, gate=gate)
    assert [(call.seat, call.outcome) for call in calls] == [("fine", "ok"), ("down", "error")]
    assert all(
        call.redactions == 1 and call.bytes_sent == sent_bytes(model_server.requests[0].messages)
        for call in calls
    )
    assert calls[0].endpoint == model_server.base_url
