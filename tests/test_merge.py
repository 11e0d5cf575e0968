"""Tests for the consensus merge: clustering, voting, downgrades, fixes, determinism, scale."""

from __future__ import annotations

import random
import time

from orchestration.merge.consensus import merge_findings, normalize_message, rank_fixes
from orchestration.types.findings import (
    Category,
    Finding,
    Fix,
    MergedFinding,
    ModelOpinion,
    RankedFix,
    Severity,
)


def finding(
    start: int,
    message: str,
    *,
    end: int | None = None,
    severity: Severity = Severity.WARNING,
    category: Category = Category.BUG,
    fix: Fix | None = None,
) -> Finding:
    return Finding(
        start_line=start,
        end_line=start if end is None else end,
        severity=severity,
        category=category,
        message=message,
        fix=fix,
    )


def dumped(merged: list[MergedFinding]) -> list[dict[str, object]]:
    return [item.model_dump() for item in merged]


def test_three_seats_describing_one_bug_differently_merge_into_one_finding() -> None:
    merged = merge_findings(
        {
            "claude": [finding(3, "Off-by-one: range(len(items)+1) reads past the end")],
            "gemini": [finding(3, "IndexError when i == len(items)")],
            "codex": [finding(3, "The loop runs one step too far", end=4)],
        },
        answered=["claude", "gemini", "codex"],
    )
    assert len(merged) == 1
    only = merged[0]
    assert (only.votes, only.panel) == (3, 3)
    assert (only.start_line, only.end_line) == (3, 4)
    assert only.models == ["claude", "codex", "gemini"]
    assert {opinion.model: opinion.message for opinion in only.opinions}["gemini"] == (
        "IndexError when i == len(items)"
    )
    assert [(opinion.start_line, opinion.end_line) for opinion in only.opinions] == [(3, 3), (3, 4), (3, 3)]


def test_two_different_problems_on_one_line_stay_separate() -> None:
    merged = merge_findings(
        {
            "claude": [
                finding(7, "Auth bypass: compares password with ==", category=Category.SECURITY),
                finding(7, "Use `is` for None comparisons", category=Category.STYLE, severity=Severity.HINT),
            ],
            "gemini": [
                finding(7, "use `is` instead of == None", category=Category.STYLE, severity=Severity.HINT),
                finding(7, "Password compared with == allows auth bypass", category=Category.SECURITY),
            ],
        },
        answered=["claude", "gemini"],
    )
    assert [(item.category, item.votes) for item in merged] == [
        (Category.SECURITY, 2),
        (Category.STYLE, 2),
    ]
    security = merged[0]
    assert all("password" in opinion.message.lower() for opinion in security.opinions)


def test_same_category_on_one_line_is_told_apart_by_wording() -> None:
    merged = merge_findings(
        {
            "claude": [
                finding(5, "Division by zero when count is 0"),
                finding(5, "Off-by-one: range(len(items)+1) reads past the end"),
            ],
            "gemini": [finding(5, "range(len(items)+1) goes one past the end of items")],
        },
        answered=["claude", "gemini"],
    )
    by_votes = {item.votes: item for item in merged}
    assert sorted(by_votes) == [1, 2]
    assert by_votes[2].models == ["claude", "gemini"]
    assert "Off-by-one" in by_votes[2].message


def test_one_seat_contributes_at_most_one_finding_per_cluster() -> None:
    merged = merge_findings(
        {"claude": [finding(4, "Unused variable tmp"), finding(4, "Unused variable tmp")]},
        answered=["claude"],
    )
    assert [item.votes for item in merged] == [1, 1]


def test_adjacent_lines_merge_but_two_lines_apart_do_not() -> None:
    adjacent = merge_findings(
        {
            "claude": [finding(10, "File handle is never closed")],
            "gemini": [finding(11, "the file handle opened here is never closed")],
        },
        answered=["claude", "gemini"],
    )
    assert [(item.start_line, item.end_line, item.votes) for item in adjacent] == [(10, 11, 2)]
    apart = merge_findings(
        {
            "claude": [finding(10, "File handle is never closed")],
            "gemini": [finding(12, "the file handle opened here is never closed")],
        },
        answered=["claude", "gemini"],
    )
    assert [item.votes for item in apart] == [1, 1]


