"""The embedded local panel: choosing it, and the real llama.cpp server answering through litellm.

Tests marked `local_model` load the real 1.1 GB model (one start per process for the in-process
tests, plus one in a subprocess); they are skipped when the `local` extra is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from orchestration.answers.json_answers import extract_json
from orchestration.pipelines.review import review_selection
from orchestration.privacy.gate import OPEN_GATE
from orchestration.providers import local_panel, local_runtime
from orchestration.providers.local_model import local_extra_installed
from orchestration.providers.local_panel import (
    LOCAL_MODEL_ID,
    LOCAL_NOTICE,
    choose_config,
    default_local_config,
    provider_keys_present,
)
from orchestration.providers.local_runtime import local_endpoint, stop_local_server
from orchestration.types.config import ChorusConfig, ModelConfig, PolicyConfig, parse_config
from orchestration.types.errors import NoPanelError, ProviderError
from orchestration.types.requests import ReviewRequest, SourceDocument
from tests.fake_models import FakeModelServer, seat_config

REPO_ROOT = Path(__file__).resolve().parent.parent
LEDGER = (Path(__file__).resolve().parent.parent / "examples" / "ledger.py").read_text()
"""The README's example: an off-by-one planted on line 8 (and an SQL injection on line 14)."""

requires_local_extra = pytest.mark.skipif(
    not local_extra_installed(), reason="the 'local' extra is not installed"
)

DIVIDE = textwrap.dedent(
    """\
    def average(values):
        total = 0
        for value in values:
            total += value
        return total / len(values)
    """
)
ZERO_DIVISION = {
    "start_line": 5,
    "end_line": 5,
    "severity": "error",
    "category": "bug",
    "message": "ZeroDivisionError when values is empty",
    "fix": None,
}


# The default local panel ------------------------------------------------------------------------


def test_default_local_panel_has_three_distinct_seats_on_the_local_model() -> None:
    config = default_local_config()
    assert list(config.models) == ["local-correctness", "local-security", "local-edge-cases"]
    assert {seat.model for seat in config.models.values()} == {LOCAL_MODEL_ID}
    assert [seat.temperature for seat in config.models.values()] == [0.1, 0.4, 0.7]
    assert all(seat.instructions for seat in config.models.values())
    for task in ("review", "implement", "explain"):
        assert config.panel_for(task) == list(config.models)
    assert config.panels.arbiter is None


def test_default_local_panel_keeps_the_base_policy() -> None:
    base = parse_config({"policy": {"deadline": 42, "exclude": ["*.secret"], "min_agreement": 3}})
    config = default_local_config(base)
    assert config.policy.deadline == 42
    assert config.policy.exclude == ["*.secret"] and config.policy.min_agreement == 3
    assert default_local_config(ChorusConfig()).policy.deadline >= 180  # Unset: room for a slow CPU.


def test_provider_keys_present() -> None:
    assert not provider_keys_present({})
    assert not provider_keys_present({"OPENAI_API_KEY": "  ", "PATH": "/bin"})
    assert provider_keys_present({"ANTHROPIC_API_KEY": "sk-ant-x"})
    assert provider_keys_present({"GEMINI_API_KEY": "x"})


def test_a_configured_panel_is_used_as_is() -> None:
    config = parse_config({"models": {"claude": {"model": "anthropic/claude-sonnet-4-5"}}})
    assert choose_config(config, {}) == (config, None)


@requires_local_extra
def test_nothing_configured_and_no_key_falls_back_to_the_local_panel() -> None:
    chosen, notice = choose_config(ChorusConfig(policy=PolicyConfig(deadline=77)), {"PATH": "/bin"})
    assert notice == LOCAL_NOTICE
    assert notice.startswith("No panel configured and no API key found")
    assert {seat.model for seat in chosen.models.values()} == {LOCAL_MODEL_ID}
    assert chosen.policy.deadline == 77


def test_nothing_configured_and_no_local_extra_explains_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_panel, "local_extra_installed", lambda: False)
    with pytest.raises(NoPanelError) as raised:
        choose_config(ChorusConfig(), {})
    message = str(raised.value)
    assert "pip install 'chorus-lsp[local]'" in message
    assert "chorus.toml" in message and "API key" in message


async def test_unknown_local_model_is_refused_without_starting_anything() -> None:
    with pytest.raises(ProviderError, match=r"the embedded local model is 'local/qwen2\.5-coder-1\.5b'"):
        await local_endpoint("local/llama-70b")
    assert not local_runtime.local_server_running()


