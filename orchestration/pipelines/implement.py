"""Implement a stub function: every seat writes a candidate; Chorus checks and ranks them."""

from __future__ import annotations

from pathlib import Path

from orchestration.answers.parsing import parse_implementation
from orchestration.answers.prompts import IMPLEMENT_SCHEMA, implement_messages
from orchestration.code.candidates import build_candidates
from orchestration.code.stubs import find_stub
from orchestration.panel.budgets import admit_seats, check_file_size, open_request
from orchestration.panel.fanout import Seat
from orchestration.panel.seats import EventHandler, PanelRun, plan_seats, run_panel, seat_weights
from orchestration.privacy.roundtrip import restore_codes, withheld_notice
from orchestration.types.config import ChorusConfig
from orchestration.types.errors import StubNotFoundError
from orchestration.types.requests import ImplementRequest
from orchestration.types.results import ImplementResult, ResultUpdate


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
    `StubNotFoundError` when no stub function is at `request.line`, and `InputError` for a
    line past the end, a file over `policy.max_file_bytes` or a prompt no seat's budget
    holds. A candidate that would write a redaction placeholder gets the secret back or is
    withheld (`orchestration.privacy.roundtrip`).
    """
    line = request.checked_line()
    original = request.document
    check_file_size(original, config.policy)
    stub = find_stub(original, line)
    if stub is None:
        raise StubNotFoundError(
            f"no stub function at {original.path}:{request.line} (a function whose body is only "
            "pass, ..., raise NotImplementedError, throw new Error(...) or a TODO comment)"
        )
    gate, document = await open_request(original, config, workspace)
    safe_request = request.model_copy(update={"document": document})
    asked, skipped = plan_seats(config, "implement", gate)
    messages = implement_messages(safe_request, stub)
    asked, refused = await admit_seats(asked, messages)
    seats = [Seat(name, seat, messages, gate) for name, seat in asked]
    skipped = [*skipped, *refused]
    weights = seat_weights(config)
    quick_policy = config.policy.model_copy(update={"validate_command": None})

    def parse(raw: str, seat: Seat) -> str:
        return parse_implementation(raw)

    async def ranked(run: PanelRun[str], final: bool) -> ImplementResult:
        codes, withheld = restore_codes(run.answers, stub, original.lines, document.lines)
        candidates = await build_candidates(
            original,
            stub,
            codes,
            weights=weights,
            policy=config.policy if final else quick_policy,
            workspace=workspace,
        )
        return ImplementResult(
            path=original.path,
            stub=stub,
            candidates=candidates,
            models=run.models,
            final=final,
            withheld=withheld,
            notice=withheld_notice(withheld),
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
