"""The arbiter's logic (a scripted `complete` coroutine stands in for the model), and its deadline."""

from __future__ import annotations

import json
import time

import anyio
import pytest

from orchestration.merge.consensus import merge_findings
from orchestration.panel.arbiter import (
    ARBITER_SCHEMA,
    CompleteChat,
    arbitrate_review,
    ask_arbiter,
    combine_explanations,
    synthesize_explanation,
)
from orchestration.pipelines.review import review_selection
from orchestration.privacy.gate import OPEN_GATE
from orchestration.providers.chat import ensure_litellm
from orchestration.types.errors import ProviderError, UnusableAnswer
from orchestration.types.findings import Category, Finding, MergedFinding, Severity
from orchestration.types.requests import Message, ReviewRequest, SourceDocument
from tests.fake_models import FakeModelServer, make_config

CODE = "   3 | for i in range(len(items) + 1):\n   4 |     total += items[i]\n   5 |     avg = total / count"


class ScriptedArbiter:
    """A `complete` coroutine that records the chat and answers with a fixed text."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list[list[Message]] = []

    async def __call__(self, messages: list[Message]) -> str:
        self.calls.append(messages)
        return self.answer


def clusters_answer(*clusters: dict[str, object]) -> str:
    return json.dumps({"clusters": list(clusters)})


def panel_merge() -> list[MergedFinding]:
    """Cluster 1: two votes on line 3. Cluster 2: one vote (error, downgraded). Cluster 3: one vote."""
    return merge_findings(
        {
            "claude": [
                Finding(
                    start_line=3,
                    end_line=3,
                    message="Off-by-one: range(len(items)+1)",
                    severity=Severity.ERROR,
                ),
                Finding(
                    start_line=5,
                    end_line=5,
                    message="Division by zero when count is 0",
                    severity=Severity.ERROR,
                ),
            ],
            "gemini": [
                Finding(
                    start_line=3,
                    end_line=3,
                    message="IndexError when i == len(items)",
                    severity=Severity.ERROR,
                ),
                Finding(start_line=9, end_line=9, message="total shadows a builtin", category=Category.STYLE),
            ],
            "codex": [],
        },
        answered=["claude", "gemini", "codex"],
    )


def test_panel_merge_fixture_has_the_expected_shape() -> None:
    merged = panel_merge()
    assert [(item.start_line, item.votes, item.severity) for item in merged] == [
        (3, 2, Severity.ERROR),
        (5, 1, Severity.INFO),
        (9, 1, Severity.INFO),
    ]


async def test_prompt_carries_clusters_votes_opinions_and_code() -> None:
    arbiter = ScriptedArbiter(clusters_answer())
    await arbitrate_review(panel_merge(), CODE, arbiter)
    (messages,) = arbiter.calls
    assert [message["role"] for message in messages] == ["system", "user"]
    prompt = messages[1]["content"]
    assert CODE in prompt
    assert "[1] line 3, reported by 2/3 models" in prompt
    assert "[2] line 5, reported by 1/3 models" in prompt
    assert "  - gemini: IndexError when i == len(items)" in prompt
    assert '"verdict"' in messages[0]["content"]


async def test_synthesized_messages_are_applied_and_missing_ones_keep_the_original() -> None:
    merged = panel_merge()
    answer = clusters_answer(
        {"id": 1, "message": "range(len(items) + 1) indexes one past the end.", "verdict": None},
        {"id": 2, "message": "   ", "verdict": None},
        {"id": 99, "message": "unknown cluster", "verdict": "rejected"},
    )
    result = await arbitrate_review(merged, CODE, ScriptedArbiter(answer))
    assert [item.message for item in result] == [
        "range(len(items) + 1) indexes one past the end.",
        "Division by zero when count is 0",
        "total shadows a builtin",
    ]
    assert merged[0].message == "Off-by-one: range(len(items)+1)"  # The input is not modified.
    assert all(item.arbiter_verdict is None for item in result)


async def test_single_vote_findings_can_be_confirmed_or_rejected() -> None:
    answer = clusters_answer(
        {"id": 2, "message": "count can be 0, so total / count raises.", "verdict": "confirmed"},
        {"id": 3, "message": "Not a problem: total is not a builtin.", "verdict": "rejected"},
    )
    result = await arbitrate_review(panel_merge(), CODE, ScriptedArbiter(answer))
    by_line = {item.start_line: item for item in result}
    assert (by_line[5].arbiter_verdict, by_line[5].severity) == ("confirmed", Severity.ERROR)
    assert (by_line[9].arbiter_verdict, by_line[9].severity) == ("rejected", Severity.HINT)
    assert [item.start_line for item in result] == [3, 5, 9]


async def test_verdicts_on_multi_vote_findings_are_ignored() -> None:
    answer = clusters_answer({"id": 1, "message": "Off by one.", "verdict": "rejected"})
    result = await arbitrate_review(panel_merge(), CODE, ScriptedArbiter(answer))
    assert (result[0].votes, result[0].arbiter_verdict, result[0].severity) == (2, None, Severity.ERROR)
    assert result[0].message == "Off by one."


async def test_tolerates_fenced_json_string_ids_and_verdict_synonyms() -> None:
    answer = '```json\n{"Clusters": [{"id": "C2", "message": "Real.", "verdict": "Confirm"}]}\n```'
    result = await arbitrate_review(panel_merge(), CODE, ScriptedArbiter(answer))
    assert (result[1].message, result[1].arbiter_verdict) == ("Real.", "confirmed")


@pytest.mark.parametrize(
    "answer",
    [
        "I looked at the code and everything is fine.",
        "",
        '{"summary": "all good"}',
        '{"clusters": [{"x": 1}]}',
    ],
)
async def test_unusable_answer_raises(answer: str) -> None:
    with pytest.raises(UnusableAnswer):
        await arbitrate_review(panel_merge(), CODE, ScriptedArbiter(answer))


async def test_provider_error_propagates() -> None:
    async def failing(messages: list[Message]) -> str:
        raise ProviderError("arbiter: HTTP 500", kind="error")

    with pytest.raises(ProviderError):
        await arbitrate_review(panel_merge(), CODE, failing)


async def test_cancellation_is_not_swallowed() -> None:
    async def slow(messages: list[Message]) -> str:
        await anyio.sleep(10)
        return clusters_answer()

    with anyio.move_on_after(0.05) as scope:
        await arbitrate_review(panel_merge(), CODE, slow)
    assert scope.cancelled_caught


async def test_nothing_to_arbitrate_makes_no_call() -> None:
    arbiter = ScriptedArbiter("never used")
    assert await arbitrate_review([], CODE, arbiter) == []
    assert arbiter.calls == []


def test_schema_requires_every_property() -> None:
    item = ARBITER_SCHEMA["properties"]["clusters"]["items"]
    assert set(item["required"]) == set(item["properties"]) == {"id", "message", "verdict"}


EXPLANATIONS = {
    "claude": "`count` can be 0 when `items` is empty, so `total / count` raises ZeroDivisionError. "
    "Guard the division and return 0 for an empty list.",
    "gemini": "`total / count` divides by zero if `items` is empty because count is 0. "
    "Check for an empty list first and return 0.",
    "codex": "This is a false positive from the linter; the warning can be suppressed with a noqa comment.",
}


async def test_synthesize_explanation_sends_every_explanation_and_unwraps_the_answer() -> None:
    arbiter = ScriptedArbiter("```markdown\n# Division by zero\n\n**Where the models disagree:** codex.\n```")
    text = await synthesize_explanation(EXPLANATIONS, "lines 5-5 [pyright]: division by zero", CODE, arbiter)
    assert text == "# Division by zero\n\n**Where the models disagree:** codex."
    prompt = arbiter.calls[0][1]["content"]
    assert "lines 5-5 [pyright]: division by zero" in prompt
    assert all(f"### {seat}" in prompt for seat in EXPLANATIONS)
    assert "disagree" in arbiter.calls[0][0]["content"]


async def test_synthesize_explanation_reads_a_json_wrapped_answer_and_rejects_an_empty_one() -> None:
    wrapped = ScriptedArbiter(json.dumps({"explanation": "Both say: guard the division."}))
    assert await synthesize_explanation(EXPLANATIONS, "", CODE, wrapped) == "Both say: guard the division."
    with pytest.raises(UnusableAnswer):
        await synthesize_explanation(EXPLANATIONS, "", CODE, ScriptedArbiter("  \n"))


async def test_synthesize_one_explanation_needs_no_arbiter_call() -> None:
    arbiter = ScriptedArbiter("never used")
    text = await synthesize_explanation({"claude": "It divides by zero.", "gemini": " "}, "", CODE, arbiter)
    assert text == "**claude:** It divides by zero."
    assert arbiter.calls == []


def test_combine_explanations_attributes_agreeing_seats_together() -> None:
    text = combine_explanations({"claude": EXPLANATIONS["claude"], "gemini": EXPLANATIONS["gemini"]})
    assert text.startswith("**claude, gemini:** ")
    assert "disagree" not in text
    assert text.count("ZeroDivisionError") == 1  # One shared entry, not two copies.


def test_combine_explanations_flags_disagreement() -> None:
    text = combine_explanations(EXPLANATIONS)
    assert text.startswith("> **The models disagree:** 2 different explanations.")
    assert "**claude, gemini:**" in text
    assert "**codex:** This is a false positive" in text
    assert text.index("**claude, gemini:**") < text.index("**codex:**")


def test_combine_explanations_handles_empty_and_multi_paragraph_text() -> None:
    assert combine_explanations({}) == ""
    assert combine_explanations({"claude": "  "}) == ""
    assert combine_explanations({"claude": "# Cause\n\nThe loop."}) == "**claude:**\n\n# Cause\n\nThe loop."


# -- the request deadline (issue 13, item 9) --------------------------------------------------------

DEADLINE_FINDING = {
    "start_line": 2,
    "end_line": 2,
    "severity": "error",
    "category": "bug",
    "message": "Division by zero when values is empty",
    "fix": None,
}


async def test_a_slow_arbiter_does_not_run_past_the_request_deadline(model_server: FakeModelServer) -> None:
    model_server.script("a", json.dumps({"findings": [DEADLINE_FINDING]}), latency=3.0)
    model_server.script("judge", clusters_answer({"id": 1, "message": "late", "verdict": None}), latency=10.0)
    config = make_config(
        model_server,
        {"a": {}, "judge": {"timeout": 60}},
        panels={"review": ["a"], "arbiter": "judge"},
        policy={"deadline": 5},
    )
    text = "def mean(values):\n    return sum(values) / len(values)\n"
    await ensure_litellm()
    started = time.monotonic()
    result = await review_selection(ReviewRequest(document=SourceDocument(path="m.py", text=text)), config)
    elapsed = time.monotonic() - started
    assert 4.5 <= elapsed < 6.5, elapsed  # Not 3 + 5 (or 3 + 60) seconds.
    assert result.findings  # The merge is kept.
    assert result.arbiter is not None and result.arbiter.status == "timeout"
    assert result.arbiter.error == "arbiter cut off at the request's deadline of 5 s"
    assert (await model_server.wait_for_disconnect("judge", timeout=2.0)).answer is None


async def test_no_time_left_means_the_arbiter_is_not_asked(model_server: FakeModelServer) -> None:
    model_server.script("judge", "never asked")
    config = make_config(model_server, ["judge"], panels={"arbiter": "judge"}, policy={"deadline": 5})

    async def ask(complete: CompleteChat) -> str:
        return await complete([{"role": "user", "content": "merge"}])

    value, status = await ask_arbiter(config, OPEN_GATE, ask, started_at=anyio.current_time() - 5.0)
    assert value is None and status is not None
    assert status.status == "skipped"
    assert status.error == "not asked: the request's deadline of 5 s had been reached"
    assert model_server.requests == []


# -- hostile arbiter answers through the whole review (issue 13, item 4) ------------------------------


@pytest.mark.parametrize("answer", ["[" * 5000, '{"clusters": ' * 3000, "\x00" * 10_000])
async def test_a_hostile_arbiter_answer_leaves_the_panels_merge(
    model_server: FakeModelServer, answer: str
) -> None:
    model_server.script("a", json.dumps({"findings": [DEADLINE_FINDING]}))
    model_server.script("b", json.dumps({"findings": [DEADLINE_FINDING]}))
    model_server.script("judge", answer)
    config = make_config(model_server, ["a", "b", "judge"], panels={"review": ["a", "b"], "arbiter": "judge"})
    text = "def mean(values):\n    return sum(values) / len(values)\n"
    result = await review_selection(ReviewRequest(document=SourceDocument(path="m.py", text=text)), config)
    assert len(model_server.requests_for("judge")) == 1
    assert [(f.start_line, f.votes, f.message) for f in result.findings] == [
        (2, 2, DEADLINE_FINDING["message"])
    ]
    assert result.arbiter is not None and result.arbiter.status == "invalid", result.arbiter