def test_adjacent_findings_with_unrelated_wording_stay_separate() -> None:
    merged = merge_findings(
        {
            "claude": [finding(10, "SQL query built with an f-string", category=Category.SECURITY)],
            "gemini": [finding(11, "Variable name tmpVal should be snake_case", category=Category.STYLE)],
        },
        answered=["claude", "gemini"],
    )
    assert len(merged) == 2


def test_related_categories_merge_when_the_wording_agrees() -> None:
    merged = merge_findings(
        {
            "claude": [
                finding(2, "SQL injection: user input interpolated into the query", category=Category.BUG)
            ],
            "gemini": [
                finding(2, "User input is interpolated into the SQL query", category=Category.SECURITY)
            ],
        },
        answered=["claude", "gemini"],
    )
    assert len(merged) == 1
    assert merged[0].category is Category.SECURITY  # A 1:1 tie goes to the more consequential category.


def test_severity_is_a_weighted_vote() -> None:
    findings = {
        "claude": [finding(1, "Off-by-one in the loop bound", severity=Severity.ERROR)],
        "gemini": [finding(1, "Loop bound is off by one", severity=Severity.WARNING)],
        "codex": [finding(1, "off by one loop bound", severity=Severity.WARNING)],
    }
    equal = merge_findings(findings, answered=list(findings))
    assert equal[0].severity is Severity.WARNING
    heavy_claude = merge_findings(findings, answered=list(findings), weights={"claude": 3.0})
    assert heavy_claude[0].severity is Severity.ERROR
    assert heavy_claude[0].models == ["claude", "codex", "gemini"]
    assert heavy_claude[0].message == "Off-by-one in the loop bound"


def test_severity_tie_goes_to_the_more_severe() -> None:
    merged = merge_findings(
        {
            "claude": [finding(1, "Loop bound is off by one", severity=Severity.WARNING)],
            "gemini": [finding(1, "Loop bound is off by one", severity=Severity.ERROR)],
        },
        answered=["claude", "gemini"],
    )
    assert merged[0].severity is Severity.ERROR


def test_message_comes_from_the_heaviest_seat() -> None:
    merged = merge_findings(
        {
            "claude": [finding(1, "Off-by-one: range(len(x)+1)")],
            "gemini": [finding(1, "IndexError when i == len(x)")],
        },
        answered=["claude", "gemini"],
        weights={"gemini": 2.0},
    )
    assert merged[0].message == "IndexError when i == len(x)"
    assert merged[0].models == ["gemini", "claude"]


def test_single_vote_finding_is_downgraded_to_info_with_three_seats() -> None:
    merged = merge_findings(
        {
            "claude": [
                finding(1, "Possible division by zero", severity=Severity.ERROR),
                finding(9, "Name could be clearer", severity=Severity.HINT, category=Category.STYLE),
            ],
            "gemini": [],
            "codex": [],
        },
        answered=["claude", "gemini", "codex"],
    )
    assert [(item.severity, item.votes, item.panel) for item in merged] == [
        (Severity.INFO, 1, 3),
        (Severity.HINT, 1, 3),
    ]
    assert merged[0].opinions[0].severity is Severity.ERROR


def test_single_vote_finding_keeps_its_severity_with_two_seats_or_agreement_one() -> None:
    findings = {"claude": [finding(1, "Possible division by zero", severity=Severity.ERROR)], "gemini": []}
    assert merge_findings(findings, answered=["claude", "gemini"])[0].severity is Severity.ERROR
    assert (
        merge_findings(findings, answered=["claude", "gemini", "codex"], min_agreement=1)[0].severity
        is Severity.ERROR
    )


def test_min_agreement_three_downgrades_two_votes() -> None:
    findings = {
        "a": [finding(1, "Possible division by zero", severity=Severity.ERROR)],
        "b": [finding(1, "division by zero possible", severity=Severity.ERROR)],
        "c": [],
        "d": [],
    }
    merged = merge_findings(findings, answered=list(findings), min_agreement=3)
    assert (merged[0].votes, merged[0].severity) == (2, Severity.INFO)


