"""Agent seats: coding-agent CLIs (fakes reproducing each CLI's output) as panel members.

The fakes (tests/agents/fake_agent.py) record the argv, environment, stdin, working directory and
files each run got; reviews go through the real pipeline next to a chat seat on the fake model
server; deadlines and cancellation are checked through /proc.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from sqlalchemy import select

from faces.cli.models_check import check_agent
from orchestration.memory import schema
from orchestration.memory.settings import StoreConfig
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.pipelines.review import review_selection
from orchestration.privacy import trust
from orchestration.privacy.gate import OPEN_GATE, PrivacyGate
from orchestration.providers.agents.profiles import PROFILES
from orchestration.providers.agents.sandbox import copies_root
from orchestration.providers.agents.scope import agent_scope
from orchestration.providers.base import CallUsage
from orchestration.providers.chat import complete_chat
from orchestration.types.config import ChorusConfig, ModelConfig, PolicyConfig, load_layers
from orchestration.types.errors import ProviderError
from orchestration.types.requests import ReviewRequest, SourceDocument
from tests.agents import FakeAgents
from tests.fake_models import FakeModelServer, seat_config

LEDGER = (Path(__file__).resolve().parent.parent / "examples" / "ledger.py").read_text()
OFF_BY_ONE = {
    "start_line": 8,
    "end_line": 8,
    "severity": "error",
    "category": "bug",
    "message": "Off-by-one: range(len(amounts) + 1) reads past the end and raises IndexError.",
}
ANSWER = json.dumps({"findings": [OFF_BY_ONE]})
FOREIGN = {"OPENAI_API_KEY": "sk-foreign-0123456789abcdef", "AWS_SECRET_ACCESS_KEY": "aws-foreign-secret-xyz"}
AGENT_KEY = "sk-ant-agent-own-key-0123456789"
PING = [{"role": "user", "content": "Reply with the single word OK."}]


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAgents:
    agents = FakeAgents(tmp_path)
    monkeypatch.setenv("PATH", agents.path_with_fakes())
    for name, value in FOREIGN.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MY_AGENT_KEY", AGENT_KEY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    return agents


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "examples").mkdir(parents=True)
    (root / "examples" / "ledger.py").write_text(LEDGER)
    (root / "README.md").write_text("# a project\n")
    (root / ".env").write_text("DB_PASSWORD=hunter2-very-secret\n")
    (root / "private").mkdir()
    (root / "private" / "notes.txt").write_text("keep me home\n")
    return root.resolve()


def snapshot(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def agent_seat(agent: str, **fields: object) -> ModelConfig:
    return ModelConfig.model_validate(
        {"agent": agent, "api_key_env": "MY_AGENT_KEY", "timeout": 20.0, **fields}
    )


def ledger_request() -> ReviewRequest:
    return ReviewRequest(document=SourceDocument(path="examples/ledger.py", text=LEDGER))


def processes_gone(pids: list[int]) -> bool:
    """True when none of `pids` is a live process (gone from /proc, or a zombie awaiting its reaper)."""
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state != "Z":
            return False
    return True


async def wait_gone(pids: list[int]) -> bool:
    """Whether `pids` are gone within a few seconds (SIGKILL is immediate; reaping may take a moment)."""
    for _ in range(100):
        if processes_gone(pids):
            return True
        await anyio.sleep(0.05)
    return False


def exists(path: str) -> bool:
    return Path(path).exists()


@pytest.fixture
def memory_store(tmp_path: Path) -> Iterator[StoreWriter]:
    writer = StoreWriter(StoreConfig(path=tmp_path / "store" / "chorus.db"))
    yield writer
    writer.close()


async def test_an_agent_seat_and_a_chat_seat_review_together(
    fakes: FakeAgents, workspace: Path, model_server: FakeModelServer, memory_store: StoreWriter
) -> None:
    fakes.install("claude", answer="I read examples/ledger.py.\n```json\n" + ANSWER + "\n```")
    model_server.script("gpt", json.dumps({"findings": [{**OFF_BY_ONE, "message": "IndexError at the end"}]}))
    config = ChorusConfig(
        models={"claude-code": agent_seat("claude"), "gpt": seat_config(model_server, "gpt")},
        policy=PolicyConfig(exclude=["private/**"]),
    )
    before = snapshot(workspace)

    with agent_scope(workspace, config.policy, trusted=True, memory=memory_store):
        result = await review_selection(ledger_request(), config, workspace=workspace, memory=memory_store)

    statuses = {m.name: m for m in result.models}
    assert statuses["claude-code"].status == "ok" and statuses["gpt"].status == "ok"
    assert statuses["claude-code"].model == "agent/claude"
    assert statuses["claude-code"].cost_usd == pytest.approx(0.0123)
    assert statuses["claude-code"].tokens_in == 120 and statuses["claude-code"].tokens_out == 30
    (merged,) = [f for f in result.findings if f.start_line == 8]
    assert merged.votes == 2 and sorted(merged.models) == ["claude-code", "gpt"]
    (call,) = fakes.calls()
    assert call["argv"][:3] == ["-p", "--output-format", "json"]
    assert "--permission-mode" in call["argv"] and "plan" in call["argv"]
    assert "range(len(amounts) + 1)" in call["stdin"]  # The prompt (with the code) came on stdin.
    # It ran in a throwaway copy: the workspace's files, less the excluded ones, outside the workspace.
    assert Path(call["cwd"]).is_relative_to(copies_root()) and not exists(call["cwd"])
    assert "examples/ledger.py" in call["files"] and "README.md" in call["files"]
    assert ".env" not in call["files"] and "private/notes.txt" not in call["files"]
    # Its environment: the basics, its own key, the mark; no other secret of the user's.
    env = call["env"]
    assert env["ANTHROPIC_API_KEY"] == AGENT_KEY and env["CHORUS_AGENT_SEAT"] == "claude-code"
    assert not set(FOREIGN) & set(env) and "MY_AGENT_KEY" not in env
    assert not any(value in json.dumps(env) for value in FOREIGN.values())
    assert snapshot(workspace) == before
    # The audit says the agent was given the workspace, and what its call sent.
    assert memory_store.flush(10)
    with Store.open(StoreConfig(path=memory_store.config.path)) as store, store.engine.connect() as db:
        rows = db.execute(select(schema.audit).where(schema.audit.c.seat == "claude-code")).all()
    outcomes = sorted(row.outcome for row in rows)
    assert outcomes == ["ok", "workspace copy: 2 files"]
    copy_row = next(row for row in rows if row.outcome.startswith("workspace copy"))
    assert copy_row.model == "agent/claude" and copy_row.path == str(workspace)
    assert copy_row.bytes_sent == len(LEDGER.encode()) + len(b"# a project\n")


@pytest.mark.parametrize("name", sorted(PROFILES))
async def test_each_cli_s_output_is_read(fakes: FakeAgents, workspace: Path, name: str) -> None:
    fakes.install(name, answer=ANSWER)
    usage = CallUsage()
    seat = agent_seat(name, api_base="http://127.0.0.1:9/v1", model="some-model")
    with agent_scope(workspace, PolicyConfig(), trusted=True):
        text = await complete_chat(f"{name}-seat", seat, PING, gate=OPEN_GATE, usage=usage)
    assert json.loads(text) == {"findings": [OFF_BY_ONE]}
    (call,) = fakes.calls()
    assert "OK." in call["prompt"]
    profile = PROFILES[name]
    for flag in ("plan", 'sandbox_mode="read-only"', "--deny-tool=write"):
        if flag in profile.argv:
            assert flag in call["argv"]
    for variable in profile.endpoint_env:
        assert call["env"][variable] == "http://127.0.0.1:9/v1"
    for variable in profile.key_env:
        assert call["env"][variable] == AGENT_KEY
    assert "some-model" in call["argv"] or {call["env"].get(v) for v in profile.model_env} == {"some-model"}
    if profile.endpoint_args:  # codex: the endpoint is a provider table given as arguments
        assert any("127.0.0.1:9" in item for item in call["argv"])
    if name != "grok":
        assert usage.tokens_in and usage.tokens_out


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("claude", "Invalid API key"),
        ("codex", "401 Unauthorized"),
        ("gemini", "Invalid auth method selected"),
        ("copilot", "exited with status 1: Error: authentication failed (401)"),
        ("grok", "exited with status 1: Error: authentication failed (401)"),
    ],
)
async def test_an_agent_s_error_is_one_line(fakes: FakeAgents, workspace: Path, name: str, said: str) -> None:
    fakes.install(name, mode="error")
    with agent_scope(workspace, PolicyConfig(), trusted=True), pytest.raises(ProviderError) as raised:
        await complete_chat("seat", agent_seat(name), PING, gate=OPEN_GATE)
    assert said in str(raised.value) and "\n" not in str(raised.value)
    assert raised.value.kind == "error"


async def test_a_missing_cli_leaves_the_rest_of_the_panel(
    fakes: FakeAgents, workspace: Path, model_server: FakeModelServer
) -> None:
    model_server.script("gpt", ANSWER)
    config = ChorusConfig(models={"copilot": agent_seat("copilot"), "gpt": seat_config(model_server, "gpt")})
    with agent_scope(workspace, config.policy, trusted=True):
        result = await review_selection(ledger_request(), config, workspace=workspace)
    statuses = {m.name: m for m in result.models}
    assert statuses["gpt"].status == "ok" and [f.start_line for f in result.findings] == [8]
    assert statuses["copilot"].status == "error"
    assert (statuses["copilot"].error or "").startswith("unavailable: copilot is not on PATH")


async def test_a_hanging_agent_is_killed_at_its_timeout(fakes: FakeAgents, workspace: Path) -> None:
    fakes.install("codex", mode="hang")
    started = anyio.current_time()
    with agent_scope(workspace, PolicyConfig(), trusted=True), pytest.raises(ProviderError) as raised:
        await complete_chat("slow", agent_seat("codex", timeout=1.5), PING, gate=OPEN_GATE)
    assert raised.value.kind == "timeout" and "timed out after 1.5 s" in str(raised.value)
    assert anyio.current_time() - started < 10
    pids = fakes.pids()
    assert len(pids) == 2  # The agent and the child it started.
    assert await wait_gone(pids), f"still running: {pids}"


async def test_the_panel_deadline_kills_a_hanging_agent(
    fakes: FakeAgents, workspace: Path, model_server: FakeModelServer
) -> None:
    fakes.install("gemini", mode="hang")
    model_server.script("gpt", ANSWER)
    config = ChorusConfig(
        models={"gem": agent_seat("gemini", timeout=60), "gpt": seat_config(model_server, "gpt")},
        policy=PolicyConfig(deadline=2.0),
    )
    with agent_scope(workspace, config.policy, trusted=True):
        result = await review_selection(ledger_request(), config, workspace=workspace)
    statuses = {m.name: m.status for m in result.models}
    assert statuses == {"gem": "timeout", "gpt": "ok"}
    assert await wait_gone(fakes.pids())


async def test_cancelling_the_call_kills_the_agent_s_process_tree(fakes: FakeAgents, workspace: Path) -> None:
    fakes.install("claude", mode="hang")
    async with anyio.create_task_group() as group:

        async def ask() -> None:
            with agent_scope(workspace, PolicyConfig(), trusted=True):
                await complete_chat("seat", agent_seat("claude", timeout=60), PING, gate=OPEN_GATE)

        group.start_soon(ask)
        for _ in range(300):
            if len(fakes.pids()) == 2:
                break
            await anyio.sleep(0.05)
        pids = fakes.pids()
        assert not processes_gone(pids)
        group.cancel_scope.cancel()
    assert await wait_gone(pids), f"still running: {pids}"
    assert fakes.calls()[0]["pgid"] == pids[0]  # The agent led its own process group.


async def test_an_agent_that_edits_leaves_the_workspace_untouched(fakes: FakeAgents, workspace: Path) -> None:
    fakes.install("grok", mode="edit", answer=ANSWER)  # grok has no read-only mode: the copy is all.
    before = snapshot(workspace)
    with agent_scope(workspace, PolicyConfig(), trusted=True):
        text = await complete_chat("grok", agent_seat("grok"), PING, gate=OPEN_GATE)
    assert json.loads(text)["findings"][0]["start_line"] == 8
    (call,) = fakes.calls()
    assert not exists(call["cwd"])  # The copy it vandalised is gone.
    assert snapshot(workspace) == before
    assert not (workspace / "AGENT_WAS_HERE.txt").exists()


async def test_a_git_workspace_copies_what_git_knows(fakes: FakeAgents, workspace: Path) -> None:
    (workspace / ".gitignore").write_text("build/\n")
    (workspace / "build").mkdir()
    (workspace / "build" / "out.bin").write_text("artefact")
    await anyio.run_process(["git", "init", "-q", str(workspace)])
    fakes.install("claude", answer=ANSWER)
    with agent_scope(workspace, PolicyConfig(), trusted=True):
        await complete_chat("seat", agent_seat("claude"), PING, gate=OPEN_GATE)
    files = fakes.calls()[0]["files"]
    assert "examples/ledger.py" in files and ".gitignore" in files
    assert "build/out.bin" not in files and ".env" not in files
    assert not any(name.startswith(".git/") for name in files)


async def test_agents_refuse_untrusted_workspaces(fakes: FakeAgents, workspace: Path) -> None:
    fakes.install("claude", answer=ANSWER)
    with agent_scope(workspace, PolicyConfig()), pytest.raises(ProviderError) as raised:
        await complete_chat("seat", agent_seat("claude"), PING, gate=OPEN_GATE)
    assert "trusted workspaces" in str(raised.value) and "chorus trust" in str(raised.value)
    assert fakes.calls() == []
    with pytest.raises(ProviderError, match="need a workspace"):
        await complete_chat("seat", agent_seat("claude"), PING, gate=OPEN_GATE)
    trust.trust_workspace(workspace, None, None)  # `chorus trust` on a workspace without a config
    with agent_scope(workspace, PolicyConfig()):
        assert json.loads(await complete_chat("seat", agent_seat("claude"), PING, gate=OPEN_GATE))
    (workspace / "chorus.toml").write_text("[policy]\ndeadline = 30\n")  # a config added later
    with agent_scope(workspace, PolicyConfig()), pytest.raises(ProviderError, match="trusted"):
        await complete_chat("seat", agent_seat("claude"), PING, gate=OPEN_GATE)


def test_an_untrusted_workspace_config_cannot_set_agents_or_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    workspace = tmp_path / "cloned"
    workspace.mkdir()
    (workspace / "chorus.toml").write_text(
        '[models.evil]\nagent = "custom"\ncommand = ["sh", "-c", "curl evil"]\n'
        '[models.sneaky]\nagent = "claude"\nmodel = "claude-opus"\n'
        '[models.ok]\nmodel = "openai/gpt-4o"\n'
        '[panels]\nreview = ["evil", "sneaky", "ok"]\narbiter = "evil"\n'
    )
    loaded = load_layers(workspace, workspace)
    assert not loaded.trusted
    assert set(loaded.config.models) == {"sneaky", "ok"}  # the seat left without a model is dropped
    assert loaded.config.models["sneaky"].agent is None
    assert loaded.config.models["sneaky"].model == "claude-opus"
    assert loaded.config.panels.review == ["sneaky", "ok"] and loaded.config.panels.arbiter is None
    assert {"models.evil.agent", "models.evil.command", "models.sneaky.agent"} <= set(loaded.ignored)
    trusted = load_layers(workspace, workspace, workspace_trusted=True)
    assert trusted.config.models["evil"].command == ["sh", "-c", "curl evil"]


async def test_a_custom_command_gets_the_prompt_as_an_argument(fakes: FakeAgents, workspace: Path) -> None:
    script = fakes.install("my-agent", as_="custom", answer="plain text answer")
    seat = ModelConfig(agent="custom", command=[str(script), "--json"], prompt="arg", output="text")
    assert seat.model == "agent/custom"
    with agent_scope(workspace, PolicyConfig(), trusted=True):
        text = await complete_chat("mine", seat, PING, gate=OPEN_GATE)
    assert text == "plain text answer"
    (call,) = fakes.calls()
    assert call["argv"] == ["--json", PING[0]["content"]] and call["stdin"] == ""


async def test_local_only_files_never_reach_an_agent(fakes: FakeAgents, workspace: Path) -> None:
    fakes.install("claude", answer=ANSWER)
    gate = PrivacyGate.for_document("examples/ledger.py", PolicyConfig(local_only=["examples/**"]), workspace)
    with (
        agent_scope(workspace, PolicyConfig(), trusted=True),
        pytest.raises(ProviderError, match="local_only"),
    ):
        await complete_chat("seat", agent_seat("claude"), PING, gate=gate)
    assert fakes.calls() == []


def test_agent_seat_config_errors_are_one_line() -> None:
    with pytest.raises(ValueError, match="Field required"):
        ModelConfig.model_validate({})
    with pytest.raises(ValueError, match="needs command"):
        ModelConfig.model_validate({"agent": "custom"})
    with pytest.raises(ValueError, match="does not match agent"):
        ModelConfig.model_validate({"agent": "claude", "model": "agent/codex"})
    with pytest.raises(ValueError, match="is for agent seats"):
        ModelConfig.model_validate({"model": "openai/x", "command": ["x"]})
    assert ModelConfig(agent="codex", model="gpt-5").model == "agent/codex/gpt-5"
    assert ModelConfig(agent="codex", model="gpt-5").agent_model == "gpt-5"
    assert os.sep  # (keeps the import honest on every platform)


async def test_chorus_models_shows_each_agent_s_version_and_sign_in(fakes: FakeAgents) -> None:
    fakes.install("claude")
    fakes.install("codex")
    keyed = await check_agent("claude-code", agent_seat("claude"))
    assert (keyed.status, keyed.version, keyed.signed_in) == ("ok", "9.9.9-fake", True)
    keyless = await check_agent("codex", ModelConfig(agent="codex"))
    assert (keyless.status, keyless.signed_in) == ("ok", False)
    gemini = await check_agent("gem", ModelConfig(agent="gemini"))
    assert gemini.status == "error" and gemini.error == "unavailable: gemini is not on PATH"
    fakes.install("gemini")
    assert (await check_agent("gem", ModelConfig(agent="gemini"))).signed_in is None  # it cannot tell
    assert fakes.calls() == []  # no prompt was sent to any of them


def pipeline_sets_the_scope() -> bool:
    """Whether the pipelines open an agent scope themselves (the lead's wiring of skeleton.py and chat.py)."""
    import inspect

    from orchestration.pipelines import skeleton
    from orchestration.providers import chat

    return "agent_scope" in inspect.getsource(skeleton) and "AgentProvider" in inspect.getsource(chat)


@pytest.mark.skipif(not pipeline_sets_the_scope(), reason="skeleton.py / chat.py do not wire agent seats yet")
async def test_a_plain_review_runs_agent_seats_in_a_trusted_workspace(
    fakes: FakeAgents, workspace: Path, model_server: FakeModelServer, memory_store: StoreWriter
) -> None:
    """No scope set by the caller: the pipeline gives agents its workspace, policy and memory."""
    fakes.install("codex", answer=ANSWER)
    model_server.script("gpt", ANSWER)
    seats = {"cx": agent_seat("codex"), "gpt": seat_config(model_server, "gpt")}
    config = ChorusConfig.model_validate({"models": seats, "cache": {"enabled": False}})
    untrusted = await review_selection(ledger_request(), config, workspace=workspace, memory=memory_store)
    assert "trusted workspaces" in ({m.name: m.error for m in untrusted.models}["cx"] or "")
    trust.trust_workspace(workspace, None, None)
    for _ in range(2):
        result = await review_selection(ledger_request(), config, workspace=workspace, memory=memory_store)
        assert {m.name: m.status for m in result.models} == {"cx": "ok", "gpt": "ok"}
    first, second = fakes.calls()
    assert "resume" not in first["argv"] and second["argv"][:2] == ["exec", "resume"]


async def test_an_agent_that_floods_stderr_still_answers(fakes: FakeAgents, workspace: Path) -> None:
    fakes.install("copilot", mode="flood", answer=ANSWER)  # 2 MB of log lines before the answer
    with agent_scope(workspace, PolicyConfig(), trusted=True):
        text = await complete_chat("cp", agent_seat("copilot"), PING, gate=OPEN_GATE)
    assert json.loads(text) == {"findings": [OFF_BY_ONE]}


async def test_calls_of_one_seat_in_one_workspace_take_turns(fakes: FakeAgents, workspace: Path) -> None:
    """The copy's folder is stable (claude resumes by working directory): calls must not share it."""
    fakes.install("claude", mode="slow", answer=ANSWER)
    answers: list[str] = []

    async def ask() -> None:
        with agent_scope(workspace, PolicyConfig(), trusted=True):
            answers.append(await complete_chat("same", agent_seat("claude"), PING, gate=OPEN_GATE))

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(ask)
    assert len(answers) == 3 and len({call["cwd"] for call in fakes.calls()}) == 1
