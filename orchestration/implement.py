"""Implement a stub function: every seat writes a candidate; Chorus checks and ranks them."""

from __future__ import annotations

from pathlib import Path

from orchestration.candidates import build_candidates
from orchestration.config import ChorusConfig
from orchestration.errors import StubNotFoundError
from orchestration.fanout import Seat
from orchestration.panel import (
    EventHandler,
    PanelRun,
    open_gate,
    plan_seats,
    prepare_document,
    run_panel,
    seat_weights,
)
from orchestration.parsing import parse_implementation
from orchestration.prompts import IMPLEMENT_SCHEMA, implement_messages
from orchestration.requests import ImplementRequest
from orchestration.results import ImplementResult, ResultUpdate
from orchestration.stubs import find_stub


async def implement_stub(
    request: ImplementRequest,
    config: ChorusConfig,
    *,
    workspace: Path | None = None,
    on_event: EventHandler | None = None,
) -> ImplementResult:
    """Ask every implement seat for the stub's body; return validated candidates, best first.

    Partial results rank candidates on syntax and agreement only; the final result
    also runs `policy.validate_command` on each valid candidate. Raises
    `StubNotFoundError` when no stub function is at `request.line`.
    """
    original = request.document
    stub = find_stub(original, request.line)
    if stub is None:
        raise StubNotFoundError(
            f"no stub function at {original.path}:{request.line} (a function whose body is only "
            "pass, ..., raise NotImplementedError, throw new Error(...) or a TODO comment)"
        )
    gate = open_gate(original, config, workspace)
    document = prepare_document(original)
    safe_request = request.model_copy(update={"document": document})
    asked, skipped = plan_seats(config, "implement", gate)
    seats = [Seat(name, seat, implement_messages(safe_request, stub), gate) for name, seat in asked]
    weights = seat_weights(config)
    quick_policy = config.policy.model_copy(update={"validate_command": None})

    def parse(raw: str, seat: Seat) -> str:
        return parse_implementation(raw)

    async def ranked(run: PanelRun[str], final: bool) -> ImplementResult:
        candidates = await build_candidates(
            original,
            stub,
            run.answers,
            weights=weights,
            policy=config.policy if final else quick_policy,
            workspace=workspace,
        )
        return ImplementResult(
            path=original.path, stub=stub, candidates=candidates, models=run.models, final=final
        )

    async def partial(run: PanelRun[str]) -> ImplementResult:
        return await ranked(run, final=False)

    run = await run_panel(
        seats,
        skipped,
        parse,
        config,
        json_schema=IMPLEMENT_SCHEMA,
        on_event=on_event,
        partial_result=partial,
    )
    result = await ranked(run, final=True)
    if on_event is not None:
        await on_event(ResultUpdate(result=result))
    return result