def test_panel_counts_seats_that_answered_without_findings() -> None:
    merged = merge_findings(
        {"claude": [finding(2, "Unused import os")]},
        answered=["claude", "gemini", "codex", "gemini"],
    )
    assert (merged[0].votes, merged[0].panel) == (1, 3)
    unlisted = merge_findings({"claude": [finding(2, "Unused import os")]}, answered=[])
    assert (unlisted[0].votes, unlisted[0].panel) == (1, 1)


def test_empty_input_gives_no_findings() -> None:
    assert merge_findings({}, answered=[]) == []
    assert merge_findings({"claude": [], "gemini": []}, answered=["claude", "gemini"]) == []


def test_fixes_are_deduplicated_after_whitespace_normalization_and_ranked() -> None:
    same_a = Fix(start_line=3, end_line=3, replacement="    for i in range(len(items)):\n")
    same_b = Fix(start_line=3, end_line=3, replacement="    for i in range( len(items) ):   \n\n")
    same_c = Fix(start_line=3, end_line=3, replacement="\tfor i in range(len(items)):")
    other = Fix(start_line=3, end_line=3, replacement="    for item in items:\n")
    merged = merge_findings(
        {
            "a": [finding(3, "Off-by-one in range", fix=same_a)],
            "b": [finding(3, "Off-by-one in range", fix=other)],
            "c": [finding(3, "Off-by-one in range", fix=same_c)],
            "d": [finding(3, "Off-by-one in range", fix=None)],
        },
        answered=["a", "b", "c", "d"],
        weights={"b": 5.0},
    )
    fixes = merged[0].fixes
    assert [(fix.votes, fix.models) for fix in fixes] == [(2, ["a", "c"]), (1, ["b"])]
    assert fixes[0].fix == same_a
    assert [(fix.votes, fix.models) for fix in rank_fixes({"a": same_a, "b": same_b})] == [(2, ["a", "b"])]


def test_fixes_with_equal_votes_rank_by_weight_and_different_ranges_differ() -> None:
    first = Fix(start_line=3, end_line=3, replacement="x = 1\n")
    wider = Fix(start_line=3, end_line=4, replacement="x = 1\n")
    ranked = rank_fixes({"a": first, "b": wider}, {"b": 2.0})
    assert [(fix.models, fix.fix) for fix in ranked] == [(["b"], wider), (["a"], first)]


def test_output_is_sorted_by_line_then_severity_then_votes() -> None:
    merged = merge_findings(
        {
            "a": [
                finding(8, "late bug", severity=Severity.ERROR),
                finding(2, "style nit about naming", severity=Severity.HINT, category=Category.STYLE),
                finding(2, "SQL injection in query", severity=Severity.ERROR, category=Category.SECURITY),
            ],
            "b": [
                finding(
                    2, "SQL injection via query string", severity=Severity.ERROR, category=Category.SECURITY
                )
            ],
        },
        answered=["a", "b"],
    )
    assert [(item.start_line, item.severity, item.votes) for item in merged] == [
        (2, Severity.ERROR, 2),
        (2, Severity.HINT, 1),
        (8, Severity.ERROR, 1),
    ]


