"""The five real agent CLIs as panel seats, through a real LiteLLM proxy in front of the fake model server.

Runs only where `.ci/agents.sh` installed them: `CHORUS_AGENT_BIN` (the npm `.bin` folder holding
claude, codex, gemini, copilot and grok) and `CHORUS_LITELLM` (the proxy's `litellm` executable, in
its own venv) must be set. The proxy (`model_name: "*"`, chat completions behind the Anthropic
Messages, OpenAI Responses and Gemini routes) forwards every CLI's call to the fake server, which
records what it got: each test checks that the prompt reached it and that the seat's answer was
parsed, and that a resumed session carries the earlier turn.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.pipelines.review import review_selection
from orchestration.privacy.gate import OPEN_GATE
from orchestration.providers.agents.scope import agent_scope
from orchestration.providers.chat import complete_chat
from orchestration.types.config import ChorusConfig, ModelConfig, PolicyConfig
from orchestration.types.requests import ReviewRequest, SourceDocument
from tests.fake_models import FakeModelServer, seat_config

AGENT_BIN = os.environ.get("CHORUS_AGENT_BIN", "")
LITELLM = os.environ.get("CHORUS_LITELLM", "")
pytestmark = pytest.mark.skipif(
    not (AGENT_BIN and LITELLM and Path(LITELLM).exists()),
    reason="the real agent CLIs and the LiteLLM proxy are installed by .ci/agents.sh "
    "(it sets CHORUS_AGENT_BIN and CHORUS_LITELLM)",
)
PROXY_KEY = "sk-chorus-ci-proxy"
FINDING = {"start_line": 8, "end_line": 8, "severity": "error", "category": "bug", "message": "Off by one."}
ANSWER = json.dumps({"findings": [FINDING]})
LEDGER = (Path(__file__).resolve().parent.parent / "examples" / "ledger.py").read_text()
AGENTS = ("claude", "codex", "gemini", "copilot", "grok")
ROUTES = {"claude": "", "gemini": "", "codex": "/v1", "copilot": "/v1", "grok": "/v1"}
"""Where each CLI expects the proxy: claude and gemini add their own API paths to the bare host."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def backend() -> Iterator[FakeModelServer]:
    server = FakeModelServer().start()
    server.script("*", ANSWER)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(backend: FakeModelServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A LiteLLM proxy on a free loopback port in front of `backend`; its base URL."""
    folder = tmp_path_factory.mktemp("litellm")
    config = folder / "proxy.yaml"
    config.write_text(
        "model_list:\n"
        '  - model_name: "*"\n'
        "    litellm_params:\n"
        '      model: "openai/*"\n'
        f'      api_base: "{backend.base_url}"\n'
        '      api_key: "fake-backend-key"\n'
        "      use_chat_completions_api: true\n"
        "litellm_settings:\n"
        "  use_chat_completions_url_for_anthropic_messages: true\n"
        "general_settings:\n"
        f'  master_key: "{PROXY_KEY}"\n'
    )
    port = free_port()
    log = (folder / "proxy.log").open("wb")
    process = subprocess.Popen(
        [LITELLM, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health/liveliness", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    said = (folder / "proxy.log").read_text()[-2000:]
                    raise RuntimeError(f"the LiteLLM proxy did not start: {said}") from None
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        log.close()


@pytest.fixture
def agent_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLIs on PATH, the proxy's key in a variable, and a HOME of this test's own."""
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(
        json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}})
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", f"{AGENT_BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CHORUS_PROXY_KEY", PROXY_KEY)
    workspace = tmp_path / "ws"
    (workspace / "examples").mkdir(parents=True)
    (workspace / "examples" / "ledger.py").write_text(LEDGER)
    return workspace


def seat(agent: str, proxy: str) -> ModelConfig:
    return ModelConfig(
        agent=agent,
        model=f"fake-{agent}",
        api_base=proxy + ROUTES[agent],
        api_key_env="CHORUS_PROXY_KEY",
        timeout=180,
    )


def asked_with(backend: FakeModelServer, model: str, marker: str) -> list[str]:
    """The texts of the requests for `model` the fake server received that carry `marker`."""
    texts = [json.dumps(request.messages) for request in backend.requests_for(model)]
    return [text for text in texts if marker in text]


@pytest.mark.parametrize("agent", AGENTS)
async def test_each_real_cli_answers_as_a_seat(
    agent: str, agent_env: Path, proxy: str, backend: FakeModelServer
) -> None:
    marker = f"marker-{agent}-{time.time_ns()}"
    question = [{"role": "user", "content": f"Review the ledger ({marker}). Answer with JSON findings."}]
    with agent_scope(agent_env, PolicyConfig(), trusted=True):
        text = await complete_chat(agent, seat(agent, proxy), question, gate=OPEN_GATE)
    assert json.loads(text.strip().removeprefix("```json").removesuffix("```")) == {"findings": [FINDING]}
    assert asked_with(backend, f"fake-{agent}", marker), f"{agent}'s prompt never reached the model"
    assert (agent_env / "examples" / "ledger.py").read_text() == LEDGER


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini", "copilot"])
async def test_a_real_cli_resumes_its_session(
    agent: str, agent_env: Path, proxy: str, backend: FakeModelServer, tmp_path: Path
) -> None:
    from orchestration.memory.settings import StoreConfig
    from orchestration.memory.writer import StoreWriter

    first, second = f"first-{agent}-{time.time_ns()}", f"second-{agent}-{time.time_ns()}"
    memory = StoreWriter(StoreConfig(path=tmp_path / "store.db"))
    try:
        for marker in (first, second):
            ask = [{"role": "user", "content": f"Remember {marker}. Answer with JSON findings."}]
            with agent_scope(agent_env, PolicyConfig(), trusted=True, memory=memory):
                await complete_chat(agent, seat(agent, proxy), ask, gate=OPEN_GATE)
    finally:
        memory.close()
    later = asked_with(backend, f"fake-{agent}", second)
    assert later and any(first in text for text in later), f"{agent} did not resume the first turn"


async def test_a_review_with_real_claude_and_a_chat_seat(
    agent_env: Path, proxy: str, backend: FakeModelServer
) -> None:
    config = ChorusConfig(models={"claude-code": seat("claude", proxy), "chat": seat_config(backend, "chat")})
    request = ReviewRequest(document=SourceDocument(path="examples/ledger.py", text=LEDGER))
    with agent_scope(agent_env, config.policy, trusted=True):
        result = await review_selection(request, config, workspace=agent_env)
    assert {m.name: m.status for m in result.models} == {"claude-code": "ok", "chat": "ok"}
    (finding,) = result.findings
    assert finding.votes == 2 and finding.start_line == 8
