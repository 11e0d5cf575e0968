"""Tests for applying, checking, validating and ranking implementation candidates."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

import anyio
import pytest

from orchestration.code.candidates import (
    apply_candidate,
    build_candidates,
    check_candidate,
    prepare_candidate,
)
from orchestration.code.stubs import find_stub
from orchestration.code.validation import relative_document_path, run_validate_command
from orchestration.types.config import PolicyConfig
from orchestration.types.requests import SourceDocument
from orchestration.types.results import StubLocation
from tests.loop_watch import loop_gaps

CLASS_SOURCE = (
    "class Calculator:\r\n"
    "    @staticmethod\r\n"
    "    def add(a, b):\r\n"
    '        """Sum of a and b."""\r\n'
    "        raise NotImplementedError\r\n"
    "\r\n"
    "    def name(self):\r\n"
    "        return 'calc'\r\n"
)


def stub_of(document: SourceDocument, line: int) -> StubLocation:
    stub = find_stub(document, line)
    assert stub is not None
    return stub


def test_dedented_method_is_reindented_into_the_class_keeping_crlf_and_surroundings() -> None:
    document = SourceDocument(path="calc.py", text=CLASS_SOURCE)
    stub = stub_of(document, 5)
    candidate = "```python\n@staticmethod\ndef add(a, b):\n    return a + b\n```\n"
    new_text = apply_candidate(document.text, stub, candidate)
    assert new_text == (
        "class Calculator:\r\n"
        "    @staticmethod\r\n"
        "    def add(a, b):\r\n"
        "        return a + b\r\n"
        "\r\n"
        "    def name(self):\r\n"
        "        return 'calc'\r\n"
    )
    assert prepare_candidate(document.text, stub, candidate) == "    def add(a, b):\n        return a + b"
    assert check_candidate(candidate, stub, document.text) == []


def test_applying_the_prepared_code_again_gives_the_same_file() -> None:
    document = SourceDocument(path="calc.py", text=CLASS_SOURCE)
    stub = stub_of(document, 5)
    prepared = prepare_candidate(document.text, stub, "def add(a, b):\n  return a + b")
    assert apply_candidate(document.text, stub, prepared) == apply_candidate(
        document.text, stub, "def add(a, b):\n  return a + b"
    )


def test_tab_indented_file_gets_tabs() -> None:
    text = "class A:\n\tdef f(self):\n\t\tpass\n"
    document = SourceDocument(path="tabs.py", text=text)
    stub = stub_of(document, 3)
    assert (
        apply_candidate(text, stub, "def f(self):\n    return 1\n")
        == "class A:\n\tdef f(self):\n\t\treturn 1\n"
    )


def test_typescript_export_is_restored_and_object_comma_kept() -> None:
    text = (
        "export function parse(text: string): number {\n"
        "  // TODO\n"
        "}\n"
        "const ops = {\n"
        "  double(x) { throw new Error('todo') },\n"
        "  half: 2,\n"
        "};\n"
    )
    document = SourceDocument(path="ops.ts", text=text)
    parse = stub_of(document, 2)
    applied = apply_candidate(text, parse, "function parse(text: string): number {\n  return text.length;\n}")
    assert applied.startswith(
        "export function parse(text: string): number {\n  return text.length;\n}\nconst ops"
    )
    double = stub_of(document, 5)
    applied = apply_candidate(text, double, "double(x) {\n  return x * 2;\n}")
    assert "  double(x) {\n    return x * 2;\n  },\n  half: 2,\n" in applied
    assert check_candidate("double(x) {\n  return x * 2;\n}", double, text) == []


def test_check_flags_rename_params_syntax_placeholder_and_empty() -> None:
    document = SourceDocument(path="calc.py", text=CLASS_SOURCE)
    stub = stub_of(document, 5)
    renamed = check_candidate("def plus(a, b):\n    return a + b\n", stub, document.text)
    assert renamed == ["function renamed from 'add' to 'plus'"]
    changed = check_candidate("def add(a, c=0):\n    return a + c\n", stub, document.text)
    assert changed == ["parameters changed from (a, b) to (a, c)"]
    broken = check_candidate("def add(a, b):\n    return (a +\n", stub, document.text)
    assert broken and all("syntax error" in problem for problem in broken)
    assert check_candidate("def add(a, b):\n    pass\n", stub, document.text) == [
        "still a stub: the body is only a placeholder"
    ]
    assert check_candidate("  \n", stub, document.text) == ["empty candidate"]
    assert any("whole function" in p for p in check_candidate("return a + b\n", stub, document.text))


async def test_equivalent_codes_are_grouped_and_broken_code_ranks_last() -> None:
    document = SourceDocument(path="calc.py", text=CLASS_SOURCE)
    stub = stub_of(document, 5)
    codes = {
        "claude": "def add(a, b):\n    return a + b\n",
        "gpt": "  def add(a, b):\n      return   a + b",
        "gemini": "def add(a, b):\n    return a + b  # sum\n",
        "broken": "def add(a, b):\n    return (a +\n",
        "other": "def add(a, b):\n    result = b\n    result += a\n    return result\n",
    }
    weights = {"claude": 1.0, "gpt": 2.0, "gemini": 1.0, "broken": 5.0, "other": 1.0}
    candidates = await build_candidates(
        document, stub, codes, weights=weights, policy=PolicyConfig(), workspace=None
    )
    assert [c.models for c in candidates] == [["claude", "gpt", "gemini"], ["other"], ["broken"]]
    best = candidates[0]
    assert (best.votes, best.valid, best.weight, best.tests_passed) == (3, True, 4.0, None)
    assert (
        best.code == "    def add(a, b):\n        return   a + b"
    )  # the heaviest seat's wording, re-indented
    assert (best.start_line, best.end_line) == (stub.start_line, stub.end_line)
    assert candidates[-1].valid is False and candidates[-1].problems


async def test_weight_breaks_ties_between_single_votes() -> None:
    document = SourceDocument(path="calc.py", text=CLASS_SOURCE)
    stub = stub_of(document, 5)
    codes = {
        "light": "def add(a, b):\n    return sum((a, b))\n",
        "heavy": "def add(a, b):\n    return b + a\n",
    }
    candidates = await build_candidates(
        document, stub, codes, weights={"light": 1.0, "heavy": 3.0}, policy=PolicyConfig(), workspace=None
    )
    assert [c.models for c in candidates] == [["heavy"], ["light"]]


def write_project(root: Path) -> SourceDocument:
    """A tiny project whose test checks `add`, plus directories the copy must skip."""
    package = root / "pkg"
    package.mkdir()
    source = "def add(a, b):\n    raise NotImplementedError\n"
    (package / "calc.py").write_text(source)
    (package / "__init__.py").write_text("")
    (root / "test_calc.py").write_text(
        "import os\n"
        "from pkg.calc import add\n\n\n"
        "def test_add():\n"
        "    assert add(2, 3) == 5\n\n\n"
        "def test_copy_skips_heavy_directories():\n"
        "    assert not os.path.exists('node_modules') and not os.path.exists('.git')\n"
    )
    (root / "node_modules").mkdir()
    (root / "node_modules" / "big.js").write_text("x")
    (root / ".git").mkdir()
    return SourceDocument(path=str(package / "calc.py"), text=source)


def pytest_command() -> str:
    return f"{shlex.quote(sys.executable)} -m pytest -q -p no:cacheprovider test_calc.py"


async def test_validate_command_ranks_the_passing_candidate_first(tmp_path: Path) -> None:
    document = write_project(tmp_path)
    stub = stub_of(document, 2)
    codes = {
        "wrong": "def add(a, b):\n    return a - b\n",
        "right": "def add(a, b):\n    return a + b\n",
        "broken": "def add(a, b)\n    return a + b\n",
    }
    policy = PolicyConfig(validate_command=pytest_command(), validate_timeout=60)
    candidates = await build_candidates(
        document, stub, codes, weights={"wrong": 2.0}, policy=policy, workspace=tmp_path
    )
    assert [c.models for c in candidates] == [["right"], ["wrong"], ["broken"]]
    right, wrong, broken = candidates
    assert right.tests_passed is True and right.valid and right.problems == []
    assert wrong.tests_passed is False and wrong.valid
    assert any("validate_command failed" in p and "assert" in p for p in wrong.problems)
    assert broken.tests_passed is None and not broken.valid
    assert (tmp_path / "pkg" / "calc.py").read_text() == document.text  # the workspace is untouched


async def test_validate_timeout_is_a_problem(tmp_path: Path) -> None:
    document = write_project(tmp_path)
    stub = stub_of(document, 2)
    sleeper = f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(30)'"
    policy = PolicyConfig(validate_command=sleeper, validate_timeout=1)
    started = time.monotonic()
    candidates = await build_candidates(
        document,
        stub,
        {"a": "def add(a, b):\n    return a + b\n"},
        weights={},
        policy=policy,
        workspace=tmp_path,
    )
    assert time.monotonic() - started < 10
    assert candidates[0].tests_passed is False
    assert any("timed out after 1 s" in problem for problem in candidates[0].problems)


def process_gone(pid: int) -> bool:
    """True once `pid` no longer runs (an unreaped zombie counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def child_spawning_command(pid_file: Path) -> str:
    script = (
        "import subprocess, sys, pathlib; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"pathlib.Path({str(pid_file)!r}).write_text(str(child.pid)); child.wait()"
    )
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"


def wait_until_killed(pid_file: Path) -> None:
    """Wait for the grandchild to record its pid, then for it to disappear (fails after a few seconds)."""
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not process_gone(pid):
        assert time.monotonic() < deadline, f"process {pid} survived"
        time.sleep(0.05)


async def test_timeout_kills_the_command_and_its_children(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    pid_file = tmp_path / "child.pid"
    passed, output = await run_validate_command(
        child_spawning_command(pid_file), tmp_path / "work", "x.py", "", timeout=2
    )
    assert (passed, output) == (False, "timed out after 2 s")
    await anyio.to_thread.run_sync(wait_until_killed, pid_file)


async def test_cancellation_kills_the_command(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    pid_file = tmp_path / "child.pid"
    with anyio.move_on_after(1.5) as scope:
        await run_validate_command(
            child_spawning_command(pid_file), tmp_path / "work", "x.py", "", timeout=60
        )
    assert scope.cancelled_caught
    await anyio.to_thread.run_sync(wait_until_killed, pid_file)


async def test_run_validate_command_reports_output_and_bad_commands(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    command = f"{shlex.quote(sys.executable)} -c \"print(open('out/new.txt').read())\""
    passed, output = await run_validate_command(
        command, tmp_path / "work", "out/new.txt", "hello", timeout=30
    )
    assert (passed, output) == (True, "hello")
    passed, output = await run_validate_command("no-such-binary-xyz", tmp_path / "work", "a.py", "", 5)
    assert not passed and "cannot run no-such-binary-xyz" in output
    passed, output = await run_validate_command("true", tmp_path / "work", "../escape.py", "", 5)
    assert not passed and "outside the workspace" in output


def test_relative_document_path_accepts_paths_and_uris(tmp_path: Path) -> None:
    target = tmp_path / "src dir" / "a.py"
    assert relative_document_path(str(target), tmp_path) == "src dir/a.py"
    assert relative_document_path(target.as_uri(), tmp_path) == "src dir/a.py"
    assert relative_document_path("src/a.py", tmp_path) == "src/a.py"
    assert relative_document_path(os.path.join(os.sep, "elsewhere", "a.py"), tmp_path) is None


async def test_comments_quotes_and_semicolons_do_not_split_a_group_but_logic_does() -> None:
    text = "export function greet(name: string): string {\n  throw new Error('todo');\n}\n"
    document = SourceDocument(path="greet.ts", text=text)
    stub = stub_of(document, 2)
    codes = {
        "a": 'export function greet(name: string): string {\n  return "Hello, " + name;\n}',
        "b": "function greet(name: string): string {\n  // greet politely\n  return 'Hello, ' + name\n}",
        "c": 'export function greet(name: string): string {\n  return "Hello " + name;\n}',
        "d": 'export function greet(name: string): string {\n  return "Hello, " - name;\n}',
    }
    candidates = await build_candidates(
        document, stub, codes, weights={}, policy=PolicyConfig(), workspace=None
    )
    assert [c.models for c in candidates] == [["a", "b", "c"], ["d"]]
    assert all(c.valid for c in candidates)
    assert candidates[0].code.startswith("export function greet")


def test_stale_stub_lines_past_the_end_do_not_crash() -> None:
    stub = StubLocation(name="f", params=[], start_line=2, end_line=9, language="python")
    assert apply_candidate("x = 1\ndef f():\n    pass", stub, "def f():\n    return 1") == (
        "x = 1\ndef f():\n    return 1"
    )


async def test_validations_run_two_at_a_time(tmp_path: Path) -> None:
    workspace = tmp_path / "project"
    workspace.mkdir()
    document = write_project(workspace)
    stub = stub_of(document, 2)
    spans = tmp_path / "spans.log"
    script = (
        "import time; start = time.time(); time.sleep(0.6); "
        f"open({str(spans)!r}, 'a').write(f'{{start}} {{time.time()}}\\n')"
    )
    bodies = ["a + b", "b + a", "sum((a, b))", "a.__add__(b)"]
    codes = {f"seat{i}": f"def add(a, b):\n    return {body}\n" for i, body in enumerate(bodies)}
    policy = PolicyConfig(validate_command=f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}")
    candidates = await build_candidates(document, stub, codes, weights={}, policy=policy, workspace=workspace)
    assert [c.tests_passed for c in candidates] == [True] * 4
    intervals = [tuple(map(float, line.split())) for line in spans.read_text().splitlines()]
    assert len(intervals) == 4
    overlap = max(sum(1 for s, e in intervals if s <= start < e) for start, _ in intervals)
    assert overlap == 2


async def test_validate_command_gets_a_scrubbed_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value-123")
    monkeypatch.setenv("MY_LLM_CRED", "sk-test-SECRET123")
    (tmp_path / "work").mkdir()
    printer = "import os, sys; print(sorted(os.environ)); print(os.environ.get('PATH', 'no PATH'))"
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(printer)}"
    passed, output = await run_validate_command(command, tmp_path / "work", "a.py", "", timeout=30)
    assert passed, output
    assert "aws-secret-value-123" not in output and "sk-test-SECRET123" not in output
    assert "AWS_SECRET_ACCESS_KEY" not in output and "MY_LLM_CRED" not in output
    assert os.environ["PATH"] in output  # What a command needs to run is still there.


async def test_building_candidates_leaves_the_event_loop_free() -> None:
    """Grouping and checking big candidates runs in a worker thread: a ticker keeps ticking meanwhile."""
    body = "".join(f"    value_{index} = a * {index} + b\n" for index in range(3000))
    source = "def add(a, b):\n    raise NotImplementedError\n"
    document = SourceDocument(path="calc.py", text=source)
    stub = stub_of(document, 2)
    codes = {f"seat{n}": f"def add(a, b):\n{body}    return a + b + {n}\n" for n in range(6)}
    async with loop_gaps() as gaps:
        started = time.perf_counter()
        candidates = await build_candidates(
            document, stub, codes, weights={}, policy=PolicyConfig(), workspace=None
        )
        elapsed = time.perf_counter() - started
    assert len(candidates) == 6 and all(candidate.valid for candidate in candidates)
    assert elapsed > 0.2, f"too little work to tell ({elapsed:.2f} s)"
    assert max(gaps) < elapsed / 3, f"the loop stalled {max(gaps):.2f} s of {elapsed:.2f} s"
