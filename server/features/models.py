"""`chorus/models`: the panel in force, where its configuration came from, and how each seat last fared."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestration.machine_form import model_form
from orchestration.providers.chat import litellm_loaded
from orchestration.types.config import ChorusConfig, Task
from server.messages import MODELS, ModelsParams, ModelsReply, SeatRow

if TYPE_CHECKING:
    from server.language_server import ChorusLanguageServer

TASKS: tuple[Task, ...] = ("review", "implement", "explain")


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


async def chorus_models(ls: ChorusLanguageServer, params: ModelsParams | None) -> ModelsReply:
    """`chorus/models {}` → `{models: [...], origin, notice, problem, providers_loaded}`."""
    settings = ls.settings
    return {
        "models": seat_rows(settings.config, ls),
        "origin": settings.origin or "defaults",
        "notice": settings.notice,
        "problem": settings.problem,
        "providers_loaded": litellm_loaded(),
    }


def register(server: ChorusLanguageServer) -> None:
    """Register the models request."""
    server.feature(MODELS)(chorus_models)
