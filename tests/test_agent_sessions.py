"""Persistent agent sessions: kept per workspace × seat × user, resumed by the next call and by
follow-ups (`chorus ask`), listed and cleared by `chorus sessions`.

The fake CLIs (tests/agents) record the argv they got, so a resumed run shows the session id the
earlier one returned.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from rich.console import Console

from faces.cli.agent_commands import AGENT_COMMANDS, add_agent_parsers, run_agent_command
from orchestration.memory import sessions
from orchestration.memory.settings import StoreConfig
from orchestration.memory.store import Store
from orchestration.memory.writer import StoreWriter
from orchestration.pipelines.review import review_selection
from orchestration.privacy import trust
from orchestration.privacy.gate import OPEN_GATE
from orchestration.providers.agents.scope import agent_scope
from orchestration.providers.chat import complete_chat
from orchestration.types.config import ChorusConfig, ModelConfig, PolicyConfig
from orchestration.types.errors import InputError
from orchestration.types.requests import ReviewRequest, SourceDocument
from tests.agents import FakeAgents
from tests.agents.fake_agent import session_asked
from tests.cli_runner import write_seats_config
from tests.fake_models import FakeModelServer, make_config
from tests.lsp_client import ChorusLauncher, config_options, finding, review_answer

LEDGER = (Path(__file__).resolve().parent.parent / "examples" / "ledger.py").read_text()
FINDING = {
    "start_line": 8,
    "end_line": 8,
    "severity": "error",
    "category": "bug",
    "message": "Off-by-one: range(len(amounts) + 1) reads past the end and raises IndexError.",
}
PING = [{"role": "user", "content": "Reply with the single word OK."}]


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAgents:
    agents = FakeAgents(tmp_path)
    monkeypatch.setenv("PATH", agents.path_with_fakes())
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    monkeypatch.setenv("CHORUS_USER", "ada")
    return agents


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "examples").mkdir(parents=True)
    (root / "examples" / "ledger.py").write_text(LEDGER)
    return root.resolve()


@pytest.fixture
def store_config(tmp_path: Path) -> StoreConfig:
    return StoreConfig(path=tmp_path / "store" / "chorus.db")


def resumed_ids(agents: FakeAgents) -> list[str | None]:
    return [session_asked(call["name"], call["argv"]) for call in agents.calls()]


@pytest.mark.parametrize("name", ["claude", "codex", "gemini", "copilot"])
async def test_the_next_call_resumes_the_session_the_first_returned(
    fakes: FakeAgents, workspace: Path, store_config: StoreConfig, name: str
) -> None:
    fakes.install(name, answer='{"findings": []}')
    seat = ModelConfig(agent=name)
    memory = StoreWriter(store_config)
    try:
        for _ in range(3):
            with agent_scope(workspace, PolicyConfig(), memory=memory, trusted=True):
                await complete_chat("helper", seat, PING, gate=OPEN_GATE)
    finally:
        memory.close()
    first, second, third = resumed_ids(fakes)
    assert first is None and second is not None and second == third
    with Store.open(store_config) as store:
        kept = sessions.find(store, str(workspace), "helper")
    assert kept is not None and kept.session_id == second and kept.agent == name and kept.user == "ada"
    assert kept.used_at >= kept.created_at


async def test_grok_cannot_resume_so_nothing_is_kept(
    fakes: FakeAgents, workspace: Path, store_config: StoreConfig
) -> None:
    fakes.install("grok")
    memory = StoreWriter(store_config)
    try:
        for _ in range(2):
            with agent_scope(workspace, PolicyConfig(), memory=memory, trusted=True):
                await complete_chat("g", ModelConfig(agent="grok"), PING, gate=OPEN_GATE)
    finally:
        memory.close()
    assert all("--resume" not in " ".join(call["argv"]) for call in fakes.calls())
    with Store.open(store_config) as store:
        assert sessions.listed(store) == []


async def test_a_session_that_cannot_be_resumed_is_replaced(
    fakes: FakeAgents, workspace: Path, store_config: StoreConfig
) -> None:
    fakes.install("claude", mode="stale")
    with Store.open(store_config) as store:
        sessions.remember(store, str(workspace), "c", "claude", "gone-session")
    memory = StoreWriter(store_config)
    try:
        with agent_scope(workspace, PolicyConfig(), memory=memory, trusted=True):
            await complete_chat("c", ModelConfig(agent="claude"), PING, gate=OPEN_GATE)
    finally:
        memory.close()
    assert resumed_ids(fakes) == ["gone-session", None]  # tried, then started afresh
    with Store.open(store_config) as store:
        kept = sessions.find(store, str(workspace), "c")
    assert kept is not None and kept.session_id not in ("gone-session", "")


def test_sessions_are_per_workspace_seat_and_user(store_config: StoreConfig) -> None:
    with Store.open(store_config) as store:
        sessions.remember(store, "/a", "s", "claude", "1", user="ada", now=10)
        sessions.remember(store, "/a", "s", "claude", "2", user="ada", now=20)  # replaces 1
        sessions.remember(store, "/b", "s", "codex", "3", user="ada", now=30)
        sessions.remember(store, "/a", "s", "claude", "4", user="bob", now=40)
        assert [s.session_id for s in sessions.listed(store, user="ada")] == ["3", "2"]
        assert [s.session_id for s in sessions.listed(store, "/a", user="ada")] == ["2"]
        assert sessions.find(store, "/a", "s", user="bob") is not None
        assert sessions.clear(store, "/b", user="ada") == 1
        assert sessions.clear(store, user="ada") == 1
        assert [s.session_id for s in sessions.listed(store, user="bob")] == ["4"]


def parser() -> argparse.ArgumentParser:
    """The CLI's shape for these commands (the lead wires them into faces/cli/main.py)."""
    top = argparse.ArgumentParser(prog="chorus")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path)
    common.add_argument("--workspace", type=Path)
    common.add_argument("--json", action="store_true")
    add_agent_parsers(top.add_subparsers(dest="command"), common)
    return top


