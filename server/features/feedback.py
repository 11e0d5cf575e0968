"""The user's verdict on a finding: `chorus/feedback` and the commands the code actions run.

- `chorus/feedback {findingId, verdict}`: "accept", "dismiss" or "useful";
- `chorus.dismissFinding [findingId, uri?]` ("Dismiss: not a problem"),
  `chorus.markUseful [findingId, uri?]` ("Mark as useful") and `chorus.acceptFix [findingId, uri?]`
  (run by the client right after it applied a fix's edit: a code action with an edit and a
  command applies the edit first) — for clients that send no custom requests (LSP4IJ).

A dismissal removes the finding's diagnostics from every document at once (republished without
them) and from any later publish of the run it came from; the memory keeps a suppression, so a
later review of the same code does not show it again (the pipeline applies it). Verdicts are
recorded in a worker thread (`server.memory`); with the memory off, a dismissal lasts for the
session only, and the command says so.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from server.commands import Argument, check_arguments, usage
from server.features.documents import publish
from server.language_server import ChorusLanguageServer
from server.memory_messages import (
    ACCEPT_COMMAND,
    DISMISS_COMMAND,
    FEEDBACK,
    USEFUL_COMMAND,
    FeedbackParams,
    FeedbackReply,
    Verdict,
    is_finding_id,
)

logger = logging.getLogger(__name__)

FEEDBACK_ARGUMENTS = (Argument("findingId", str), Argument("uri", str, required=False))
COMMAND_VERDICTS: dict[str, Verdict] = {
    DISMISS_COMMAND: "dismiss",
    USEFUL_COMMAND: "useful",
    ACCEPT_COMMAND: "accept",
}


async def give_feedback(ls: ChorusLanguageServer, finding_id: str, verdict: Verdict) -> FeedbackReply:
    """Hide a dismissed finding at once, then record the verdict in the memory."""
    hidden = 0
    if verdict == "dismiss":
        ls.memory.dismissed.add(finding_id)
        for uri, count in ls.documents.drop_findings({finding_id}).items():
            publish(ls, uri)
            hidden += count
    kept = await ls.memory.record(finding_id, verdict)
    logger.debug("feedback %s on %s: %s, %d diagnostic(s) hidden", verdict, finding_id, kept, hidden)
    return {
        "findingId": finding_id,
        "verdict": verdict,
        "recorded": kept.recorded,
        "suppressed": kept.suppressed,
        "reason": kept.reason,
        "hidden": hidden,
    }


async def chorus_feedback(ls: ChorusLanguageServer, params: FeedbackParams) -> FeedbackReply:
    """`chorus/feedback {findingId, verdict}` → `{findingId, verdict, recorded, hidden}`."""
    verdict: Verdict = params.verdict  # Validated: one of VERDICTS.
    return await give_feedback(ls, params.finding_id, verdict)


def told(reply: FeedbackReply) -> str | None:
    """What a command tells the user after its verdict (None: nothing to say)."""
    if reply["verdict"] == "accept":
        return None  # Recorded silently: the user applied a fix, and sees it applied.
    if not reply["recorded"]:
        why = f" ({reply['reason']})" if reply["reason"] else ""
        if reply["verdict"] == "dismiss":
            return f"Chorus: dismissed for this session only; the memory did not keep it{why}."
        return f"Chorus: the memory did not keep this verdict{why}."
    if reply["verdict"] == "useful":
        return "Chorus: noted, this finding was useful."
    return None


def feedback_command(verdict: Verdict, command: str) -> Any:
    """The handler of one verdict's command: `[findingId, uri?]`."""

    async def run(ls: ChorusLanguageServer, *arguments: Any) -> FeedbackReply:
        finding_id, _uri = check_arguments(command, arguments, FEEDBACK_ARGUMENTS)
        if not is_finding_id(finding_id):
            raise JsonRpcInvalidParams(f"{usage(command, FEEDBACK_ARGUMENTS)}; argument 1 is no finding id")
        reply = await give_feedback(ls, finding_id, verdict)
        if (message := told(reply)) is not None:
            ls.show_message(message, types.MessageType.Info)
        return reply

    run.__name__ = run.__qualname__ = f"{verdict}_command"
    return run


def register(server: ChorusLanguageServer) -> None:
    """Register the feedback request and the verdicts' commands."""
    server.feature(FEEDBACK)(chorus_feedback)
    for command, verdict in COMMAND_VERDICTS.items():
        server.command(command)(feedback_command(verdict, command))
