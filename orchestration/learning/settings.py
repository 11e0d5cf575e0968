"""`[learning]` and `[budget]`: what Chorus learns from verdicts, how it explores, what it may spend.

Imports only pydantic so that `orchestration.types.config` can hang `LearningConfig` under
`ChorusConfig.learning` and `BudgetConfig` under `ChorusConfig.budget` without an import cycle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LearningConfig(BaseModel):
    """Trust in each model, learnt from the memory (`chorus trust-scores`, the trust column of stats)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True,
        description="Learn from verdicts and agreement; false = no trust scores anywhere.",
    )
    agreement_weight: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description=(
            "How much a finding that agreed with the consensus (or stayed alone) counts, "
            "against 1 for an accept, useful or dismiss verdict."
        ),
    )
    half_life_days: float = Field(
        default=30.0,
        gt=0,
        description="Evidence this many days old counts half as much as today's.",
    )
    min_events_for_weighted: int = Field(
        default=20,
        ge=1,
        description=(
            "Verdicts a model's trust must rest on before weighted voting may use it "
            "(read by automatic voting, not yet by anything else)."
        ),
    )
    explore: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description=(
            "Share of automatically routed requests that add one seat from outside the top set, "
            "so that every candidate's estimates stay fresh."
        ),
    )


class BudgetConfig(BaseModel):
    """`[budget]`: what the cloud seats may spend, in USD, from the memory's cost ledger (unset: no limit)."""

    model_config = ConfigDict(extra="forbid")

    per_request_usd: float | None = Field(
        default=None, gt=0, description="What one request's seats may cost together (estimated beforehand)."
    )
    daily_usd: float | None = Field(default=None, gt=0, description="What all runs of a day (UTC) may cost.")
    monthly_usd: float | None = Field(
        default=None, gt=0, description="What all runs of a calendar month (UTC) may cost."
    )
    nearing: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description=(
            "Share of a limit from which the most expensive seats are dropped first, cheaper or local "
            "seats taking their place; at the limit itself cloud seats are skipped and local seats serve."
        ),
    )
