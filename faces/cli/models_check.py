"""`chorus models`: show who sits on which panel, and check each seat with a live call.

An agent seat (`agent = "claude"` and the others) is checked without a prompt (an agent run reads
the workspace and starts a session): its CLI's version and, where the CLI can tell, whether it is
signed in (`orchestration.providers.agents.status`); a CLI that is not on PATH is "unavailable".
"""

from __future__ import annotations

from dataclasses import replace

import anyio
from rich.console import Console
from rich.table import Table

from faces.cli.terminal import say, shown
from orchestration.memory.recorder import audit_without_run
from orchestration.memory.writer import StoreWriter
from orchestration.privacy.gate import PrivacyGate
from orchestration.providers.agents.status import agent_status
from orchestration.providers.chat import complete_chat, ensure_litellm
from orchestration.types.config import ChorusConfig, ModelConfig
from orchestration.types.errors import ProviderError
from orchestration.types.results import ModelStatus

PING = [{"role": "user", "content": "Reply with the single word OK."}]
CHECK_TIMEOUT = 30.0


class AgentCheck(ModelStatus):
    """An agent seat's check: its CLI's version and whether it is signed in (None: it cannot tell)."""

    version: str | None = None
    signed_in: bool | None = None


async def check_agent(name: str, seat: ModelConfig) -> AgentCheck:
    """The agent CLI's version and sign-in state ("unavailable: X is not on PATH" when missing)."""
    started = anyio.current_time()
    status = await agent_status(name, seat)
    latency = round((anyio.current_time() - started) * 1000, 1)
    if not status.available:
        return AgentCheck(name=name, model=seat.model, status="error", error=status.detail)
    return AgentCheck(
        name=name,
        model=seat.model,
        status="ok",
        latency_ms=latency,
        error=status.detail,
        version=status.version,
        signed_in=status.signed_in,
    )


async def check_model(name: str, config: ChorusConfig, gate: PrivacyGate) -> ModelStatus:
    """Send one tiny prompt to a seat through `gate`; report whether and how fast it answered."""
    seat = config.models[name]
    if seat.agent is not None:
        return await check_agent(name, seat)
    quick = seat.model_copy(update={"timeout": min(seat.timeout, CHECK_TIMEOUT), "max_tokens": 8})
    started = anyio.current_time()
    try:
        await complete_chat(name, quick, PING, gate=gate)
    except ProviderError as error:
        state = "timeout" if error.kind == "timeout" else "error"
        return ModelStatus(name=name, model=seat.model, status=state, error=str(error))
    latency = round((anyio.current_time() - started) * 1000, 1)
    return ModelStatus(name=name, model=seat.model, status="ok", latency_ms=latency)


async def check_models(config: ChorusConfig, memory: StoreWriter | None = None) -> list[ModelStatus]:
    """Check every configured seat at once, in config order; with `memory`, each call is in its audit."""
    await ensure_litellm()
    results: dict[str, ModelStatus] = {}
    gate = PrivacyGate.without_file(config.policy)
    if memory is not None:
        gate = replace(gate, audit=audit_without_run(memory))

    async def check(name: str) -> None:
        results[name] = await check_model(name, config, gate)

    async with anyio.create_task_group() as group:
        for name in config.models:
            group.start_soon(check, name)
    return [results[name] for name in config.models]


def render_panel(
    console: Console, config: ChorusConfig, statuses: list[ModelStatus] | None, notice: str | None
) -> None:
    """A table of seats: model id, panels, weight, and the live check's outcome."""
    if notice:
        say(console, "[bold cyan]note:[/] {}", notice)
    checked = {s.name: s for s in statuses or []}
    table = Table(title="Chorus panel")
    for column in ("seat", "model", "panels", "weight", "check"):
        table.add_column(column)
    for name, seat in config.models.items():
        panels = [task for task in ("review", "implement", "explain") if name in config.panel_for(task)]
        if config.panels.arbiter == name:
            panels.append("arbiter")
        status = checked.get(name)
        if status is None:
            outcome = "not checked"
        elif isinstance(status, AgentCheck) and status.status == "ok":
            signed = {True: ", signed in", False: ", not signed in", None: ""}[status.signed_in]
            outcome = f"[green]ok[/] {shown(status.version or '')}{signed}"
        elif status.status == "ok":
            outcome = f"[green]ok[/] {(status.latency_ms or 0) / 1000:.1f} s"
        else:
            outcome = f"[red]{shown(status.status)}[/] {shown(status.error or '')}"
        table.add_row(shown(name), shown(seat.model), ", ".join(panels), f"{seat.weight:g}", outcome)
    console.print(table)
