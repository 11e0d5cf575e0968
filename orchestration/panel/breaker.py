"""The circuit breaker: a seat whose recent calls keep failing is benched, its fallbacks asked instead.

`admit` is the first step of seat selection (`orchestration.panel.selection`). Each candidate is
looked up in the process's circuits (`orchestration.providers.endpoints.CIRCUITS`, fed by every
call's outcome in `complete_chat`): a seat whose window (`failover.window` recent calls, at least
`failover.min_calls` of them) failed at a share of `failover.error_rate` or more is benched for
`failover.cooldown` seconds, then one request gets it as a probe while concurrent ones still find it
benched; a good probe brings it back, a bad one benches it for another cooldown.

A benched seat is reported as skipped ("benched: 4 of its last 5 calls failed; retried in 30 s (last:
HTTP 500 from codex: …)"), and
its first `fallbacks` seat that is neither benched nor already asked takes its place; an automatic
panel needs none (routing picks the next best from the candidates left) but honours a seat's
fallbacks too. A notice names the benched seat and its stand-in. Later steps (the gate, routing, the
budget) see the stand-ins like any other seat.

`settle` is meant as the last step: a probe granted to a seat that a later step left out is handed
back, so that the next request may probe instead of waiting for the probe's lease to lapse.

The breaker is off (every seat admitted, endpoints still balanced) when `failover.enabled` or
`learning.enabled` is false.
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final

from orchestration.providers.endpoints import CIRCUITS, Key, Verdict, seat_key
from orchestration.types.config import ChorusConfig, ModelConfig

if TYPE_CHECKING:
    from orchestration.panel.selection import Candidate, Selection, SelectionContext

PROBE_GRACE: Final = 10.0
"""Seconds beyond the seat's timeout a granted probe is waited for before it lapses."""

_granted: ContextVar[tuple[tuple[str, Key, float], ...]] = ContextVar("chorus_breaker_probes", default=())
"""The probes `admit` granted in this request: (candidate name, circuit key, granted at)."""


def breaker_on(config: ChorusConfig) -> bool:
    """Whether seats may be benched: `failover.enabled` and `learning.enabled` both true."""
    return config.failover.enabled and config.learning.enabled


def _seconds(value: float) -> str:
    return f"{max(1, math.ceil(value))} s"


def bench_reason(verdict: Verdict) -> str:
    """Why a seat is benched: 'benched: 4 of its last 5 calls failed; retried in 30 s'."""
    counts = f"{verdict.failed} of its last {verdict.calls} calls failed"
    if verdict.retry_in is None:
        return f"benched: {counts}; a probe call is under way"
    return f"benched: {counts}; retried in {_seconds(verdict.retry_in)}"


def skipped_reason(verdict: Verdict) -> str:
    """A benched seat's skipped status: `bench_reason` and what its latest failure said."""
    reason = bench_reason(verdict)
    return f"{reason} (last: {verdict.last_error})" if verdict.last_error else reason


def _verdict(config: ChorusConfig, seat: ModelConfig) -> Verdict:
    return CIRCUITS.admit(seat_key(seat), config.failover, lease=seat.timeout + PROBE_GRACE)


async def admit(context: SelectionContext, selection: Selection) -> None:
    """Bench the seats whose recent calls keep failing; their fallbacks take their place."""
    from orchestration.panel.selection import Candidate

    config = context.config
    on = breaker_on(config)
    CIRCUITS.configure(config.failover, enabled=on)
    _granted.set(())
    if not on:
        return
    granted: list[tuple[str, Key, float]] = []

    def note_probe(candidate: Candidate, verdict: Verdict) -> None:
        if verdict.probe:
            key = seat_key(candidate.seat)
            granted_at = CIRCUITS.probe_granted_at(key)
            if granted_at is not None:
                granted.append((candidate.name, key, granted_at))
            selection.reasons[candidate.name] = "probe: its breaker is half-open, this call may bring it back"

    verdicts = [(candidate, _verdict(config, candidate.seat)) for candidate in selection.asked]
    taken = {candidate.name for candidate in selection.asked}
    kept: list[Candidate] = []
    for candidate, verdict in verdicts:
        note_probe(candidate, verdict)
        if verdict.admitted:
            kept.append(candidate)
            continue
        reason = bench_reason(verdict)
        selection.skip(candidate, skipped_reason(verdict))
        stand_in: Candidate | None = None
        for name in candidate.seat.fallbacks:
            if name in taken or name not in config.models:
                continue
            fallback = Candidate(name, config.models[name])
            fallback_verdict = _verdict(config, fallback.seat)
            if fallback_verdict.admitted:
                note_probe(fallback, fallback_verdict)
                stand_in = fallback
                break
            taken.add(name)
            selection.reasons[name] = f"left out: {bench_reason(fallback_verdict)}"
        if stand_in is not None:
            taken.add(stand_in.name)
            kept.append(stand_in)
            instead = f"asked instead of {candidate.name}, which is benched"
            selection.reasons.setdefault(stand_in.name, instead)
        selection.notices.append(_notice(context, candidate, reason, stand_in))
    selection.asked = kept
    _granted.set(tuple(granted))


def _notice(context: SelectionContext, benched: Candidate, reason: str, stand_in: Candidate | None) -> str:
    """'codex is benched (4 of its last 5 calls failed; retried in 30 s): claude is asked instead.'"""
    why = reason.removeprefix("benched: ")
    if stand_in is not None:
        return f"{benched.name} is benched ({why}): {stand_in.name} is asked instead."
    if context.config.is_auto(context.task):
        return f"{benched.name} is benched ({why}): the automatic panel picks from the other seats."
    return f"{benched.name} is benched ({why}) and has no fallback to ask instead."


async def settle(context: SelectionContext, selection: Selection) -> None:
    """Hand back the probes `admit` granted to seats a later step left out (the last step)."""
    asked = {candidate.name for candidate in selection.asked}
    for name, key, granted_at in _granted.get():
        if name not in asked:
            CIRCUITS.release_probe(key, granted_at)
    _granted.set(())
