"""Review a selection: `chorus/reviewSelection` and the `chorus.reviewSelection` command.

Diagnostics are published as soon as the first model answers and updated as the
others do, ending with the final merge; each publish replaces Chorus's earlier
diagnostics on the reviewed lines and keeps those elsewhere. If the reviewed
lines are edited during the run, its results are dropped; edits elsewhere only
move them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from orchestration.machine_form import ReviewForm, model_form, review_machine_form
from orchestration.pipelines.review import review_selection
from orchestration.types.requests import ReviewRequest
from orchestration.types.results import ReviewResult
from server.commands import Argument, check_arguments
from server.convert import lines_within, selection_lines
from server.document_state import Snapshot, finding_id_of
from server.features.documents import publish
from server.language_server import ChorusLanguageServer
from server.messages import (
    REVIEW_COMMAND,
    REVIEW_SELECTION,
    CommandFailure,
    ReviewReply,
    ReviewSelectionParams,
)
from server.runs import DocumentRun, as_command, as_request

logger = logging.getLogger(__name__)


def apply_review(ls: ChorusLanguageServer, snapshot: Snapshot, result: ReviewResult) -> ReviewForm | None:
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
    dismissed = ls.memory.dismissed
    if dismissed:  # A finding dismissed while its run was still answering stays hidden.
        carried["diagnostics"] = [d for d in carried["diagnostics"] if finding_id_of(d) not in dismissed]
    ls.documents.replace_chorus(snapshot.uri, first + delta, last + delta, carried["diagnostics"])
    publish(ls, snapshot.uri, soon=not result.final)
    return carried.copy()


@dataclass(slots=True)
class PublishedReview:
    """A review's results, published as they arrive; the form last published makes the reply."""

    ls: ChorusLanguageServer
    snapshot: Snapshot
    form: ReviewForm | None = None
    final: bool = False
    """Whether the final result has been published already."""

    async def update(self, result: ReviewResult) -> None:
        """Publish a partial (or the final) result, moved to the current text."""
        self.form, self.final = apply_review(self.ls, self.snapshot, result), result.final

    def reply(self, result: ReviewResult) -> ReviewReply:
        """`{diagnostics, models, ...}` once the final result is published (no diagnostics when stale)."""
        if not self.final:
            self.form = apply_review(self.ls, self.snapshot, result)
        models = [model_form(status) for status in result.models]
        if self.form is None:
            return {"diagnostics": [], "models": models, "stale": True, "notice": result.notice}
        return {
            "diagnostics": self.form["diagnostics"],
            "models": models,
            "arbiter": self.form.get("arbiter"),
            "notice": result.notice,
            "stale": False,
        }


async def review_range(
    ls: ChorusLanguageServer, uri: str, selection: types.Range, token: types.ProgressToken | None
) -> ReviewReply:
    """Review the lines `selection` touches; returns `{diagnostics, models, ...}`."""
    snapshot = await ls.documents.snapshot_async(ls, uri)
    first, last = lines_within(snapshot.document, *selection_lines(selection))
    request = ReviewRequest(document=snapshot.document, start_line=first, end_line=last)
    published = PublishedReview(ls, snapshot)
    run = DocumentRun(ls, snapshot, "review", f"{first}-{last}", token)
    return await run.run(review_selection, request, published.reply, published.update)


async def chorus_review_selection(ls: ChorusLanguageServer, params: ReviewSelectionParams) -> ReviewReply:
    """`chorus/reviewSelection {textDocument, range, workDoneToken?}` → `{diagnostics, models}`."""
    return await as_request(review_range(ls, params.text_document.uri, params.range, params.work_done_token))


REVIEW_ARGUMENTS = (Argument("uri", str), Argument("range", types.Range))


async def review_selection_command(ls: ChorusLanguageServer, *arguments: Any) -> ReviewReply | CommandFailure:
    """`chorus.reviewSelection [uri, range]`: the same, for clients without custom requests."""
    uri, selection = check_arguments(REVIEW_COMMAND, arguments, REVIEW_ARGUMENTS)
    return await as_command(ls, review_range(ls, uri, selection, None))


def register(server: ChorusLanguageServer) -> None:
    """Register the review request and command."""
    server.feature(REVIEW_SELECTION)(chorus_review_selection)
    server.command(REVIEW_COMMAND)(review_selection_command)
