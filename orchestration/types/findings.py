"""What models say about code, and what the panel says after merging.

Lines are 1-based and inclusive everywhere in `orchestration`; the conversion to
LSP's 0-based ranges happens only in `orchestration.machine_form`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


def line_span(first: int, last: int) -> str:
    """'line 7' or 'lines 7-9', as messages to the user and the arbiter name lines."""
    return f"line {first}" if first == last else f"lines {first}-{last}"


class Severity(StrEnum):
    """How serious a finding is, in LSP's order (error is the most serious)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    HINT = "hint"

    @property
    def lsp_value(self) -> int:
        """The LSP `DiagnosticSeverity` number (1 = Error … 4 = Hint)."""
        return {"error": 1, "warning": 2, "info": 3, "hint": 4}[self.value]


class Category(StrEnum):
    """What kind of problem a finding describes."""

    BUG = "bug"
    SECURITY = "security"
    PERFORMANCE = "performance"
    STYLE = "style"
    MAINTAINABILITY = "maintainability"


class Fix(BaseModel):
    """Replace lines `start_line..end_line` (inclusive) with `replacement`.

    An empty `replacement` deletes the lines. `replacement` holds whole lines;
    a missing final newline is added when the fix is turned into an edit.
    """

    model_config = ConfigDict(frozen=True)

    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    replacement: str


class Finding(BaseModel):
    """One problem reported by one model."""

    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    severity: Severity = Severity.WARNING
    category: Category = Category.BUG
    message: str
    fix: Fix | None = None
    model: str = Field(default="", description="Name of the panel seat that reported it.")


class RankedFix(BaseModel):
    """One distinct fix inside a merged finding, with the seats that proposed it."""

    fix: Fix
    votes: int
    models: list[str]


class ModelOpinion(BaseModel):
    """What one seat said about a merged finding, in its own words."""

    model: str
    message: str
    severity: Severity
    category: Category
    start_line: int
    end_line: int


class MergedFinding(BaseModel):
    """A cluster of findings that describe the same problem."""

    start_line: int
    end_line: int
    severity: Severity
    category: Category
    message: str
    votes: int = Field(description="How many seats reported this problem.")
    panel: int = Field(description="How many seats answered usably (the denominator of votes).")
    models: list[str]
    opinions: list[ModelOpinion]
    fixes: list[RankedFix] = Field(default_factory=list)
    arbiter_verdict: str | None = Field(
        default=None, description="'confirmed' or 'rejected' when an arbiter judged this finding."
    )
    finding_id: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description=(
            "Stable id in the memory (`chorus feedback FINDING_ID ...`); None (and left out of dumps) "
            "when the run was not recorded."
        ),
    )
    confidence: float | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description=(
            "With weighted voting, the summed trust of the seats that reported it over that of every "
            "answering seat (0..1); None (and left out of dumps) when votes were counted."
        ),
    )
