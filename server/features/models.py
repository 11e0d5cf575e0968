"""`chorus/models`: the panel in force, where its configuration came from, how each seat last fared,
and for every automatic panel (`panels.<task> = "auto"`) what routing would pick and why.

The routing explanation (`routing: {task: RouteReport}`, the JSON of `chorus route --json`) is the
selection a request of that task would make now (`orchestration.learning.routing.explain_route`:
breaker, gate, routing, budget) for no particular file: trust is then each candidate's roll-up
for the task, with no language mix. When the request's params name a document
(`textDocument.uri`, once `ModelsParams` carries one) the routing is for that document instead. A
task whose selection cannot be made (no seat left, an excluded file) reports `{"problem": "..."}`;
a memory that is off or slow gives pool order, as it would for a request. Nothing is sent to any
model and nothing is recorded.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NotRequired

import anyio

from orchestration.learning.routing import explain_route
from orchestration.machine_form import model_form
from orchestration.providers.chat import litellm_loaded
from orchestration.types.config import ChorusConfig, Task
from orchestration.types.errors import ChorusError
from server.messages import MODELS, ModelsParams, ModelsReply, SeatRow
from server.workspaces import workspace_for

if TYPE_CHECKING:
    from orchestration.memory.records import JSONValue
    from orchestration.types.requests import SourceDocument
    from server.language_server import ChorusLanguageServer

logger = logging.getLogger(__name__)

TASKS: tuple[Task, ...] = ("review", "implement", "explain")


class RoutedModelsReply(ModelsReply):
    """`chorus/models` with the automatic panels' routing (absent when no panel is automatic)."""

    routing: NotRequired[dict[str, dict[str, JSONValue]]]


def seat_rows(config: ChorusConfig | None, ls: ChorusLanguageServer) -> list[SeatRow]:
    """One row per configured seat."""
    if config is None:
        return []
    rows: list[SeatRow] = []
    for name, seat in config.models.items():
        status = ls.activity.last_status.get(name)
        rows.append(
            {
                "name": name,
                "model": seat.model,
                "panels": [task for task in TASKS if name in config.panel_for(task)],
                "arbiter": config.panels.arbiter == name,
                "last_status": model_form(status) if status is not None else None,
            }
        )
    return rows


def requested_uri(params: ModelsParams | None) -> str | None:
    """The document the request names (`textDocument.uri`), if its params carry one."""
    document = getattr(params, "text_document", None)
    uri = getattr(document, "uri", None)
    return uri if isinstance(uri, str) and uri else None


async def routing(
    ls: ChorusLanguageServer, config: ChorusConfig, uri: str | None
) -> dict[str, dict[str, JSONValue]]:
    """Each automatic panel's routing explanation, by task (see the module docstring)."""
    tasks = [task for task in TASKS if config.is_auto(task)]
    if not tasks:
        return {}
    memory = await ls.memory.current()
    if memory is not None:
        from orchestration.learning.route_stats import load_queries

        await anyio.to_thread.run_sync(load_queries)  # Routing's bounded read then only reads.
    document: SourceDocument | None = None
    workspace = ls.settings.workspace
    explained: dict[str, dict[str, JSONValue]] = {}
    try:
        if uri is not None:
            document = (await ls.documents.snapshot_async(ls, uri)).document
            workspace = workspace_for(ls, uri)
    except ChorusError as error:
        return {task: {"problem": " ".join(str(error).split())} for task in tasks}
    for task in tasks:
        try:
            report = await explain_route(config, task, document, workspace=workspace, memory=memory)
        except ChorusError as error:
            explained[task] = {"problem": " ".join(str(error).split())}
            continue
        explained[task] = report.to_json()
    return explained


async def chorus_models(ls: ChorusLanguageServer, params: ModelsParams | None) -> RoutedModelsReply:
    """`chorus/models {}` → `{models: [...], origin, notice, problem, providers_loaded, routing?}`."""
    settings = ls.settings
    reply: RoutedModelsReply = {
        "models": seat_rows(settings.config, ls),
        "origin": settings.origin or "defaults",
        "notice": settings.notice,
        "problem": settings.problem,
        "providers_loaded": litellm_loaded(),
    }
    if settings.config is not None:
        explained = await routing(ls, settings.config, requested_uri(params))
        if explained:
            reply["routing"] = explained
    return reply


def register(server: ChorusLanguageServer) -> None:
    """Register the models request."""
    server.feature(MODELS)(chorus_models)
