"""The team's gateway: cloud seats through a LiteLLM proxy, tagged per user and task, with a fallback.

Always run: the `[gateway]` table, what an untrusted workspace config may not set in it, which seats
go through it, what a gateway receives (the fake model server standing in for it: model, key, `user`,
`metadata`), and each fallback when the gateway's port refuses connections. With `CHORUS_LITELLM`
(a real LiteLLM proxy's executable, installed by `.ci/agents.sh`): two Chorus processes review as two
users through the real proxy, whose callback records who asked for what and at what cost; and the
proxy stopped between two reviews gives the configured fallback and its notice.

Run as `python -m tests.test_gateway CONFIG WORKSPACE` this file is that Chorus process: it reviews
`examples/ledger.py` under the config's gateway and prints the seats' statuses and the notice as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from pydantic import ValidationError

from orchestration.memory.settings import StoreConfig
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.pipelines.review import review_selection
from orchestration.privacy.gate import OPEN_GATE
from orchestration.privacy.trust import strip_untrusted
from orchestration.providers.base import CallUsage
from orchestration.providers.chat import close_clients, complete_chat
from orchestration.providers.gateway import (
    GatewayConfig,
    gateway_scope,
    goes_through_gateway,
    unreachable_notice,
)
from orchestration.types.config import ChorusConfig, ModelConfig, load_config
from orchestration.types.errors import ProviderError
from orchestration.types.requests import ReviewRequest, SourceDocument
from tests import litellm_proxy
from tests.fake_models import FakeModelServer, outward_address
from tests.litellm_proxy import LiteLLMProxy, free_port

ROOT = Path(__file__).resolve().parent.parent
LEDGER = (ROOT / "examples" / "ledger.py").read_text()
FINDING = {"start_line": 8, "end_line": 8, "severity": "error", "category": "bug", "message": "Off by one."}
ANSWER = json.dumps({"findings": [FINDING]})
TEAM_KEY = "sk-chorus-team-master"
ASK = [{"role": "user", "content": "Review this."}]
needs_proxy = pytest.mark.skipif(
    not litellm_proxy.available(),
    reason="needs a real LiteLLM proxy: set CHORUS_LITELLM to its litellm executable (.ci/agents.sh does)",
)


ADDRESS = outward_address()
needs_address = pytest.mark.skipif(ADDRESS is None, reason="needs a non-loopback address for a 'cloud' seat")


@pytest.fixture
def backend() -> Iterator[FakeModelServer]:
    """The fake model server on every interface: the proxy's backend and the cloud seats' own endpoint."""
    server = FakeModelServer(host="0.0.0.0").start()
    server.script("*", ANSWER)
    yield server
    server.stop()


def cloud_seat(server: FakeModelServer, name: str) -> ModelConfig:
    """A seat whose own endpoint is the fake server at this machine's outward address (not loopback)."""
    return ModelConfig(model=f"openai/{name}", api_base=f"http://{ADDRESS}:{server.port}/v1", timeout=20)


