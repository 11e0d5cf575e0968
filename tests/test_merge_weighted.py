"""The weighted agreement rule of `merge_findings(trust=...)`, on hand-made panels.

A finding keeps its severity when the chance that at least one of its seats is right,
1 − Π(1 − trust), reaches that of `min_agreement` seats of the panel's mean trust; with equal trust
that is the counted rule, for every panel size and agreement threshold.
"""

from __future__ import annotations

import itertools

import pytest

from orchestration.merge.consensus import merge_findings
from orchestration.types.findings import Category, Finding, MergedFinding, Severity

SEATS = ("sharp", "eager", "sloppy")


def reported_by(*seats: str, line: int = 4) -> dict[str, list[Finding]]:
    """The same warning from each of `seats`, at `line`."""
    finding = Finding(
        start_line=line,
        end_line=line,
        severity=Severity.WARNING,
        category=Category.BUG,
        message="Off-by-one: the loop reads past the end of items",
    )
    return {seat: [finding] for seat in seats}


def merged(
    answers: dict[str, list[Finding]], trust: dict[str, float], panel: tuple[str, ...]
) -> MergedFinding:
    (finding,) = merge_findings(answers, answered=list(panel), min_agreement=2, trust=trust)
    return finding


def test_a_trusted_seat_alone_keeps_its_finding_and_two_weak_seats_do_not() -> None:
    trust = {"sharp": 0.9, "eager": 0.6, "sloppy": 0.3}  # Mean 0.6: needed 1 − 0.4² = 0.84.
    alone = merged(reported_by("sharp"), trust, SEATS)
    weak_pair = merged(reported_by("eager", "sloppy"), trust, SEATS)
    strong_pair = merged(reported_by("sharp", "sloppy"), trust, SEATS)
    assert (alone.severity, alone.votes) == (Severity.WARNING, 1)
    assert (weak_pair.severity, weak_pair.votes) == (Severity.INFO, 2)  # 1 − 0.4 · 0.7 = 0.72
    assert strong_pair.severity is Severity.WARNING
    assert alone.confidence == pytest.approx(0.9 / 1.8)
    assert weak_pair.confidence == pytest.approx(0.9 / 1.8)


def test_counted_votes_give_the_weak_pair_its_severity_and_the_lone_seat_info() -> None:
    alone = merge_findings(reported_by("sharp"), answered=list(SEATS), min_agreement=2)
    weak_pair = merge_findings(reported_by("eager", "sloppy"), answered=list(SEATS), min_agreement=2)
    assert [f.severity for f in alone] == [Severity.INFO]
    assert [f.severity for f in weak_pair] == [Severity.WARNING]


@pytest.mark.parametrize("trust_value", [0.2, 0.5, 0.73, 0.95])
@pytest.mark.parametrize("size", [3, 4, 5])
def test_equal_trust_agrees_exactly_as_counted_votes(trust_value: float, size: int) -> None:
    panel = tuple(f"seat{index}" for index in range(size))
    trust = dict.fromkeys(panel, trust_value)
    for min_agreement in range(1, size + 1):
        for count in range(1, size + 1):
            answers = reported_by(*panel[:count])
            weighted = merge_findings(answers, answered=list(panel), min_agreement=min_agreement, trust=trust)
            counted = merge_findings(answers, answered=list(panel), min_agreement=min_agreement)
            assert [f.severity for f in weighted] == [f.severity for f in counted], (count, min_agreement)


def test_more_seats_never_lower_a_findings_standing() -> None:
    trust = {"sharp": 0.9, "eager": 0.6, "sloppy": 0.3, "flaky": 0.75}
    panel = tuple(trust)
    kept = {
        members: merged(reported_by(*members), trust, panel).severity is Severity.WARNING
        for size in range(1, len(panel) + 1)
        for members in itertools.combinations(panel, size)
    }
    for members, keeps in kept.items():
        for extra in panel:
            if extra not in members and keeps:
                grown = tuple(seat for seat in panel if seat in members or seat == extra)
                assert kept[grown], (members, extra)
