"""The circuit breaker: a seat whose recent calls keep failing is benched, its fallbacks asked instead.

Placeholder until the breaker lands: every seat is admitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestration.panel.selection import Selection, SelectionContext


async def admit(context: SelectionContext, selection: Selection) -> None:
    """Bench the seats whose recent calls keep failing; their fallbacks take their place."""
