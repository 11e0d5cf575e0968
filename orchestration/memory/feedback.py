"""The user's verdict on a finding: `record_verdict(memory, finding_id, verdict)`.

Every verdict is a `FeedbackEvent` ("accept": a fix was applied; "useful"; "dismiss": not a
problem). A dismissal also hides the finding from now on: a `Suppression` of the finding's stored
fingerprint (its problem on the code around it; `orchestration.memory.identity`), so the next review
of the same code leaves it out, and a review of changed code shows it again. The CLI
(`chorus feedback FINDING_ID dismiss`) and the server (`chorus/feedback`, the code actions) call it.

Blocking (it waits for the run's findings to be written, reads one, and waits for the suppression
to be written, so the next review leaves the finding out): call it off the event loop
(`anyio.to_thread.run_sync`). It never raises for a store that fails; the writer warns once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, get_args

from orchestration.memory.identity import problem_key
from orchestration.memory.reads import read_now
from orchestration.memory.records import FeedbackEvent, Suppression, Verdict

if TYPE_CHECKING:
    from orchestration.memory.writer import StoreWriter

VERDICTS: Final = frozenset(get_args(Verdict))
FLUSH_TIMEOUT_S: Final = 2.0
"""How long a dismissal waits for the writer to write the run it dismisses a finding of."""
READ_TIMEOUT_S: Final = 5.0
_FINDING_ID = re.compile(r"[0-9a-f]{8,32}")


@dataclass(frozen=True, slots=True)
class VerdictResult:
    """What `record_verdict` did: whether a suppression was made, and why not when it was not."""

    recorded: bool
    suppressed: bool = False
    reason: str | None = None


def record_verdict(memory: StoreWriter, finding_id: str, verdict: Verdict) -> VerdictResult:
    """Record the user's `verdict` on `finding_id`; a "dismiss" also suppresses the finding's code.

    Raises `ValueError` for a verdict that is not "accept", "dismiss" or "useful", or an id that is
    not a Chorus finding id (hex); every store failure is a `VerdictResult` that says so.
    """
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(sorted(VERDICTS))}, not {verdict!r}")
    if not _FINDING_ID.fullmatch(finding_id):
        raise ValueError(f"{finding_id!r} is not a Chorus finding id (hex, as in a diagnostic's data)")
    if not memory.config.enabled:
        return VerdictResult(False, reason="the store is turned off ([store] enabled = false)")
    recorded = memory.submit(FeedbackEvent(finding_id=finding_id, verdict=verdict))
    if verdict != "dismiss":
        return VerdictResult(recorded)
    memory.flush(FLUSH_TIMEOUT_S)
    stored = read_now(memory, lambda store: store.finding(finding_id), None, READ_TIMEOUT_S)
    if stored is None or not stored.fingerprint:
        reason = memory.last_error or f"no finding {finding_id} is in the store"
        return VerdictResult(recorded, reason=reason)
    key = problem_key(stored.category, stored.message)
    suppression = Suppression(fingerprint=stored.fingerprint, cluster_key=key, finding_id=finding_id)
    dropped = memory.dropped
    written = memory.submit(suppression) and memory.flush(FLUSH_TIMEOUT_S)  # The next review sees it.
    return VerdictResult(recorded, suppressed=written and memory.dropped == dropped)