def random_findings(count: int, seats: int, seed: int) -> dict[str, list[Finding]]:
    """Bugs reported by random subsets of seats, with jittered lines and varied wording."""
    rng = random.Random(seed)
    names = [f"seat{index}" for index in range(seats)]
    wordings = {
        Category.BUG: ["Off-by-one reading {v}", "IndexError indexing {v}", "{v} loop goes one past the end"],
        Category.SECURITY: ["SQL injection through {v}", "{v} is put into SQL", "Untrusted {v} in query"],
        Category.STYLE: ["{v} should be snake_case", "Rename {v} per PEP 8", "Naming: {v}"],
    }
    result: dict[str, list[Finding]] = {name: [] for name in names}
    made = 0
    bug = 0
    while made < count:
        bug += 1
        line = rng.randint(2, max(10, count // 2))
        category = rng.choice(list(wordings))
        for name in rng.sample(names, min(rng.randint(1, seats), count - made)):
            start = line + (rng.choice([-1, 1]) if rng.random() < 0.2 else 0)
            text = rng.choice(wordings[category]).format(v=f"value_{bug}")
            fix = (
                Fix(start_line=start, end_line=start, replacement=f"v = {bug}\n")
                if rng.random() < 0.3
                else None
            )
            result[name].append(
                finding(start, text, category=category, severity=rng.choice(list(Severity)), fix=fix)
            )
            made += 1
    return result


def test_result_does_not_depend_on_dict_or_list_order() -> None:
    findings = random_findings(300, 5, seed=7)
    expected = dumped(merge_findings(findings, answered=list(findings), weights={"seat1": 2.0}))
    rng = random.Random(1)
    for _ in range(5):
        seats = list(findings)
        rng.shuffle(seats)
        shuffled = {seat: rng.sample(findings[seat], len(findings[seat])) for seat in seats}
        answered = rng.sample(seats, len(seats))
        assert dumped(merge_findings(shuffled, answered=answered, weights={"seat1": 2.0})) == expected


def test_every_finding_lands_in_exactly_one_cluster() -> None:
    findings = random_findings(2000, 10, seed=3)
    merged = merge_findings(findings, answered=list(findings))
    opinions = sorted(
        (opinion.model, opinion.start_line, opinion.message) for item in merged for opinion in item.opinions
    )
    reported = sorted(
        (seat, item.start_line, item.message) for seat, items in findings.items() for item in items
    )
    assert opinions == reported
    assert all(item.votes == len(set(item.models)) == len(item.opinions) for item in merged)
    assert sum(item.votes for item in merged) == 2000


def test_ten_thousand_findings_merge_well_under_a_second() -> None:
    findings = random_findings(10_000, 10, seed=11)
    started = time.perf_counter()
    merged = merge_findings(findings, answered=list(findings))
    elapsed = time.perf_counter() - started
    assert sum(item.votes for item in merged) == 10_000
    assert sum(item.votes for item in merged) / len(merged) > 3  # Reports of one bug really merge.
    assert elapsed < 2.0, f"merging 10k findings took {elapsed:.2f} s"


def test_normalize_message_drops_punctuation_case_and_stopwords() -> None:
    assert normalize_message("Off-by-one: the loop reads PAST the end!") == "off one loop reads past end"
    assert normalize_message("naïve café — ok") == "naïve café — ok"


def test_merged_findings_are_valid_models() -> None:
    findings = random_findings(300, 4, seed=5)
    merged = merge_findings(findings, answered=list(findings))
    assert any(item.fixes for item in merged)
    for item in merged:
        assert MergedFinding.model_validate_json(item.model_dump_json()) == item
        assert all(isinstance(opinion, ModelOpinion) for opinion in item.opinions)
        assert all(isinstance(fix, RankedFix) for fix in item.fixes)
    edited = merged[0].model_copy(update={"message": "edited"})
    assert (edited.message, merged[0].message != "edited") == ("edited", True)


def test_dense_input_on_few_lines_stays_linear_and_loses_nothing() -> None:
    seats = [f"seat{index}" for index in range(6)]
    findings = {
        seat: [finding(1 + index % 3, f"problem number {index} in {seat}") for index in range(1000)]
        for seat in seats
    }
    started = time.perf_counter()
    merged = merge_findings(findings, answered=seats)
    elapsed = time.perf_counter() - started
    assert sum(item.votes for item in merged) == 6000
    assert all(item.votes == len(set(item.models)) for item in merged)
    assert elapsed < 10.0, f"dense merge took {elapsed:.2f} s"


def test_related_categories_with_unrelated_wording_stay_separate() -> None:
    merged = merge_findings(
        {
            "claude": [finding(4, "Division by zero when the list is empty", category=Category.BUG)],
            "gemini": [finding(4, "SQL injection through the name parameter", category=Category.SECURITY)],
        },
        answered=["claude", "gemini"],
    )
    assert [item.votes for item in merged] == [1, 1]
