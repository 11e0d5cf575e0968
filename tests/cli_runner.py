"""Running `chorus` as a real subprocess, as a user's shell would, and writing its config files.

`run_chorus` starts `python -m server ARGS` with none of the caller's provider keys
(`*_API_KEY`) or `CHORUS_CONFIG`, colours off and stdin closed; `user_config` becomes
`XDG_CONFIG_HOME` (so a developer's own `~/.config/chorus` never leaks into a test) and `env`
adds variables. `write_seats_config` writes a chorus.toml whose seats answer on a fake server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.fake_models import FakeModelServer

REPO = Path(__file__).resolve().parent.parent


def run_chorus(
    *args: str,
    cwd: Path | None = None,
    user_config: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`chorus ARGS` in `cwd` (the repository by default); returns the finished process."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.endswith("_API_KEY") and name != "CHORUS_CONFIG"
    }
    environment.update({"NO_COLOR": "1", "PYTHONPATH": str(REPO)})
    if user_config is not None:
        environment["XDG_CONFIG_HOME"] = str(user_config)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
        env=environment,
        stdin=subprocess.DEVNULL,
    )


def write_seats_config(
    folder: Path,
    server: FakeModelServer,
    seats: list[str],
    extra: str = "",
    *,
    name: str = "chorus.toml",
    **seat_keys: str,
) -> Path:
    """`folder/name` with one `openai/<seat>` table per seat on `server` (plus `seat_keys`), then `extra`."""
    lines: list[str] = []
    for seat in seats:
        lines += [
            f"[models.{seat}]",
            f'model = "openai/{seat}"',
            f'api_base = "{server.base_url}"',
            "timeout = 5",
        ]
        lines += [f'{key} = "{value}"' for key, value in seat_keys.items()]
        lines.append("")
    path = folder / name
    path.write_text("\n".join(lines) + extra, encoding="utf-8")
    return path
