"""Fake agent CLIs for the agent-seat tests: wrappers named `claude`, `codex`, … on a PATH of their own.

`FakeAgents(tmp_path).install("claude", mode="answer", answer=TEXT)` writes an executable
`claude` into its bin folder that runs `fake_agent.py` as that CLI; `calls()` reads back what each
run got (argv, cwd, environment, stdin, the files it saw).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")


class FakeAgents:
    """A bin folder of fake agent CLIs and the folder where they record their runs."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "fake-bin"
        self.record = root / "fake-record"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.record.mkdir(parents=True, exist_ok=True)

    def install(
        self, name: str, *, mode: str = "answer", answer: str = '{"findings": []}', as_: str | None = None
    ) -> Path:
        """Write the executable `name` (answering as CLI `as_`, default `name`) into the bin folder."""
        answer_file = self.record / f"{name}.answer"
        answer_file.write_text(answer)
        script = self.bin / name
        command = [
            sys.executable,
            str(FAKE_AGENT),
            "--as",
            as_ or name,
            "--mode",
            mode,
            "--record",
            str(self.record),
            "--answer",
            str(answer_file),
        ]
        script.write_text(f'#!/bin/sh\nexec {shlex.join(command)} -- "$@"\n')
        script.chmod(0o755)
        return script

    def path_with_fakes(self) -> str:
        """PATH with the fakes first."""
        return f"{self.bin}{os.pathsep}{os.environ.get('PATH', os.defpath)}"

    def calls(self) -> list[dict[str, Any]]:
        """Every recorded run, oldest first."""
        log = self.record / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    def pids(self) -> list[int]:
        """The pids a hanging fake wrote (itself and its child), once it has."""
        path = self.record / "pids"
        return [int(p) for p in path.read_text().split()] if path.exists() else []
