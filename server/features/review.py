"""Review a selection: `chorus/reviewSelection` and the `chorus.reviewSelection` command.

Diagnostics are published as soon as the first model answers and updated as the
others do, ending with the final merge; each publish replaces Chorus's earlier
diagnostics on the reviewed lines and keeps those elsewhere. If the reviewed
lines are edited during the run, its results are dropped; edits elsewhere only
move them.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types

from orchestration.machine_form import review_machine_form
from orchestration.pipelines.review import review_selection
from orchestration.types.requests import ReviewRequest
from orchestration.types.results import ReviewResult
from server.app import ChorusLanguageServer
from server.commands import Argument, check_arguments
from server.convert import lines_within, selection_lines
from server.features.documents import Snapshot, publish
from server.messages import REVIEW_COMMAND, REVIEW_SELECTION, ReviewSelectionParams
from server.runs import as_command, as_request, run_panel
from server.workspaces import workspace_for

logger = logging.getLogger(__name__)

JSON = dict[str, Any]


def apply_review(ls: ChorusLanguageServer, snapshot: Snapshot, result: ReviewResult) -> JSON | None:
    """Move a (partial or final) review to the current text, store and publish it; None when stale."""
    form = review_machine_form(result, snapshot.document, snapshot.uri)
    first, last = result.start_line - 1, result.end_line - 1
    carried = snapshot.carry(form, first, last)
    delta = snapshot.log.delta_for(first, last)
    if carried is None or delta is None:
        logger.info(
            "dropped review results for %s: lines %d-%d were edited", snapshot.uri, first + 1, last + 1
        )
        return None
    ls.documents.replace_chorus(snapshot.uri, first + delta, last + delta, carried["diagnostics"])
    publish(ls, snapshot.uri, soon=not result.final)
    return dict(carried)


async def review_range(
    ls: ChorusLanguageServer, uri: str, selection: types.Range, token: types.ProgressToken | None
) -> JSON:
    """Review the lines `selection` touches; returns `{diagnostics, models, ...}`."""
    snapshot = ls.documents.snapshot(ls, uri)
    first, last = lines_within(snapshot.document, *selection_lines(selection))
    request = ReviewRequest(document=snapshot.document, start_line=first, end_line=last)
    applied: dict[str, Any] = {"final": False, "form": None}

    async def on_result(result: ReviewResult) -> None:
        applied["form"], applied["final"] = apply_review(ls, snapshot, result), result.final

    async def pipeline(config: Any, on_event: Any) -> ReviewResult:
        return await review_selection(request, config, workspace=workspace_for(ls, uri), on_event=on_event)

    name = snapshot.document.path.rsplit("/", 1)[-1]
    with ls.documents.watching(snapshot.log):
        result = await run_panel(
            ls,
            task="review",
            verb="reviewing",
            title=f"Chorus: reviewing {name}:{first}-{last}",
            token=token,
            pipeline=pipeline,
            on_result=on_result,
        )
        if not applied["final"]:
            applied["form"] = apply_review(ls, snapshot, result)
    carried = applied["form"]
    models = [status.model_dump() for status in result.models]
    if carried is None:
        return {"diagnostics": [], "models": models, "stale": True, "notice": result.notice}
    return {
        "diagnostics": carried["diagnostics"],
        "models": models,
        "arbiter": carried.get("arbiter"),
        "notice": result.notice,
        "stale": False,
    }


async def chorus_review_selection(ls: ChorusLanguageServer, params: ReviewSelectionParams) -> JSON:
    """`chorus/reviewSelection {textDocument, range, workDoneToken?}` → `{diagnostics, models}`."""
    return await as_request(review_range(ls, params.text_document.uri, params.range, params.work_done_token))


REVIEW_ARGUMENTS = (Argument("uri", str), Argument("range", types.Range))


async def review_selection_command(ls: ChorusLanguageServer, *arguments: Any) -> Any:
    """`chorus.reviewSelection [uri, range]`: the same, for clients without custom requests."""
    uri, selection = check_arguments(REVIEW_COMMAND, arguments, REVIEW_ARGUMENTS)
    return await as_command(ls, review_range(ls, uri, selection, None))


def register(server: ChorusLanguageServer) -> None:
    """Register the review request and command."""
    server.feature(REVIEW_SELECTION)(chorus_review_selection)
    server.command(REVIEW_COMMAND)(review_selection_command)
