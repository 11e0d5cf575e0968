"""No secret Chorus holds is printed, logged, stored or sent to the editor (issue 12, item 2).

A seat reads its key from a variable with a non-standard name; the fake model server answers 401
with a body that echoes the key. The key must appear nowhere: not on the CLI's stdout or stderr
(`chorus review`, `chorus models`, with and without --json), and nowhere over LSP (the review
result, `chorus/models`, window/logMessage, window/showMessage, chorus/status, diagnostics).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run_chorus, write_seats_config
from tests.fake_models import FakeModelServer
from tests.lsp_client import ChorusLauncher, wait_until

REPO = Path(__file__).resolve().parent.parent
SOURCE = "def total(values):\n    return sum(values) / len(values)\n"

KEYS = [
    pytest.param("MY_LLM_CRED", "sk-test-SECRET123", id="sk-test-key"),
    pytest.param("CHORUS_SEAT_LOGIN", "zq9PlainOpaqueValue", id="opaque-value"),
]
"""(variable, value): a key shaped like OpenAI's test keys, and one no pattern could recognize."""


def echo_key_body(key: str) -> dict[str, Any]:
    """A 401 body that quotes the key back, as OpenAI's does."""
    message = f"Incorrect API key provided: {key}. You can find your API key at https://example.com."
    return {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}


def write_config(tmp_path: Path, server: FakeModelServer, variable: str) -> Path:
    return write_seats_config(tmp_path, server, ["claude"], api_key_env=variable)


def run_cli(*args: str, variable: str, key: str) -> subprocess.CompletedProcess[str]:
    return run_chorus(*args, env={variable: key, "CHORUS_LOG_LEVEL": "DEBUG"})


@pytest.mark.parametrize(("variable", "key"), KEYS)
def test_cli_never_prints_the_seat_key(
    tmp_path: Path, model_server: FakeModelServer, variable: str, key: str
) -> None:
    model_server.script("claude", status=401, error_body=echo_key_body(key))
    config = write_config(tmp_path, model_server, variable)
    source = tmp_path / "app.py"
    source.write_text(SOURCE)
    runs = [
        run_cli("review", str(source), "--config", str(config), variable=variable, key=key),
        run_cli("review", str(source), "--config", str(config), "--json", variable=variable, key=key),
        run_cli("models", "--config", str(config), variable=variable, key=key),
        run_cli("models", "--config", str(config), "--json", variable=variable, key=key),
    ]
    assert model_server.requests, "the seat was never asked"
    assert all(r.headers["authorization"] == f"Bearer {key}" for r in model_server.requests)
    for run in runs:
        printed = run.stdout + run.stderr
        assert key not in printed, printed
    review_output = runs[0].stdout + runs[0].stderr
    assert "rejected the API key" in review_output  # The failure is still reported, scrubbed.
    assert "<redacted:" in review_output


@pytest.mark.parametrize(("variable", "key"), KEYS)
async def test_lsp_never_sends_the_seat_key(
    chorus: ChorusLauncher,
    model_server: FakeModelServer,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    key: str,
) -> None:
    monkeypatch.setenv(variable, key)  # The server inherits this environment.
    model_server.script("claude", status=401, error_body=echo_key_body(key))
    async with chorus({"claude": {"api_key_env": variable}}) as client:
        uri = client.open_document("app.py", SOURCE)
        review = await client.review_selection(uri, 0, 2)
        models = await client.request("chorus/models", {})
        await wait_until(lambda: client.statuses and client.messages, within=10)
        await wait_until(lambda: any("rejected the API key" in m.message for m in client.log_messages))
        received: dict[str, Any] = {
            "review": review,
            "models": models,
            "show": [m.message for m in client.messages],
            "log": [m.message for m in client.log_messages],
            "status": client.statuses,
            "diagnostics": [[d.message for d in ds] for _when, _uri, ds in client.publishes],
        }
    everything = json.dumps(received, default=str)
    assert model_server.requests and model_server.requests[0].headers["authorization"] == f"Bearer {key}"
    assert "rejected the API key" in everything  # Reported to the editor...
    assert key not in everything  # ...but never with the key.
