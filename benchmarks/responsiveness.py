"""Scenario 4: the editor stays responsive while 50 reviews are in flight.

50 `chorus/reviewSelection` requests (3 models at 2 s each, 150 HTTP calls) are sent at once; while
they run — from the burst of calls going out to the burst of answers coming back, merged and
published — a probe loop measures, one at a time:

* `textDocument/codeAction` round-trips on the reviewed lines (what the quick-fix menu waits for);
* `didChange` round-trips: an edit on a line outside the reviewed range, followed at once by a
  codeAction request; the server reads its input in order, so that answer comes after the edit was
  handled, and the pair's time is what typing then asking for a quick fix costs.

Then one row from `benchmarks.redaction`: 1 MB of adversarial text redacted, codeAction answering.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks import Measurement, ScenarioResult, Settings, median, percentile, redaction
from benchmarks.client import LspClient, Reply
from benchmarks.model_host import ModelHost
from benchmarks.workload import (
    EDIT_LINE,
    REVIEW_FIRST,
    SOURCE,
    check_review,
    open_source,
    panel_options,
    review,
    review_params,
    script_panel,
)

IN_FLIGHT = 50
MODEL_LATENCY = 2.0
TARGET_P99_MS = 25.0
PROBE_PAUSE = 0.01
"""Seconds between probes (an editor asks for code actions as the cursor moves)."""


def code_action_params(uri: str) -> dict[str, Any]:
    """A codeAction request for a selection on the reviewed lines."""
    return {
        "textDocument": {"uri": uri},
        "range": {
            "start": {"line": REVIEW_FIRST + 6, "character": 0},
            "end": {"line": REVIEW_FIRST + 8, "character": 0},
        },
        "context": {"diagnostics": [], "triggerKind": 1},
    }


class Editor:
    """Types on the edit line and asks for code actions, like a user while reviews run."""

    def __init__(self, client: LspClient, uri: str) -> None:
        self.client = client
        self.uri = uri
        self.version = 1
        self.original = SOURCE.splitlines()[EDIT_LINE]

    def type_on_edit_line(self) -> None:
        """Replace the edit line's text with a same-length variant (no lines move)."""
        self.version += 1
        text = self.original if self.version % 2 else self.original.replace("value", "vaLue")
        edit_range = {
            "start": {"line": EDIT_LINE, "character": 0},
            "end": {"line": EDIT_LINE, "character": len(self.original)},
        }
        self.client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": self.uri, "version": self.version},
                "contentChanges": [{"range": edit_range, "text": text}],
            },
        )

    async def code_action(self) -> Reply:
        """One codeAction round-trip."""
        reply = await self.client.request("textDocument/codeAction", code_action_params(self.uri))
        if reply.error is not None or not reply.result:
            raise RuntimeError(f"codeAction failed or empty: {reply.error or reply.result}")
        return reply

    async def edit_then_code_action(self) -> float:
        """didChange followed by a codeAction: seconds from the edit to the answer."""
        sent = time.perf_counter()
        self.type_on_edit_line()
        reply = await self.code_action()
        return reply.received - sent


async def probe_while(editor: Editor, reviews: asyncio.Future[Any]) -> tuple[list[float], list[float]]:
    """Alternate codeAction and didChange probes until every review has answered."""
    actions: list[float] = []
    changes: list[float] = []
    while not reviews.done():
        actions.append((await editor.code_action()).seconds)
        await asyncio.sleep(PROBE_PAUSE)
        changes.append(await editor.edit_then_code_action())
        await asyncio.sleep(PROBE_PAUSE)
    return actions, changes


async def run(settings: Settings) -> ScenarioResult:
    """Probe codeAction and didChange latency under `IN_FLIGHT` concurrent reviews."""
    from benchmarks.client import chorus_server

    started = time.perf_counter()
    rounds = settings.reps(3, 1)
    in_flight = 10 if settings.quick else IN_FLIGHT
    latency = 0.5 if settings.quick else MODEL_LATENCY
    seats = {"busy_a": latency, "busy_b": latency, "busy_c": latency}
    actions: list[float] = []
    changes: list[float] = []
    idle: list[float] = []
    walls: list[float] = []
    with ModelHost() as host:
        script_panel(host, seats)
        policy = {"max_parallel_calls": 600, "max_file_bytes": 2 * redaction.SIZE}
        async with chorus_server(panel_options(host, list(seats), policy)) as session:
            client = session.client
            uri = open_source(client, session.workspace)
            editor = Editor(client, uri)
            await review(client, uri, len(seats))
            for _ in range(20):
                idle.append((await editor.code_action()).seconds)
            for _ in range(rounds):
                sent = time.perf_counter()
                futures = [
                    client.send_request("chorus/reviewSelection", review_params(uri))
                    for _ in range(in_flight)
                ]
                everything = asyncio.gather(*futures)
                round_actions, round_changes = await probe_while(editor, everything)
                for reply in await everything:
                    check_review(reply, len(seats))
                walls.append(time.perf_counter() - sent)
                actions += round_actions
                changes += round_changes
            redacted = await redaction.measure(
                settings,
                client,
                session.workspace,
                lambda other: client.request("textDocument/codeAction", code_action_params(other)),
            )
    ms = 1000.0
    action_p99, change_p99 = percentile(actions, 0.99) * ms, percentile(changes, 0.99) * ms
    detail = (
        f"median {median(actions) * ms:.1f} ms, max {max(actions) * ms:.1f} ms over {len(actions)} probes; "
        f"idle median {median(idle) * ms:.1f} ms"
    )
    measurements = [
        Measurement.at_most(
            "codeaction_p99",
            "4. responsiveness",
            f"codeAction p99, {in_flight} reviews in flight",
            action_p99,
            TARGET_P99_MS,
            "ms",
            detail=detail,
            samples=[value * ms for value in actions],
        ),
        Measurement.at_most(
            "didchange_p99",
            "4. responsiveness",
            f"didChange→codeAction p99, {in_flight} in flight",
            change_p99,
            TARGET_P99_MS,
            "ms",
            detail=f"median {median(changes) * ms:.1f} ms, max {max(changes) * ms:.1f} ms "
            f"over {len(changes)} probes",
            samples=[value * ms for value in changes],
        ),
        redacted,
        Measurement.report(
            "responsiveness_wall",
            "4. responsiveness",
            f"{in_flight} reviews (models at {latency:g} s): wall time",
            median(walls) * ms,
            "ms",
        ),
    ]
    chart = {
        "codeaction_ms": [value * ms for value in actions],
        "didchange_ms": [value * ms for value in changes],
        "in_flight": in_flight,
    }
    return ScenarioResult("responsiveness", measurements, chart, time.perf_counter() - started)
