"""CPU-heavy pipeline steps run off the event loop (issue 13 item 3): the loop keeps ticking.

A review of a ~900 KB file redacts the whole document and merges hundreds of findings; a heartbeat
task measures the longest time the event loop was unavailable meanwhile. Redaction on the loop
alone takes about half a second for such a file on this machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from orchestration.pipelines.review import review_selection
from orchestration.providers.chat import ensure_litellm
from orchestration.types.requests import ReviewRequest, SourceDocument
from tests.fake_models import FakeModelServer, make_config
from tests.loop_watch import loop_gaps

LEDGER = (Path(__file__).resolve().parent.parent / "examples" / "ledger.py").read_text()
MAX_LOOP_GAP = 0.2
"""Seconds the loop may be busy at once; the heartbeat asks for a tick every 5 ms."""


async def test_a_big_review_keeps_the_event_loop_answering(model_server: FakeModelServer) -> None:
    text = LEDGER * (900_000 // len(LEDGER))
    document = SourceDocument(path="big_ledger.py", text=text)
    count = 300
    findings = [
        {
            "start_line": line,
            "end_line": line,
            "severity": "warning",
            "category": "bug",
            "message": f"problem {line}",
        }
        for line in range(1, count + 1)
    ]
    model_server.script("a", json.dumps({"findings": findings}))
    model_server.script("b", json.dumps({"findings": findings}))
    config = make_config(model_server, ["a", "b"])
    request = ReviewRequest(document=document, start_line=1, end_line=count)
    await ensure_litellm()  # The one-time import is not a pipeline step (and not this module's to move).
    async with loop_gaps() as gaps:
        result = await review_selection(request, config)

    assert [m.status for m in result.models] == ["ok", "ok"]
    assert len(result.findings) == count and all(f.votes == 2 for f in result.findings)
    assert max(gaps) < MAX_LOOP_GAP, f"event loop blocked for {max(gaps):.3f} s"
