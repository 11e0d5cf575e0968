"""Automatic panels: the seats of best expected value for each request.

Placeholder until routing lands: an automatic panel asks the first `panels.auto.size` candidates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestration.panel.selection import Candidate

if TYPE_CHECKING:
    from orchestration.panel.selection import Selection, SelectionContext
    from orchestration.types.config import ChorusConfig, Task


def candidates(config: ChorusConfig, task: Task) -> list[Candidate]:
    """Every candidate of the automatic panel: each pool seat, at each of its efforts."""
    return [Candidate(name, config.models[name]) for name in config.panel_for(task)]


async def pick(context: SelectionContext, selection: Selection) -> None:
    """Keep the `panels.auto.size` candidates of best expected value; the rest become spare."""
    size = context.config.panels.auto.size
    selection.asked, selection.spare = selection.asked[:size], selection.asked[size:]