# The real model -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_server() -> Iterator[None]:
    """Stop the module's shared local server once its tests are done.

    While it runs, the parent holds a store key and a seat key in CHORUS_* variables and an
    XDG_* one: none of them may reach the child (`test_the_child_gets_no_key_of_the_parents`)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PARENT_SECRETS.items():
            patch.setenv(name, value)
        yield
        stop_local_server()


PARENT_SECRETS = {
    "CHORUS_STORE_KEY": "store-key-canary-93f1",
    "CHORUS_SEAT_TOKEN": "sk-seat-canary-77ab",
    "XDG_RUNTIME_SECRET": "xdg-canary-5c2e",
}


@pytest.mark.usefixtures("local_server")
@pytest.mark.local_model
@requires_local_extra
async def test_concurrent_first_callers_share_one_server_and_get_json() -> None:
    from orchestration.providers.chat import complete_chat

    local_runtime.configure_local_slots(3)
    seat = ModelConfig(model=LOCAL_MODEL_ID, temperature=0.0, max_tokens=40, timeout=240)
    messages = [
        {"role": "system", "content": "Answer with JSON only, no prose."},
        {"role": "user", "content": 'What is 2 + 3? Answer as {"sum": <number>}.'},
    ]
    answers: list[str] = []
    endpoints: list[tuple[str, str]] = []

    async def ask() -> None:
        endpoints.append(await local_endpoint(LOCAL_MODEL_ID))
        answers.append(await complete_chat("local", seat, messages, gate=OPEN_GATE))

    async with anyio.create_task_group() as group:
        for _index in range(3):
            group.start_soon(ask)
    assert len(set(endpoints)) == 1
    api_base, served = endpoints[0]
    assert api_base.startswith("http://127.0.0.1:") and api_base.endswith("/v1")
    assert served == "qwen2.5-coder-1.5b"
    assert [extract_json(answer) for answer in answers] == [{"sum": 5}] * 3


@pytest.mark.usefixtures("local_server")
@pytest.mark.local_model
@requires_local_extra
async def test_a_panel_mixing_the_local_seat_and_a_cloud_seat_reviews_code(
    model_server: FakeModelServer,
) -> None:
    model_server.script("cloud", json.dumps({"findings": [ZERO_DIVISION]}))
    local_seat = default_local_config().models["local-edge-cases"].model_copy(update={"temperature": 0.0})
    config = ChorusConfig(
        models={"cloud": seat_config(model_server, "cloud"), "local": local_seat},
        policy=PolicyConfig(deadline=240),
    )
    result = await review_selection(
        ReviewRequest(document=SourceDocument(path="stats.py", text=DIVIDE)), config
    )
    statuses = {status.name: status for status in result.models}
    assert statuses["cloud"].status == "ok"
    assert statuses["local"].status == "ok", statuses["local"].error  # Answered, and its JSON parsed.
    # Line 5's division is flagged (merged with the local seat's, its span may start a line earlier).
    assert any(finding.start_line <= 5 <= finding.end_line for finding in result.findings)
    (request,) = model_server.requests_for("cloud")
    assert "total / len(values)" in request.messages[-1]["content"]


@pytest.mark.usefixtures("local_server")
@pytest.mark.local_model
@requires_local_extra
async def test_stop_local_server_ends_the_child_process() -> None:
    await local_endpoint(LOCAL_MODEL_ID)
    server = local_runtime._server
    assert server is not None and local_runtime.local_server_running()
    stop_local_server()
    assert server.process.returncode is not None
    assert not local_runtime.local_server_running()
    stop_local_server()  # Idempotent.


STDOUT_PROBE = textwrap.dedent(
    """\
    import json, os, sys, urllib.request
    import anyio
    from orchestration.providers.local_runtime import local_endpoint

    async def main():
        api_base, served = await local_endpoint("local/qwen2.5-coder-1.5b")
        from orchestration.providers import local_runtime
        body = json.dumps({"model": served, "max_tokens": 8,
                           "messages": [{"role": "user", "content": "Say OK."}]}).encode()
        headers = {"Content-Type": "application/json",
                   "Authorization": "Bearer " + local_runtime.local_api_key()}
        request = urllib.request.Request(api_base + "/chat/completions", data=body, headers=headers)
        answer = json.loads(urllib.request.urlopen(request, timeout=120).read())
        sys.stderr.write("PROBE " + json.dumps({"pid": local_runtime._server.process.pid,
                         "content": answer["choices"][0]["message"]["content"]}) + "\\n")

    anyio.run(main)
    os._exit(0)  # No atexit cleanup: the child must notice on its own that its owner is gone.
    """
)


@pytest.mark.local_model
@requires_local_extra
@pytest.mark.skipif(not Path("/proc/self").exists(), reason="checks the child through /proc")
def test_starting_the_server_prints_nothing_on_stdout_and_dies_with_its_owner() -> None:
    run = subprocess.run(
        [sys.executable, "-c", STDOUT_PROBE], capture_output=True, cwd=REPO_ROOT, timeout=240, check=False
    )
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-3000:]
    assert run.stdout == b""
    probe_line = next(line for line in run.stderr.decode().splitlines() if line.startswith("PROBE "))
    probe = json.loads(probe_line.removeprefix("PROBE "))
    assert probe["content"].strip()
    deadline = time.monotonic() + 15
    while Path(f"/proc/{probe['pid']}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{probe['pid']}").exists() or _is_zombie(probe["pid"])


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


@pytest.mark.usefixtures("local_server")
@pytest.mark.local_model
@requires_local_extra
async def test_the_local_model_alone_points_at_the_planted_bug() -> None:
    """README's promise: with no key and no network, the merged review names the planted bug."""
    seat = default_local_config().models["local-correctness"].model_copy(update={"temperature": 0.0})
    config = ChorusConfig(models={"local-correctness": seat}, policy=PolicyConfig(deadline=240))
    request = ReviewRequest(
        document=SourceDocument(path="examples/ledger.py", text=LEDGER), start_line=6, end_line=10
    )
    result = await review_selection(request, config)
    assert result.models[0].status == "ok", result.models[0].error
    planted = 8  # for i in range(len(amounts) + 1): reads past the end
    assert any(f.start_line <= planted <= f.end_line for f in result.findings), result.findings