def refused_url() -> str:
    """A loopback URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


# --- config, trust, which seats -------------------------------------------------------------------


def test_the_gateway_table_parses_and_is_off_without_a_url() -> None:
    assert not ChorusConfig().gateway.active
    config = ChorusConfig.model_validate(
        {"gateway": {"url": "http://gw:4000", "key_env": "TEAM_KEY", "fallback": "local"}}
    )
    assert config.gateway.active and config.gateway.api_base == "http://gw:4000/v1"
    assert config.gateway.fallback == "local"
    assert not GatewayConfig(url="http://gw:4000", enabled=False).active
    assert GatewayConfig(url="http://gw:4000/v1/").api_base == "http://gw:4000/v1"
    with pytest.raises(ValidationError):
        GatewayConfig.model_validate({"fallback": "sometimes"})
    with pytest.raises(ValidationError):
        GatewayConfig.model_validate({"urls": "http://gw:4000"})


def test_an_untrusted_workspace_config_cannot_set_or_bypass_the_gateway() -> None:
    raw = {
        "gateway": {
            "url": "http://evil:4000",
            "key_env": "AWS_SECRET",
            "enabled": False,
            "fallback": "direct",
        }
    }
    clean, ignored = strip_untrusted(raw, {})
    assert clean["gateway"] == {}
    assert sorted(ignored) == ["gateway.enabled", "gateway.fallback", "gateway.key_env", "gateway.url"]


def test_an_untrusted_workspace_keeps_the_users_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    user_file = tmp_path / "user.toml"
    user_file.write_text('[gateway]\nurl = "http://team-gw:4000"\nkey_env = "TEAM_KEY"\n')
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "chorus.toml").write_text('[gateway]\nurl = "http://evil:4000"\nkey_env = "AWS_SECRET"\n')
    config, _ = load_config(workspace, user_file, workspace_trusted=False)
    assert (config.gateway.url, config.gateway.key_env) == ("http://team-gw:4000", "TEAM_KEY")


def test_only_cloud_seats_go_through_the_gateway() -> None:
    assert goes_through_gateway(ModelConfig(model="anthropic/claude-sonnet-4"))
    assert goes_through_gateway(ModelConfig(model="openai/x", api_base="https://api.example.com/v1"))
    assert not goes_through_gateway(ModelConfig(model="local/qwen2.5-coder-1.5b"))
    assert not goes_through_gateway(ModelConfig(model="openai/x", api_base="http://127.0.0.1:8080/v1"))
    assert not goes_through_gateway(ModelConfig(agent="claude", model="claude-sonnet-4"))


# --- what a gateway receives, and the fallbacks (the fake server stands in for the gateway) ---------


async def test_a_cloud_seat_reaches_the_gateway_with_the_virtual_key_and_tags(
    backend: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAM_KEY", "sk-virtual-alice")
    gateway = GatewayConfig(url=f"http://127.0.0.1:{backend.port}", key_env="TEAM_KEY")
    seat = ModelConfig(model="anthropic/claude-sonnet-4", timeout=10)
    with gateway_scope(gateway, user="alice", task="review", run_id="run-1") as scope:
        answer = await complete_chat("claude", seat, ASK, gate=OPEN_GATE)
    await close_clients()
    assert json.loads(answer) == {"findings": [FINDING]}
    (request,) = backend.requests
    assert (
        request.model == "anthropic/claude-sonnet-4"
    )  # The seat's own id: the proxy's model_list routes it.
    assert request.headers.get("authorization") == "Bearer sk-virtual-alice"
    assert request.body["user"] == "alice"
    assert request.body["metadata"] == {
        "user": "alice",
        "chorus_seat": "claude",
        "chorus_task": "review",
        "chorus_run": "run-1",
        "tags": ["user:alice", "seat:claude", "task:review"],
    }
    assert scope.notice() is None


async def test_a_local_seat_skips_the_gateway(backend: FakeModelServer) -> None:
    seat = ModelConfig(model="openai/local-one", api_base=backend.base_url.replace("0.0.0.0", "127.0.0.1"))
    with gateway_scope(GatewayConfig(url=refused_url(), fallback="none"), user="alice"):
        await complete_chat("local", seat, ASK, gate=OPEN_GATE)
    await close_clients()
    (request,) = backend.requests
    assert request.model == "local-one" and "metadata" not in request.body


async def test_a_virtual_key_that_is_not_set_fails_the_seat_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEAM_KEY", raising=False)
    gateway = GatewayConfig(url=refused_url(), key_env="TEAM_KEY")
    with gateway_scope(gateway, user="alice"), pytest.raises(ProviderError, match="TEAM_KEY is not set"):
        await complete_chat("claude", ModelConfig(model="anthropic/claude-sonnet-4"), ASK, gate=OPEN_GATE)


@needs_address
async def test_gateway_unreachable_falls_back_to_the_seat_itself(backend: FakeModelServer) -> None:
    gateway = GatewayConfig(url=refused_url(), fallback="direct")
    with gateway_scope(gateway, user="alice", task="review") as scope:
        await complete_chat("a", cloud_seat(backend, "fake-a"), ASK, gate=OPEN_GATE)
    await close_clients()
    (request,) = backend.requests
    assert request.model == "fake-a" and "metadata" not in request.body
    assert request.headers.get("host") == f"{ADDRESS}:{backend.port}"
    assert scope.notice() == f"gateway {gateway.url} unreachable: seats called directly (a)"


@pytest.mark.parametrize(
    ("fallback", "said"),
    [("none", "cloud seats failed"), ("local", "cloud seats skipped, local seats serve")],
)
async def test_gateway_unreachable_without_direct_fails_the_cloud_seat(
    backend: FakeModelServer, fallback: str, said: str
) -> None:
    gateway = GatewayConfig.model_validate({"url": refused_url(), "fallback": fallback})
    seat = ModelConfig(model="openai/fake-a", api_base=f"http://192.0.2.77:{backend.port}/v1", timeout=5)
    with gateway_scope(gateway, user="alice") as scope, pytest.raises(ProviderError) as caught:
        await complete_chat("a", seat, ASK, gate=OPEN_GATE)
    assert str(caught.value) == f"a: gateway {gateway.url} unreachable: {said} (a)"
    assert backend.requests == [] and scope.unreachable == ["a"]


async def test_with_fallback_local_a_review_is_served_by_the_local_seat(backend: FakeModelServer) -> None:
    config = ChorusConfig.model_validate(
        {
            "models": {
                "cloud": {"model": "openai/fake-a", "api_base": f"http://192.0.2.77:{backend.port}/v1"},
                "local": {"model": "openai/fake-l", "api_base": f"http://127.0.0.1:{backend.port}/v1"},
            },
            "panels": {"review": ["cloud", "local"]},
            "gateway": {"url": refused_url(), "fallback": "local"},
        }
    )
    request = ReviewRequest(document=SourceDocument(path="examples/ledger.py", text=LEDGER))
    result = await review_selection(request, config)  # The pipeline opens the gateway's scope itself.
    await close_clients()
    statuses = {m.name: m for m in result.models}
    assert statuses["local"].status == "ok" and statuses["cloud"].status == "error"
    assert "unreachable: cloud seats skipped, local seats serve" in (statuses["cloud"].error or "")
    assert [finding.start_line for finding in result.findings] == [8]
    assert [r.model for r in backend.requests] == ["fake-l"]
    assert result.notice == unreachable_notice(config.gateway, ["cloud"])


# --- the real LiteLLM proxy --------------------------------------------------------------------------


def chorus_process(config_file: Path, workspace: Path, env: dict[str, str]) -> dict[str, object]:
    """Run one Chorus process (this file's `main`) reviewing through the gateway; its JSON report."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.test_gateway", str(config_file), str(workspace)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def team_config(
    tmp_path: Path, who: str, proxy_url: str, backend: FakeModelServer, *, user: str | None
) -> Path:
    """A developer's chorus.toml: two cloud seats, the memory, and the team gateway with its key."""
    stated_user = f'user = "{user}"\n' if user else ""
    text = (
        f'[store]\npath = "{tmp_path / (who + ".db")}"\n{stated_user}'
        f'[gateway]\nurl = "{proxy_url}"\nkey_env = "CHORUS_GATEWAY_KEY"\nfallback = "direct"\n'
        f'[models.a]\nmodel = "openai/fake-a"\napi_base = "http://{ADDRESS}:{backend.port}/v1"\n'
        f'[models.b]\nmodel = "openai/fake-b"\napi_base = "http://{ADDRESS}:{backend.port}/v1"\n'
        '[panels]\nreview = ["a", "b"]\n'
    )
    path = tmp_path / f"{who}.toml"
    path.write_text(text)
    return path


