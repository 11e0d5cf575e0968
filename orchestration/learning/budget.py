"""Budgets: what cloud seats may spend per request, day and month, from the memory's cost ledger.

Placeholder until budgets land: every seat is admitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestration.panel.selection import Selection, SelectionContext


async def admit(context: SelectionContext, selection: Selection) -> None:
    """Near a limit, drop the most expensive cloud seats first; at a limit, skip cloud seats."""
