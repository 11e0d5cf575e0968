"""`[learning]`: whether Chorus learns from verdicts, and how much each kind of evidence counts.

Imports only pydantic so that `orchestration.types.config` can hang `LearningConfig` under
`ChorusConfig.learning` without an import cycle.
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