@needs_proxy
@needs_address
def test_two_users_review_through_the_real_proxy(tmp_path: Path, backend: FakeModelServer) -> None:
    proxy = LiteLLMProxy.start(f"http://127.0.0.1:{backend.port}/v1", tmp_path / "proxy", master_key=TEAM_KEY)
    try:
        workspace = tmp_path / "ws"
        (workspace / "examples").mkdir(parents=True)
        (workspace / "examples" / "ledger.py").write_text(LEDGER)
        base_env = {k: v for k, v in os.environ.items() if k not in ("CHORUS_USER", "CHORUS_CONFIG")}
        base_env.update(CHORUS_GATEWAY_KEY=TEAM_KEY, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
        alice = chorus_process(
            team_config(tmp_path, "alice", proxy.url, backend, user="alice"), workspace, base_env
        )
        bob = chorus_process(
            team_config(tmp_path, "bob", proxy.url, backend, user=None),
            workspace,
            {**base_env, "USER": "bob"},
        )
        calls = proxy.wait_for_calls(4)
    finally:
        proxy.stop()
    assert alice["notice"] is None and bob["notice"] is None
    assert len(backend.requests) == 4 and all(
        r.headers.get("host", "").startswith("127.0.0.1") for r in backend.requests
    )
    seen = sorted((c["end_user"], c["metadata"]["chorus_seat"], c["metadata"]["chorus_task"]) for c in calls)
    assert seen == [
        ("alice", "a", "review"),
        ("alice", "b", "review"),
        ("bob", "a", "review"),
        ("bob", "b", "review"),
    ]
    assert all(f"user:{c['end_user']}" in c["metadata"]["tags"] for c in calls)
    for who, report in (("alice", alice), ("bob", bob)):
        charged = sum(c["cost"] for c in calls if c["end_user"] == who)
        models = report["models"]
        assert isinstance(models, list) and {m["status"] for m in models} == {"ok"}
        recorded = sum(m["cost_usd"] for m in models)
        assert charged > 0 and recorded == pytest.approx(charged)
        assert report["ledger_today_usd"] == pytest.approx(
            charged
        )  # The memory's ledger holds the proxy's cost.


@needs_proxy
@needs_address
async def test_the_proxy_stopped_mid_run_gives_the_fallback_and_a_notice(
    tmp_path: Path, backend: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHORUS_GATEWAY_KEY", TEAM_KEY)
    proxy = LiteLLMProxy.start(f"http://127.0.0.1:{backend.port}/v1", tmp_path / "proxy", master_key=TEAM_KEY)
    seat = cloud_seat(backend, "fake-a")
    gateway = GatewayConfig(url=proxy.url, key_env="CHORUS_GATEWAY_KEY", fallback="direct")
    try:
        with gateway_scope(gateway, user="alice", task="review") as scope:
            first = CallUsage()
            await complete_chat("a", seat, ASK, gate=OPEN_GATE, usage=first)
            assert scope.notice() is None and first.endpoint == f"{proxy.url}/v1"
            assert first.cost_usd == pytest.approx(proxy.wait_for_calls(1)[0]["cost"])
            proxy.stop()
            second = CallUsage()
            await complete_chat("a", seat, ASK, gate=OPEN_GATE, usage=second)
    finally:
        proxy.stop()
        await close_clients()
    assert scope.notice() == f"gateway {proxy.url} unreachable: seats called directly (a)"
    assert second.endpoint == seat.api_base
    direct = [r for r in backend.requests if r.headers.get("host") == f"{ADDRESS}:{backend.port}"]
    assert len(backend.requests) == 2 and len(direct) == 1


# --- this file as one Chorus process -------------------------------------------------------------------


async def _review(config_file: Path, workspace: Path) -> dict[str, object]:
    config, _ = load_config(workspace, config_file, workspace_trusted=True)
    memory = StoreWriter(config.store)
    request = ReviewRequest(document=SourceDocument(path="examples/ledger.py", text=LEDGER))
    try:
        with gateway_scope(config.gateway, user=config.store.resolved_user(), task="review") as scope:
            result = await review_selection(request, config, workspace=workspace, memory=memory)
    finally:
        memory.close()
        await close_clients()
    from orchestration.learning.spend import ledger

    with Store.open(StoreConfig(path=config.store.path, user=config.store.user)) as store:
        spent = ledger(store, user=config.store.resolved_user()).today_usd
    models = [m.model_dump(include={"name", "status", "error", "cost_usd"}) for m in result.models]
    return {"models": models, "notice": scope.notice(), "ledger_today_usd": spent}


def main() -> None:
    """Review `examples/ledger.py` with the config in argv[1], the workspace argv[2]; print JSON."""
    report = anyio.run(_review, Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
