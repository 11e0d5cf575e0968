"""`chorus mcp`: Chorus as an MCP server (the official SDK's `MCPServer`), on stdio or loopback HTTP.

Tools: `review`, `implement` and `explain` ask the panel, `ask` puts a follow-up question about a
finding to one seat (an agent seat resumes its session) (`faces.mcp.tasks`); `stats`, `history`,
`show_run`, `feedback` and `recall` read and write the memory (`faces.mcp.memory_tools`). A bad
argument, a bad config or a store that failed is a tool error of one line (`is_error`), and the
server keeps serving. Inside an agent seat Chorus started (`CHORUS_AGENT_SEAT` set) every tool
refuses, so an agent on the panel cannot call the panel again.

stdout carries only the protocol: the SDK's stdio transport claims fd 1 and points it at stderr
for everything else, logs go to stderr, and litellm is imported on first use, quietly
(`orchestration.providers.loading`). `--http 127.0.0.1:PORT` serves streamable HTTP (path `/mcp`)
on a loopback address only; any other host is refused with one line.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Final

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import Field, ValidationError

from faces.cli.targets import UsageError
from faces.mcp import memory_tools
from faces.mcp.setup import (
    REFUSED,
    ServeOptions,
    ToolRefusal,
    error_result,
    one_line,
    refuse_inside_agent_seat,
)
from faces.mcp.tasks import run_ask, run_task
from orchestration.providers.chat import close_clients

LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})
HTTP_USAGE: Final = "--http takes HOST:PORT on a loopback address, e.g. 127.0.0.1:8765"
INSTRUCTIONS: Final = (
    "Chorus sends code to a panel of AI models and merges their answers: each finding says how many "
    "models agreed (k/n). Use review before committing, implement on a stub, explain on a diagnostic; "
    "recall shows what earlier reviews found in a file; feedback records whether a finding was right."
)

FilePath = Annotated[
    str, Field(description="The file, absolute or relative to the server's working directory.")
]
Line = Annotated[int, Field(description="A 1-based line number.")]
FirstLine = Annotated[int | None, Field(description="First line to review (1-based; default: 1).")]
LastLine = Annotated[int | None, Field(description="Last line to review (inclusive; default: the end).")]
READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)
ASKS = ToolAnnotations(read_only_hint=True, open_world_hint=True)


@asynccontextmanager
async def closing_clients(_server: MCPServer[None]) -> AsyncIterator[None]:
    """Close litellm's cached HTTP clients when the session ends (before the event loop does)."""
    try:
        yield None
    finally:
        await close_clients()


async def guarded(call: Callable[[], Awaitable[CallToolResult]]) -> CallToolResult:
    """Run a tool: refused inside an agent seat; a bad argument or store is an error of one line."""
    try:
        refuse_inside_agent_seat()
        return await call()
    except (ToolRefusal, *REFUSED) as error:
        return error_result(error)