@pytest.mark.usefixtures("local_server")
@pytest.mark.local_model
@requires_local_extra
async def test_the_local_server_refuses_requests_without_its_key_and_sends_no_open_cors() -> None:
    import httpx

    api_base, served = await local_endpoint(LOCAL_MODEL_ID)
    body = {"model": served, "messages": [{"role": "user", "content": "Say OK"}], "max_tokens": 2}
    origin = {"Origin": "https://evil.example"}
    async with httpx.AsyncClient(timeout=120) as http:
        anonymous = await http.post(f"{api_base}/chat/completions", json=body, headers=origin)
        wrong = await http.post(
            f"{api_base}/chat/completions", json=body, headers={"Authorization": "Bearer guessed-key"}
        )
        models = await http.get(f"{api_base}/models")
        keyed = await http.post(
            f"{api_base}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {local_runtime.local_api_key()}"},
        )
        preflight = await http.options(
            f"{api_base}/chat/completions",
            headers={**origin, "Access-Control-Request-Method": "POST"},
        )
    assert anonymous.status_code == 401 and wrong.status_code == 401 and models.status_code == 401
    assert keyed.status_code == 200, keyed.text
    for response in (anonymous, keyed, preflight):
        assert response.headers.get("access-control-allow-origin") in (None, ""), response.headers
    # And Chorus's own calls carry the key.
    answer = await complete_chat_local()
    assert answer.strip()


@pytest.mark.usefixtures("local_server")
@pytest.mark.local_model
@requires_local_extra
async def test_the_child_gets_no_key_of_the_parents() -> None:
    """The child's environment as the kernel shows it (/proc/PID/environ): its own key, nothing of ours."""
    assert (await complete_chat_local()).strip()
    pid = local_runtime.local_server_pid()
    assert pid is not None
    raw = await anyio.Path(f"/proc/{pid}/environ").read_bytes()
    names = {entry.split(b"=", 1)[0].decode() for entry in raw.split(b"\0") if entry}
    assert [name for name in names if name.startswith(("CHORUS_", "XDG_"))] == ["CHORUS_LOCAL_SERVER_KEY"]
    assert not [value for value in PARENT_SECRETS.values() if value.encode() in raw]


async def complete_chat_local() -> str:
    from orchestration.providers.chat import complete_chat

    seat = ModelConfig(model=LOCAL_MODEL_ID, temperature=0.0, max_tokens=4, timeout=240)
    return await complete_chat("local", seat, [{"role": "user", "content": "Say OK"}], gate=OPEN_GATE)
