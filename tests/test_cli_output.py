"""The CLI's output and input limits, run as a subprocess against hostile fake models.

Model, proxy and path text is printed literally (no Rich markup, no emoji codes) and stripped of
terminal control sequences; files that are not regular, too large, or lines past the end are
refused with one line and exit 2 before any model is asked; `serve --tcp` checks its address.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.cli_runner import run_chorus, write_seats_config
from tests.fake_models import FakeModelServer

REPO = Path(__file__).resolve().parent.parent
SAMPLE = (
    "def mean(values):\n    return sum(values) / len(values)\n\n\ndef first(values):\n    return values[0]\n"
)
ESCAPES = (
    "\x1b[2J\x1b[H\x1b]0;pwned-title\x07\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\\x9b31m\x07\x08\r"
)
HOSTILE = f"Divides by zero [/oops] [bold]not bold[/bold] :smile: :abc: {ESCAPES}end of message"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def write_config(tmp_path: Path, server: FakeModelServer, seats: list[str], extra: str = "") -> Path:
    return write_seats_config(tmp_path, server, seats, extra, name="team.toml")


def chorus(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_chorus(*args, cwd=cwd, user_config=cwd / ".user-config", timeout=timeout)


def assert_clean(text: str) -> None:
    """No control character but newline and tab, and no traceback."""
    assert not CONTROL.findall(text), sorted(set(CONTROL.findall(text)))
    assert "Traceback" not in text
    assert "pwned-title" not in text and "evil.example" not in text


def test_hostile_model_text_and_file_names_are_shown_literally(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    finding = {
        "start_line": 2,
        "end_line": 2,
        "severity": "error",
        "category": "bug",
        "message": HOSTILE,
        "fix": {"start_line": 2, "end_line": 2, "replacement": f"    return 0  # [red]x[/] {ESCAPES}\n"},
    }
    model_server.script("claude", json.dumps({"findings": [finding]}))
    model_server.script("codex", json.dumps({"findings": [{**finding, "message": "Zero [/] division"}]}))
    model_server.script(
        "gemini", status=500, error_body=f"proxy says [/oops] pip install 'chorus-lsp[local]' {ESCAPES}"
    )
    folder = tmp_path / "["
    folder.mkdir()
    target = folder / "x].py"  # Shown as `[/x].py`.
    target.write_text(SAMPLE, encoding="utf-8")
    config = write_config(tmp_path, model_server, ["claude", "codex", "gemini"])
    run = chorus("review", "[/x].py", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert_clean(run.stdout)
    assert_clean(run.stderr)
    assert "[/x].py:2:1 error [2/2 models]" in run.stdout
    assert "[/oops] [bold]not bold[/bold] :smile: :abc:" in run.stdout
    assert "Zero [/] division" in run.stdout
    assert "# [red]x[/]" in run.stdout, "the fix diff is shown literally"
    assert "[2J" not in run.stdout
    assert "end of message" in run.stdout
    assert "pip install 'chorus-lsp[local]'" in run.stdout + run.stderr, "markup must not eat [local]"
    assert "[/oops]" in run.stderr, "the failing seat's reason, in the live progress"


def test_a_fix_diff_counts_lines_as_lsp_does(tmp_path: Path, model_server: FakeModelServer) -> None:
    """A form feed or U+2028 inside a line is not a line break (LSP ends lines at \\n, \\r\\n, \\r only):
    the diff replaces exactly the fixed line, and shows the replacement as the one line it is."""
    source = "def mean(values):\n    total = sum(values)  # \x0c page two\n    return total / len(values)\n"
    replacement = "    return total / max(len(values), 1)  # \u2028 guarded\n"
    fix = {"start_line": 3, "end_line": 3, "replacement": replacement}
    finding = {
        "start_line": 3,
        "end_line": 3,
        "severity": "error",
        "category": "bug",
        "message": "Empty list.",
    }
    model_server.script("claude", json.dumps({"findings": [{**finding, "fix": fix}]}))
    (tmp_path / "mean.py").write_text(source, encoding="utf-8")
    run = chorus(
        "review", "mean.py", "--config", str(write_config(tmp_path, model_server, ["claude"])), cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    changed = [line for line in run.stdout.split("\n") if line.strip().startswith(("+ ", "- ", "+  ", "-  "))]
    removed = [line for line in changed if line.lstrip().startswith("-")]
    added = [line for line in changed if line.lstrip().startswith("+")]
    assert len(removed) == 1 and "return total / len(values)" in removed[0], changed
    assert len(added) == 1 and "max(len(values), 1)" in added[0] and "guarded" in added[0], changed


def test_hostile_proxy_text_in_chorus_models_is_shown_literally(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    model_server.script(
        "claude", status=500, error_body=f"proxy [/oops] :smile: {ESCAPES} pip 'chorus-lsp[local]'"
    )
    run = chorus("models", "--config", str(write_config(tmp_path, model_server, ["claude"])), cwd=tmp_path)
    assert_clean(run.stdout + run.stderr)
    assert run.returncode != 0 and "claude" in run.stdout
    flat = " ".join(run.stdout.split())  # The table may wrap the reason over several lines.
    assert "[/oops]" in flat and ":smile:" in flat and "[2J" not in flat


def test_hostile_explanation_is_stripped_of_escapes(tmp_path: Path, model_server: FakeModelServer) -> None:
    answer = {"explanation": f"**Empty list** [/oops] :smile: {ESCAPES} done", "fix": None}
    model_server.script("gemini", json.dumps(answer))
    (tmp_path / "sample.py").write_text(SAMPLE, encoding="utf-8")
    config = write_config(tmp_path, model_server, ["gemini"])
    run = chorus(
        "explain", "sample.py:2", "--message", "division [/] by zero", "--config", str(config), cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert_clean(run.stdout + run.stderr)
    assert "[/oops] :smile:" in run.stdout and "done" in run.stdout


def test_a_missing_file_with_markup_in_its_name_is_one_line(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    config = write_config(tmp_path, model_server, ["claude"])
    run = chorus("review", "[/gone]:smile:.py", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == "chorus: [/gone]:smile:.py: no such file"


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_files_that_are_not_regular_are_refused_at_once(
    tmp_path: Path, model_server: FakeModelServer, kind: str
) -> None:
    if kind == "fifo":
        target = tmp_path / "pipe.py"
        os.mkfifo(target)
    elif kind == "directory":
        target = tmp_path / "folder.py"
        target.mkdir()
    else:
        target = Path("/dev/zero")
    config = write_config(tmp_path, model_server, ["claude"])
    run = chorus("review", str(target), "--config", str(config), cwd=tmp_path, timeout=30)
    assert run.returncode == 2, run.stderr
    assert "not a regular file" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert model_server.requests == []


def test_a_file_over_max_file_bytes_is_refused(tmp_path: Path, model_server: FakeModelServer) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * 100, encoding="utf-8")
    config = write_config(tmp_path, model_server, ["claude"], extra="[policy]\nmax_file_bytes = 100\n")
    run = chorus("review", "big.py", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 2
    assert "600 bytes is over policy.max_file_bytes (100)" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert model_server.requests == []


def test_a_line_past_the_end_exits_2_without_asking_a_model(
    tmp_path: Path, model_server: FakeModelServer
) -> None:
    (tmp_path / "sample.py").write_text(SAMPLE, encoding="utf-8")
    model_server.script("claude", json.dumps({"findings": []}))
    config = write_config(tmp_path, model_server, ["claude"])
    run = chorus("review", "sample.py:999", "--config", str(config), cwd=tmp_path)
    assert run.returncode == 2, run.stdout
    assert "999" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "No findings" not in run.stdout
    assert model_server.requests == []


def test_setting_exclude_keeps_the_built_in_globs(tmp_path: Path, model_server: FakeModelServer) -> None:
    (tmp_path / "server.pem").write_text("-----BEGIN PRIVATE KEY-----\nabc\n", encoding="utf-8")
    (tmp_path / "notes.secret").write_text("x = 1\n", encoding="utf-8")
    config = write_config(tmp_path, model_server, ["claude"], extra='[policy]\nexclude = ["*.secret"]\n')
    for name in ("server.pem", "notes.secret"):
        run = chorus("review", name, "--config", str(config), cwd=tmp_path)
        assert run.returncode == 2 and "policy.exclude" in run.stderr, (name, run.stderr)
    assert model_server.requests == []


@pytest.mark.parametrize(
    "address", ["127.0.0.1:99999", "127.0.0.1:0", "garbage", "127.0.0.1:", "no such host:80"]
)
def test_serve_tcp_with_a_bad_address_is_one_line(tmp_path: Path, address: str) -> None:
    run = chorus("serve", "--tcp", address, cwd=tmp_path, timeout=30)
    assert run.returncode == 2
    assert run.stderr.startswith("chorus serve: ") and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "Traceback" not in run.stderr and "OverflowError" not in run.stderr