async def run(argv: list[str]) -> tuple[int, str, str]:
    args = parser().parse_args(argv)
    assert args.command in AGENT_COMMANDS
    out, err = io.StringIO(), io.StringIO()
    code = await run_agent_command(args, Console(file=out, width=200), Console(file=err, width=200))
    return code, out.getvalue(), err.getvalue()


async def test_chorus_ask_resumes_the_review_s_session(
    fakes: FakeAgents, workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fakes.install("claude", answer=json.dumps({"findings": [FINDING]}))
    store_path = tmp_path / "store" / "chorus.db"
    config_file = tmp_path / "chorus.toml"
    config_file.write_text(
        f'[models.claude-code]\nagent = "claude"\ntimeout = 20\n[store]\npath = "{store_path}"\n'
    )
    trust.trust_workspace(workspace, None, None)
    config = ChorusConfig.model_validate(
        {"models": {"claude-code": {"agent": "claude"}}, "store": {"path": str(store_path)}}
    )
    memory = StoreWriter(config.store)
    try:
        request = ReviewRequest(
            document=SourceDocument(path=str(workspace / "examples/ledger.py"), text=LEDGER)
        )
        with agent_scope(workspace, config.policy, memory=memory):
            result = await review_selection(request, config, workspace=workspace, memory=memory)
    finally:
        memory.close()
    (finding,) = result.findings
    assert finding.finding_id
    fakes.install("claude", answer="It holds: i reaches len(amounts).")

    common = ["--config", str(config_file), "--workspace", str(workspace)]
    code, out, err = await run(["ask", "claude-code", finding.finding_id, "Why is this wrong?", *common])
    assert code == 0, err
    assert "It holds: i reaches len(amounts)." in out
    _review_call, ask_call = fakes.calls()
    assert session_asked("claude", ask_call["argv"]) is not None
    with Store.open(config.store) as store:
        kept = sessions.find(store, str(workspace), "claude-code", user="ada")
    assert kept is not None and session_asked("claude", ask_call["argv"]) == kept.session_id
    assert "Why is this wrong?" in ask_call["stdin"] and "Off-by-one" in ask_call["stdin"]
    assert "range(len(amounts) + 1)" in ask_call["stdin"]  # the code, read from the file as it is now

    code, out, _ = await run(["sessions", "--json", *common])
    listed = json.loads(capsys.readouterr().out)["sessions"]
    assert code == 0 and [s["seat"] for s in listed] == ["claude-code"]
    assert listed[0]["session_id"] == kept.session_id
    code, out, _ = await run(["sessions", "--clear", *common])
    assert code == 0 and "Forgot 1 agent session." in out
    code, out, _ = await run(["sessions", *common])
    assert "No agent sessions kept." in out

    with pytest.raises(InputError, match="no finding 'nope'"):
        await run(["ask", "claude-code", "nope", "why?", *common])
    with pytest.raises(InputError, match="no seat 'ghost'"):
        await run(["ask", "ghost", finding.finding_id, "why?", *common])


SERVED = "def mean(values):\n    return sum(values) / len(values) + 1\n"


async def test_the_editor_s_ask_action_puts_the_question_to_the_agent(
    chorus: ChorusLauncher, model_server: FakeModelServer, fakes: FakeAgents
) -> None:
    """Through the real server: a review's finding offers "Ask helper more about this finding" for the
    agent seat; running it asks the agent (in the workspace the editor trusts) and shows its answer."""
    off_by_one = review_answer(finding(2, "Off-by-one: the mean gets 1 added"))
    model_server.script("claude", off_by_one)
    fakes.install("claude", answer=off_by_one)
    config = make_config(model_server, ["claude"])
    options = config_options(config)
    options["models"]["helper"] = {"agent": "claude", "timeout": 30}
    options["panels"] = {"review": ["claude"]}
    options["workspaceTrusted"] = True
    async with chorus(init_options=options, env={"PATH": fakes.path_with_fakes()}) as client:
        uri = client.open_document("app.py", SERVED)
        answer = await client.review_selection(uri, 0, 2)
        assert [m["status"] for m in answer["models"]] == ["ok"]
        [diagnostic] = [d for d in client.diagnostics[uri] if d.source == "chorus"]
        found = await client.code_actions_at(uri, diagnostic.range, [diagnostic])
        asks = [a for a in found or [] if isinstance(a, types.CodeAction) and a.title.startswith("Ask ")]
        assert [a.title for a in asks] == ["Ask helper more about this finding"]
        command = asks[0].command
        assert command is not None and command.command == "chorus.askAboutFinding"
        fakes.install("claude", answer="Yes: drop the + 1.")
        params = types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
        reply = await client.workspace_execute_command_async(params)
    assert reply["answer"] == "Yes: drop the + 1." and reply["error"] is None, reply
    (call,) = fakes.calls()
    assert "Off-by-one: the mean gets 1 added" in call["stdin"] and "does it hold" in call["stdin"]
    assert "return sum(values) / len(values) + 1" in call["stdin"]


async def test_the_mcp_ask_tool_resumes_the_agent_s_review_session(
    tmp_path: Path, model_server: FakeModelServer, fakes: FakeAgents, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chorus mcp`: review with an agent seat, then `ask` it about the finding; it resumes its session."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    from tests.test_mcp_face import REPO, server_environment, structured, text_of

    workspace = tmp_path / "project"
    (workspace / "examples").mkdir(parents=True)
    (workspace / "examples" / "ledger.py").write_text(LEDGER)
    answer = json.dumps({"findings": [FINDING]})
    fakes.install("claude", answer=answer)
    model_server.script("gpt", answer)
    config = write_seats_config(
        tmp_path, model_server, ["gpt"], '[models.helper]\nagent = "claude"\ntimeout = 30\n'
    )
    environment = server_environment(tmp_path, {"PATH": fakes.path_with_fakes(), "CHORUS_USER": "ada"})
    monkeypatch.setenv("XDG_CONFIG_HOME", environment["XDG_CONFIG_HOME"])
    trust.trust_workspace(workspace, None, None)
    arguments = ["-m", "server", "mcp", "--config", str(config), "--workspace", str(workspace)]
    params = StdioServerParameters(command=sys.executable, args=arguments, env=environment, cwd=str(REPO))
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            assert set(tools["ask"].input_schema["required"]) == {"seat", "finding_id", "question"}
            review = await session.call_tool("review", {"path": str(workspace / "examples" / "ledger.py")})
            form = structured(review)
            statuses = {m["name"]: m["status"] for m in form["models"]}
            assert statuses == {"gpt": "ok", "helper": "ok"}, text_of(review)
            [finding_id] = [d["data"]["findingId"] for d in form["diagnostics"]]
            fakes.install("claude", answer="It holds: i reaches len(amounts).")
            asked = await session.call_tool(
                "ask", {"seat": "helper", "finding_id": finding_id, "question": "Why?"}
            )
            missing = await session.call_tool(
                "ask", {"seat": "helper", "finding_id": "nope", "question": "Why?"}
            )
    assert structured(asked)["answer"] == "It holds: i reaches len(amounts)."
    assert missing.is_error and "no finding 'nope'" in text_of(missing)
    review_call, ask_call = fakes.calls()
    assert session_asked("claude", review_call["argv"]) is None
    assert session_asked("claude", ask_call["argv"]) is not None  # the session the review started
    assert "Why?" in ask_call["stdin"]
