"""`chorus mcp` through the official MCP SDK's own client, against the fake model server.

The server is `python -m server mcp --config CFG` on stdio (as Claude Code, Codex or Gemini CLI
start it); the CLI runs as a subprocess beside it. Both use the default store under the test's
private `XDG_DATA_HOME`, so a run made through MCP must show in `chorus history` and a verdict
given through MCP in `chorus stats`: one store, two faces.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from tests.cli_runner import REPO, run_chorus, write_seats_config
from tests.fake_models import FakeModelServer

LEDGER = REPO / "examples" / "ledger.py"
KEY_ENV = "CHORUS_MCP_TEST_KEY"
CANARY = "sk-canary-mcp-7d3e9a1c5b8f2e4d6a0c"
TOOLS = {"review", "implement", "explain", "ask", "stats", "history", "show_run", "feedback", "recall"}
OFF_BY_ONE = {
    "start_line": 8,
    "end_line": 8,
    "severity": "error",
    "category": "bug",
    "message": "Off-by-one: the loop reads past the end of amounts.",
    "fix": {"start_line": 8, "end_line": 8, "replacement": "    for i in range(len(amounts)):\n"},
}
STYLE = {"start_line": 5, "end_line": 5, "severity": "info", "category": "style", "message": "Name is vague."}


def server_environment(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """What `chorus mcp` and `chorus` get: no provider keys but the seat's, a private user config."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.endswith("_API_KEY") and name != "CHORUS_CONFIG"
    }
    user_config = tmp_path / "user-config"
    user_config.mkdir(exist_ok=True)
    environment.update({"NO_COLOR": "1", "PYTHONPATH": str(REPO), "XDG_CONFIG_HOME": str(user_config)})
    environment[KEY_ENV] = CANARY
    environment.update(extra or {})
    return environment


def panel_config(tmp_path: Path, server: FakeModelServer) -> Path:
    """Two seats on the fake server, keyed by KEY_ENV; the default store (under XDG_DATA_HOME)."""
    return write_seats_config(tmp_path, server, ["claude", "codex"], api_key_env=KEY_ENV)


