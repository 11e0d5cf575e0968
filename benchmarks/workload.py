"""What the benchmarks review: a source file, the models' answers, the panel configuration.

Every seat answers with a realistic review: the same three problems the whole panel sees (each seat
in its own words, sometimes a line off), plus one remark of its own, so every request exercises
parsing, merging with agreement counts, conversion to diagnostics and publishing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.client import LspClient, Reply
from benchmarks.model_host import ModelHost

SOURCE = '''"""Users and their orders."""

import sqlite3


def find_user(db, name):
    query = "SELECT * FROM users WHERE name = '%s'" % name
    return db.execute(query).fetchall()


def count_users(db):
    rows = db.execute("SELECT * FROM users").fetchall()
    return len(rows) + 1


def total(orders):
    result = 0
    for i in range(len(orders) + 1):
        result += orders[i].amount
    return result


def load_config(path):
    handle = open(path)
    return handle.read()


def average(values):
    return sum(values) / len(values)


def names(users):
    out = ""
    for user in users:
        out = out + user.name + ","
    return out
''' + "".join(f"\n\ndef helper_{index}(value):\n    return value * {index}\n" for index in range(12))

REVIEW_FIRST, REVIEW_LAST = 0, 37
"""The reviewed lines (0-based; the range ends at column 0 of REVIEW_LAST)."""
EDIT_LINE = len(SOURCE.splitlines()) - 1
"""A line well outside the reviewed range, edited by the responsiveness scenario."""

_WORDINGS = {
    "injection": [
        (7, "security", "error", "SQL injection: name is formatted into the query"),
        (7, "security", "error", "User input is interpolated into SQL; use a parameterized query"),
        (7, "bug", "error", "Query built with % formatting allows SQL injection through name"),
        (8, "security", "warning", "Unsanitized name reaches db.execute (SQL injection)"),
    ],
    "off_by_one": [
        (18, "bug", "error", "Off-by-one: range(len(orders) + 1) reads past the end"),
        (19, "bug", "error", "IndexError when i == len(orders)"),
        (18, "bug", "warning", "Loop bound is one too high; orders[len(orders)] raises IndexError"),
        (18, "bug", "error", "range should be range(len(orders)), the last iteration fails"),
    ],
    "count": [
        (13, "bug", "warning", "count_users returns one more than the number of rows"),
        (13, "bug", "error", "Off by one: len(rows) + 1 overcounts users"),
        (12, "performance", "warning", "Fetches every row just to count them; use SELECT COUNT(*)"),
        (13, "bug", "warning", "The + 1 makes the user count wrong"),
    ],
}
_OWN_REMARKS = [
    (24, "maintainability", "warning", "File handle is never closed; use a with block"),
    (29, "bug", "warning", "ZeroDivisionError when values is empty"),
    (35, "performance", "info", "String concatenation in a loop is quadratic; use str.join"),
    (33, "style", "hint", "Function name names shadows a common variable name"),
]


def review_text(seat_index: int) -> str:
    """Seat `seat_index`'s answer: the shared problems in its own words, plus a remark of its own."""
    findings: list[dict[str, Any]] = []
    for variants in _WORDINGS.values():
        line, category, severity, message = variants[seat_index % len(variants)]
        findings.append(_finding(line, category, severity, message))
    line, category, severity, message = _OWN_REMARKS[seat_index % len(_OWN_REMARKS)]
    findings.append(_finding(line, category, severity, f"{message} (seat {seat_index})"))
    return json.dumps({"findings": findings})


def _finding(line: int, category: str, severity: str, message: str) -> dict[str, Any]:
    return {
        "start_line": line,
        "end_line": line,
        "severity": severity,
        "category": category,
        "message": message,
        "fix": None,
    }


def script_panel(host: ModelHost, latencies: Mapping[str, float]) -> None:
    """Script one fake model per seat, answering after its latency (seconds)."""
    for index, (name, latency) in enumerate(latencies.items()):
        host.script(name, review_text(index), latency)


def panel_options(
    host: ModelHost, seats: Sequence[str], policy: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """`initializationOptions` for a review panel of `seats`, all on the fake server."""
    models = {name: {"model": f"openai/{name}", "api_base": host.base_url, "timeout": 30} for name in seats}
    # The answer cache would serve every repeated review of the same code: the panel scenarios
    # measure the models' round trip, so they turn it off (the memory scenario measures it).
    options: dict[str, Any] = {"models": models, "panels": {"review": list(seats)}, "cache": False}
    if policy:
        options["policy"] = dict(policy)
    return options


def review_params(uri: str) -> dict[str, Any]:
    """`chorus/reviewSelection` params for the reviewed lines."""
    return {
        "textDocument": {"uri": uri},
        "range": {
            "start": {"line": REVIEW_FIRST, "character": 0},
            "end": {"line": REVIEW_LAST, "character": 0},
        },
    }


def check_review(reply: Reply, seats: int) -> dict[str, Any]:
    """The review's result; raises if it failed or no seat answered (a benchmark of errors is void)."""
    if reply.error is not None:
        raise RuntimeError(f"chorus/reviewSelection failed: {reply.error}")
    result: dict[str, Any] = reply.result
    answered = [model for model in result["models"] if model["status"] == "ok"]
    if not answered or not result["diagnostics"]:
        raise RuntimeError(f"review produced no diagnostics: {result['models']}")
    if len(result["models"]) != seats:
        raise RuntimeError(f"expected {seats} model statuses, got {result['models']}")
    return result


async def review(client: LspClient, uri: str, seats: int) -> Reply:
    """One checked review of the reviewed lines."""
    reply = await client.request("chorus/reviewSelection", review_params(uri))
    check_review(reply, seats)
    return reply


def open_source(client: LspClient, workspace: Path, name: str = "orders.py", text: str = SOURCE) -> str:
    """Write and open the benchmark's source file (or `text` under `name`); returns its URI."""
    path = workspace / name
    path.write_text(text, encoding="utf-8")
    return client.open_document(path, text)
