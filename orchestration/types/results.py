"""Typed results and the progress events a panel run streams out."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from orchestration.types.findings import MergedFinding, RankedFix

SeatState = Literal["ok", "error", "timeout", "invalid", "cancelled", "skipped"]
"""ok: usable answer; error: HTTP/provider/config failure; timeout: its own timeout or the deadline;
invalid: answered, but nothing usable could be parsed; cancelled: cut off as a straggler after the
quorum answered; skipped: never asked (policy kept the file away from it). A reused answer is "ok"
with `ModelStatus.cached` set, so everything that counts "ok" answers counts it as answered (the
store records such a seat call with status "cached")."""


class ModelStatus(BaseModel):
    """How one panel seat fared on one request."""

    name: str = Field(description="The seat's name in the config, e.g. 'claude'.")
    model: str = Field(default="", description="The litellm model id behind the seat.")
    status: SeatState
    latency_ms: float | None = None
    error: str | None = Field(default=None, description="Short reason, scrubbed of secrets.")
    tokens_in: int | None = Field(default=None, description="Prompt tokens the provider counted.")
    tokens_out: int | None = Field(default=None, description="Answer tokens the provider counted.")
    cost_usd: float | None = Field(
        default=None, description="litellm's cost map for those tokens; 0 for local models; None: unknown."
    )
    cached: bool = Field(
        default=False,
        description="The answer was reused (the cache, or an identical call in flight): nothing was sent.",
    )

    @classmethod
    def skipped(cls, name: str, model: str, reason: str) -> ModelStatus:
        """The status of a seat that was not asked at all, and why (policy, budget, deadline)."""
        return cls(name=name, model=model, status="skipped", error=reason)

    def describe(self) -> str:
        """A few words for progress reports: 'claude 1.2 s' or 'codex timed out'."""
        if self.status == "ok":
            return f"{self.name} {(self.latency_ms or 0) / 1000:.1f} s{' (cached)' if self.cached else ''}"
        words = {
            "error": "failed",
            "timeout": "timed out",
            "invalid": "gave no usable answer",
            "cancelled": "cut off (quorum reached)",
            "skipped": "skipped (policy)",
        }
        return f"{self.name} {words[self.status]}"


ArbiterStatus = Annotated[
    ModelStatus | None, Field(description="How the arbiter fared, when one is configured.")
]
"""A result's `arbiter` field (None without an arbiter)."""

RunId = Annotated[
    str | None,
    Field(description="The run's id in the memory (`chorus show RUN_ID`); None when not recorded."),
]
"""A result's `run_id` field."""

Withheld = Annotated[
    list[str],
    Field(
        description="Fixes or candidates dropped because they would write a redaction placeholder, and why."
    ),
]
"""A result's `withheld` field: one note per fix or candidate dropped to protect a redacted secret
(its default, `[]`, is copied for every result, as pydantic does for mutable defaults)."""


class ReviewResult(BaseModel):
    """The merged review of a selection."""

    path: str
    start_line: int
    end_line: int
    findings: list[MergedFinding]
    models: list[ModelStatus]
    final: bool = True
    arbiter: ArbiterStatus = None
    notice: str | None = Field(default=None, description="A note for the user, e.g. that a local panel ran.")
    withheld: Withheld = []
    run_id: RunId = None


class StubLocation(BaseModel):
    """A function whose body is a placeholder, found with tree-sitter."""

    name: str
    params: list[str]
    start_line: int = Field(description="First line of the function (decorators excluded).")
    end_line: int
    language: str


class ImplementCandidate(BaseModel):
    """One proposed implementation, validated and ranked."""

    code: str = Field(description="The whole function, signature included.")
    models: list[str] = Field(description="Seats that proposed this (or an equivalent) code.")
    votes: int
    valid: bool
    problems: list[str] = Field(default_factory=list)
    tests_passed: bool | None = Field(default=None, description="None when no validate_command ran.")
    weight: float = 1.0
    start_line: int = Field(description="First line the candidate replaces.")
    end_line: int = Field(description="Last line the candidate replaces.")


class ImplementResult(BaseModel):
    """Candidates for one stub, best first."""

    path: str
    stub: StubLocation | None
    candidates: list[ImplementCandidate]
    models: list[ModelStatus]
    final: bool = True
    notice: str | None = None
    withheld: Withheld = []
    run_id: RunId = None


class ExplainResult(BaseModel):
    """One explanation of the diagnostics in a range, plus fixes."""

    path: str
    start_line: int
    end_line: int
    explanation: str = Field(description="Markdown.")
    fixes: list[RankedFix]
    models: list[ModelStatus]
    final: bool = True
    arbiter: ArbiterStatus = None
    notice: str | None = None
    withheld: Withheld = []
    run_id: RunId = None


PanelResult = ReviewResult | ImplementResult | ExplainResult


class SeatStarted(BaseModel):
    """A seat's request has been sent."""

    kind: Literal["seat_started"] = "seat_started"
    name: str


class SeatFinished(BaseModel):
    """A seat answered, failed, timed out or was cut off."""

    kind: Literal["seat_finished"] = "seat_finished"
    status: ModelStatus
    answered: int = Field(description="Seats finished so far, this one included.")
    total: int


class ResultUpdate(BaseModel):
    """A merged result: partial while seats are still working, then final."""

    kind: Literal["result"] = "result"
    result: ReviewResult | ImplementResult | ExplainResult

    @property
    def final(self) -> bool:
        """True for the last event of a run."""
        return self.result.final


PanelEvent = SeatStarted | SeatFinished | ResultUpdate