@asynccontextmanager
async def mcp_session(
    config: Path, tmp_path: Path, errlog: TextIO, env: dict[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    """An initialized session with `chorus mcp --config CONFIG` on stdio."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "server", "mcp", "--config", str(config)],
        env=server_environment(tmp_path, env),
        cwd=str(REPO),
    )
    async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def one_line_error(result: CallToolResult, words: str) -> None:
    text = text_of(result)
    assert result.is_error, text
    assert words in text, text
    assert len(text.strip().splitlines()) == 1 and "Traceback" not in text, text


def cli_json(config: Path, tmp_path: Path, *args: str) -> dict[str, Any]:
    done = run_chorus(*args, "--config", str(config), "--json", env=server_environment(tmp_path))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert isinstance(data, dict)
    return data


def script_panel(model_server: FakeModelServer) -> None:
    model_server.script("claude", json.dumps({"findings": [OFF_BY_ONE, STYLE]}))
    model_server.script(
        "codex", json.dumps({"findings": [{**OFF_BY_ONE, "message": "IndexError when i == len"}]})
    )


async def test_the_tools_are_listed_with_their_arguments(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with mcp_session(panel_config(tmp_path, model_server), tmp_path, errlog) as session:
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == TOOLS
    assert all(tool.description for tool in tools.values())
    assert tools["review"].input_schema["required"] == ["path"]
    assert set(tools["review"].input_schema["properties"]) == {"path", "start_line", "end_line"}
    assert set(tools["explain"].input_schema["required"]) == {"path", "line", "message"}
    assert set(tools["feedback"].input_schema["required"]) == {"finding_id", "verdict"}


async def test_a_review_through_mcp_lands_in_the_store_the_cli_reads(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    script_panel(model_server)
    config = panel_config(tmp_path, model_server)
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    outputs: list[str] = []
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with mcp_session(config, tmp_path, errlog) as session:
            reviewed = await session.call_tool(
                "review",
                {"path": str(LEDGER), "start_line": 1, "end_line": 12},
                progress_callback=on_progress,
            )
            form = structured(reviewed)
            outputs += [text_of(reviewed), json.dumps(form)]
            votes = {d["range"]["start"]["line"] + 1: d["data"] for d in form["diagnostics"]}
            assert (votes[8]["votes"], votes[8]["panel"]) == (2, 2)
            assert (votes[5]["votes"], votes[5]["panel"]) == (1, 2)
            assert sorted(votes[8]["models"]) == ["claude", "codex"]
            assert "[2/2 models]" in text_of(reviewed) and "[1/2 models]" in text_of(reviewed)
            assert sorted(done for done, _total, _message in progress) == [1.0, 2.0]
            assert {total for _done, total, _message in progress} == {2.0}
            assert any("claude" in (message or "") for _d, _t, message in progress)
            run_id, bug = form["runId"], votes[8]["findingId"]
            assert run_id and bug

            runs = cli_json(config, tmp_path, "history")["runs"]
            assert [run["run_id"] for run in runs] == [run_id]

            judged = await session.call_tool("feedback", {"finding_id": bug, "verdict": "dismiss"})
            outputs.append(text_of(judged))
            assert structured(judged)["suppressed"] is True
            cli_models = {m["model"]: m for m in cli_json(config, tmp_path, "stats")["models"]}
            assert cli_models["openai/claude"]["dismissed"] == 1
            assert cli_models["openai/codex"]["dismissed"] == 1

            shown = structured(await session.call_tool("show_run", {"run_id": run_id[:8]}))
            assert shown["run"]["run_id"] == run_id
            assert sorted(f["finding_id"] for f in shown["findings"]) == sorted(
                d["findingId"] for d in votes.values()
            )
            assert [(f["finding_id"], f["verdict"]) for f in shown["feedback"]] == [(bug, "dismiss")]

            recalled = await session.call_tool("recall", {"path": str(LEDGER)})
            past = {f["finding_id"]: f for f in structured(recalled)["findings"]}
            assert set(past) == {d["findingId"] for d in votes.values()}
            assert past[bug]["verdicts"] == ["dismiss"] and past[bug]["votes"] == 2
            assert structured(recalled)["path"] == "examples/ledger.py"

            mcp_stats = await session.call_tool("stats", {"since": "all", "task": "review"})
            models = {m["model"]: m for m in structured(mcp_stats)["models"]}
            assert models["openai/claude"]["dismissed"] == 1 and models["openai/claude"]["calls"] == 1
            listed = structured(await session.call_tool("history", {"limit": 5}))["runs"]
            assert [run["run_id"] for run in listed] == [run_id]
            outputs += [json.dumps(shown), text_of(recalled), text_of(mcp_stats)]
    outputs += [message or "" for _d, _t, message in progress]
    assert all(CANARY not in output for output in outputs)
    requests = model_server.requests
    assert len(requests) == 2
    assert all(CANARY not in json.dumps(request.body) for request in requests)
    assert all(request.headers.get("authorization") == f"Bearer {CANARY}" for request in requests)
    assert CANARY not in (tmp_path / "stderr.log").read_text()


async def test_bad_arguments_are_one_line_errors_and_the_session_goes_on(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    script_panel(model_server)
    short = tmp_path / "short.py"
    short.write_text("def f():\n    return 1\n", encoding="utf-8")
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with mcp_session(panel_config(tmp_path, model_server), tmp_path, errlog) as session:
            one_line_error(
                await session.call_tool("review", {"path": str(tmp_path / "gone.py")}), "no such file"
            )
            one_line_error(
                await session.call_tool("review", {"path": str(short), "start_line": 9}), "past the end"
            )
            one_line_error(
                await session.call_tool("review", {"path": str(short), "start_line": "nine"}), "start_line"
            )
            one_line_error(
                await session.call_tool("explain", {"path": str(short), "line": 7, "message": "E1"}),
                "past the end",
            )
            one_line_error(await session.call_tool("show_run", {"run_id": "feedfacecafe"}), "no run")
            one_line_error(
                await session.call_tool("feedback", {"finding_id": "0123456789abcdef", "verdict": "love"}),
                "verdict must be one of accept, dismiss, useful",
            )
            one_line_error(
                await session.call_tool("feedback", {"finding_id": "0123456789abcdef", "verdict": "useful"}),
                "no finding",
            )
            one_line_error(await session.call_tool("stats", {"since": "lately"}), "--since")
            one_line_error(await session.call_tool("history", {"limit": 0}), "limit")
            assert model_server.requests == []
            reviewed = await session.call_tool(
                "review", {"path": str(LEDGER), "start_line": 1, "end_line": 12}
            )
            assert len(structured(reviewed)["diagnostics"]) == 2
    assert "Traceback" not in (tmp_path / "stderr.log").read_text()


async def test_inside_an_agent_seat_every_tool_refuses(tmp_path: Path, model_server: FakeModelServer) -> None:
    script_panel(model_server)
    config = panel_config(tmp_path, model_server)
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with mcp_session(config, tmp_path, errlog, {"CHORUS_AGENT_SEAT": "claude"}) as session:
            calls = {
                "review": {"path": str(LEDGER)},
                "implement": {"path": str(LEDGER), "line": 6},
                "explain": {"path": str(LEDGER), "line": 8, "message": "IndexError"},
                "stats": {},
                "history": {},
                "show_run": {"run_id": "abcd"},
                "feedback": {"finding_id": "0123456789abcdef", "verdict": "useful"},
                "recall": {"path": str(LEDGER)},
            }
            for name, arguments in calls.items():
                one_line_error(await session.call_tool(name, arguments), "CHORUS_AGENT_SEAT")
    assert model_server.requests == []


def test_stdout_carries_only_the_protocol(tmp_path: Path, model_server: FakeModelServer) -> None:
    """Raw JSON-RPC over a pipe: every line the server writes on stdout, litellm loaded, is a message."""
    script_panel(model_server)
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "review", "arguments": {"path": str(LEDGER), "start_line": 1, "end_line": 12},
            "_meta": {"progressToken": "p"}}},
    ]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "mcp", "--config", str(panel_config(tmp_path, model_server))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=server_environment(tmp_path),
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write("".join(json.dumps(message) + "\n" for message in messages))
        process.stdin.flush()
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "the server closed stdout before answering"
            lines.append(line)
            if json.loads(line).get("id") == 2:
                break
        process.stdin.close()
        process.wait(timeout=30)
    finally:
        process.kill()
        process.wait()
    parsed = [json.loads(line) for line in lines]
    assert all(message["jsonrpc"] == "2.0" for message in parsed)
    assert [m.get("method") for m in parsed if "method" in m] == ["notifications/progress"] * 2
    answer = parsed[-1]["result"]
    assert answer["isError"] is False and len(answer["structuredContent"]["diagnostics"]) == 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_http_refuses_a_host_that_is_not_loopback(tmp_path: Path) -> None:
    done = run_chorus("mcp", "--http", "0.0.0.0:8765", env=server_environment(tmp_path), timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert "loopback only" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


async def test_http_serves_the_same_tools_on_loopback(tmp_path: Path, model_server: FakeModelServer) -> None:
    port = free_port()
    config = panel_config(tmp_path, model_server)
    with (tmp_path / "stderr.log").open("w") as errlog:
        process = await anyio.open_process(
            [sys.executable, "-m", "server", "mcp", "--config", str(config), "--http", f"127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errlog,
            cwd=REPO,
            env=server_environment(tmp_path),
        )
        try:
            with anyio.fail_after(60):
                while True:
                    try:
                        with socket.create_connection(("127.0.0.1", port), timeout=1):
                            break
                    except OSError:
                        await anyio.sleep(0.2)
                url = f"http://127.0.0.1:{port}/mcp"
                async with (
                    streamable_http_client(url) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS
                    listed = await session.call_tool("history", {"limit": 3})
                    assert structured(listed)["runs"] == []
        finally:
            process.terminate()
            with anyio.fail_after(30):
                await process.wait()


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.1:0", "localhost:99999"])
def test_http_needs_a_port(tmp_path: Path, address: str) -> None:
    done = run_chorus("mcp", "--http", address, env=server_environment(tmp_path), timeout=60)
    assert done.returncode == 2 and "--http takes HOST:PORT" in done.stderr, done.stderr