class ChorusMCPServer(MCPServer[None]):
    """`MCPServer` whose argument errors are one line: "review: start_line: Input should be ..."."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[None, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as error:
            cause = error.__cause__
            if not isinstance(cause, ValidationError):
                raise
            problems = "; ".join(
                f"{'.'.join(str(part) for part in problem['loc']) or 'arguments'}: {problem['msg']}"
                for problem in cause.errors(include_url=False)
            )
            raise ToolError(one_line(f"{name}: bad arguments: {problems}")) from cause


def build_server(options: ServeOptions) -> MCPServer[None]:
    """The MCP server with Chorus's tools, each applying `options` (`--config`, `--workspace`)."""
    server = ChorusMCPServer(
        name="chorus", instructions=INSTRUCTIONS, log_level="WARNING", lifespan=closing_clients
    )

    def in_thread(
        function: Callable[..., CallToolResult], *args: Any
    ) -> Callable[[], Awaitable[CallToolResult]]:
        return lambda: anyio.to_thread.run_sync(function, options, *args)

    @server.tool(annotations=ASKS)
    async def review(
        ctx: Context[Any, Any], path: FilePath, start_line: FirstLine = None, end_line: LastLine = None
    ) -> CallToolResult:
        """Review a file (or lines of it) with the panel: merged findings, each with k/n model votes,
        fixes and a finding id; recorded in the memory."""
        return await guarded(
            lambda: run_task(
                options, "review", ctx.report_progress, path=path, first=start_line, last=end_line
            )
        )

    @server.tool(annotations=ASKS)
    async def implement(ctx: Context[Any, Any], path: FilePath, line: Line) -> CallToolResult:
        """Implement the stub (a function whose body is `...`, `pass` or a TODO) at a line: candidates,
        best first, each validated, with the models that proposed it."""
        return await guarded(
            lambda: run_task(options, "implement", ctx.report_progress, path=path, first=line)
        )

    @server.tool(annotations=ASKS)
    async def explain(
        ctx: Context[Any, Any],
        path: FilePath,
        line: Line,
        message: Annotated[str, Field(description="The diagnostic's text (a compiler or linter message).")],
    ) -> CallToolResult:
        """Explain a diagnostic at a line: one explanation the panel agrees on, plus fixes."""
        return await guarded(
            lambda: run_task(
                options, "explain", ctx.report_progress, path=path, first=line, messages=[message]
            )
        )

    @server.tool(annotations=ASKS)
    async def ask(
        seat: Annotated[str, Field(description="A seat under [models], e.g. claude-code.")],
        finding_id: Annotated[str, Field(description="A finding id from review or show_run.")],
        question: Annotated[str, Field(description="What you want to know about the finding.")],
    ) -> CallToolResult:
        """Ask one seat more about a finding (its message, lines and the code as it is now); an agent
        seat resumes the session it keeps for this workspace."""
        return await guarded(lambda: run_ask(options, seat, finding_id, question))

    @server.tool(annotations=READS)
    async def stats(
        since: Annotated[str, Field(description="Window: 30d, 12h, 2w, or all.")] = "30d",
        task: Annotated[str | None, Field(description="Only runs of review, implement or explain.")] = None,
    ) -> CallToolResult:
        """Per model and per task from the memory: calls, latency, cost, agreement, verdicts."""
        return await guarded(in_thread(memory_tools.stats, since, task))

    @server.tool(annotations=READS)
    async def history(
        limit: Annotated[int, Field(description="How many runs (1-500).")] = 20,
    ) -> CallToolResult:
        """The latest recorded runs (review, implement, explain), newest first."""
        return await guarded(in_thread(memory_tools.history, limit))

    @server.tool(annotations=READS)
    async def show_run(
        run_id: Annotated[str, Field(description="A run id from history (or a unique prefix).")],
    ) -> CallToolResult:
        """One run in full: each model's own opinion, the merged findings, conflicts and verdicts."""
        return await guarded(in_thread(memory_tools.show_run, run_id))

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
    async def feedback(
        finding_id: Annotated[str, Field(description="A finding id from review or show_run.")],
        verdict: Annotated[
            str, Field(description="dismiss (not a problem), useful, or accept (fix applied).")
        ],
    ) -> CallToolResult:
        """Record a verdict on a finding; a dismissed one stays hidden while its code is unchanged."""
        return await guarded(in_thread(memory_tools.feedback, finding_id, verdict))

    @server.tool(annotations=READS)
    async def recall(path: FilePath) -> CallToolResult:
        """What earlier runs found in a file and the verdicts given on it, newest first."""
        return await guarded(in_thread(memory_tools.recall, path))

    return server


def parse_http_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` on loopback (`[::1]:PORT` for IPv6); `UsageError` of one line otherwise."""
    host, _, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(f"{HTTP_USAGE} (got {text!r})")
    if host not in LOOPBACK:
        raise UsageError(f"--http serves on loopback only (127.0.0.1, ::1 or localhost), not {host!r}")
    return host, int(port)


def run_mcp(args: argparse.Namespace) -> int:
    """Serve until the client goes away; 0, or `UsageError` for a bad `--http`."""
    address = parse_http_address(args.http) if args.http is not None else None
    server = build_server(ServeOptions(config_file=args.config, workspace=args.workspace))
    if address is None:
        server.run()
    else:
        server.run("streamable-http", host=address[0], port=address[1])
    return 0
