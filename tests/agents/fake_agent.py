"""A stand-in for the five agent CLIs, printing what each prints in its headless JSON mode.

Run as `fake_agent.py --as claude --mode answer --record DIR --answer FILE -- <the agent's argv>`
(tests/agents/__init__.py writes a wrapper named like the CLI that calls it so). It appends one
JSON line per run to DIR/calls.jsonl: the argv, cwd, environment, stdin and pid it got. Modes:

- `answer`: print the answer in the CLI's format, with a session id (the one resumed, if any).
- `error`: print the CLI's error output and exit 1 (claude: an `is_error` result; codex: an
  `error` event; gemini: an `error` object; copilot and grok: a message on stderr).
- `hang`: start a child that sleeps, write both pids to DIR/pids, and sleep for ever.
- `edit`: try to change the workspace (rewrite, add and delete files), then answer.
- `stale`: fail when asked to resume a session (as a CLI whose session files are gone), else answer.
- `flood`: print the answer after 2 MB of log lines on stderr.
- `slow`: mark its working directory, wait half a second, and fail if the mark is gone or changed
  (another run's copy replaced its own), else answer.

`--version` prints "<name> 9.9.9-fake"; `auth status` (claude) and `login status` (codex) exit 0
when the seat's key reached them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path


def session_asked(name: str, argv: list[str]) -> str | None:
    """The session id the CLI was asked to resume, read the way each CLI takes it."""
    for index, item in enumerate(argv):
        if name == "codex" and item == "resume" and index + 1 < len(argv):
            return argv[index + 1]
        if name in ("claude", "gemini") and item == "--resume" and index + 1 < len(argv):
            return argv[index + 1]
        if name == "copilot" and item.startswith("--resume="):
            return item.split("=", 1)[1]
    return None


def prompt_of(name: str, argv: list[str], stdin: str) -> str:
    for index, item in enumerate(argv):
        if item == "-p" and name in ("gemini", "copilot", "grok") and index + 1 < len(argv):
            return argv[index + 1]
    return stdin


def print_answer(name: str, answer: str, session: str) -> None:
    lines: list[object]
    if name == "claude":
        lines = [
            {
                "type": "result",
                "subtype": "success",
                "is_error": False,
                "duration_ms": 1200,
                "num_turns": 2,
                "result": answer,
                "session_id": session,
                "total_cost_usd": 0.0123,
                "usage": {"input_tokens": 120, "output_tokens": 30},
            }
        ]
        print(json.dumps(lines[0]))
        return
    if name == "codex":
        lines = [
            {"type": "thread.started", "thread_id": session},
            {"type": "turn.started"},
            {
                "type": "item.completed",
                "item": {"id": "item_0", "type": "reasoning", "text": "Reading ledger.py"},
            },
            {"type": "item.completed", "item": {"id": "item_1", "type": "agent_message", "text": answer}},
            {
                "type": "turn.completed",
                "usage": {"input_tokens": 200, "cached_input_tokens": 0, "output_tokens": 40},
            },
        ]
    elif name == "gemini":
        body = {
            "session_id": session,
            "response": answer,
            "stats": {
                "models": {"gemini-2.5-pro": {"tokens": {"prompt": 150, "candidates": 25, "total": 175}}}
            },
        }
        print(json.dumps(body, indent=2))
        return
    elif name == "copilot":
        lines = [
            {"type": "session.start", "data": {"sessionId": session}},
            {"type": "user.message", "data": {"content": "the prompt"}},
            {"type": "assistant.message", "data": {"content": answer}},
            {"type": "result", "sessionId": session, "usage": {"input_tokens": 90, "output_tokens": 12}},
        ]
    elif name == "grok":
        lines = [{"role": "user", "content": "the prompt"}, {"role": "assistant", "content": answer}]
    else:
        print(answer)
        return
    for line in lines:
        print(json.dumps(line))


def print_error(name: str) -> int:
    if name == "claude":
        print(
            json.dumps(
                {
                    "type": "result",
                    "subtype": "success",
                    "is_error": True,
                    "result": "Invalid API key · Please run /login",
                    "session_id": str(uuid.uuid4()),
                }
            )
        )
    elif name == "codex":
        print(json.dumps({"type": "thread.started", "thread_id": str(uuid.uuid4())}))
        print(json.dumps({"type": "error", "message": "stream error: unexpected status 401 Unauthorized"}))
        print(json.dumps({"type": "turn.failed", "error": {"message": "unexpected status 401 Unauthorized"}}))
    elif name == "gemini":
        print(json.dumps({"error": {"type": "Error", "message": "Invalid auth method selected.", "code": 1}}))
    else:
        print("Error: authentication failed (401)", file=sys.stderr)
    return 1


def vandalise(root: Path) -> None:
    """What an agent that ignored its read-only mode would do to the folder it runs in."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            try:
                path.write_text("# overwritten by the agent\n")
            except OSError:
                pass
    (root / "AGENT_WAS_HERE.txt").write_text("hello\n")
    subprocess.run(["rm", "-rf", str(root / "examples")], check=False)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--as", dest="name", required=True)
    parser.add_argument("--mode", default="answer")
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--answer", type=Path)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if argv == ["--version"]:
        print(f"{args.name} 9.9.9-fake")
        return 0
    if argv in (["auth", "status"], ["login", "status"]):  # signed in when the seat's key reached it
        signed = any(os.environ.get(name) for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"))
        print("Logged in using an API key" if signed else "Not logged in")
        return 0 if signed else 1
    stdin = "" if sys.stdin.isatty() else sys.stdin.read()
    args.record.mkdir(parents=True, exist_ok=True)
    record = {
        "name": args.name,
        "argv": argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "stdin": stdin,
        "prompt": prompt_of(args.name, argv, stdin),
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "files": sorted(p.relative_to(Path.cwd()).as_posix() for p in Path.cwd().rglob("*") if p.is_file()),
    }
    with (args.record / "calls.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    answer = args.answer.read_text() if args.answer else '{"findings": []}'
    resumed = session_asked(args.name, argv)
    session = resumed or str(uuid.uuid4())
    if args.mode == "error":
        return print_error(args.name)
    if args.mode == "stale" and resumed:
        print(f"Error: No conversation found with session ID: {resumed}", file=sys.stderr)
        return 1
    if args.mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        (args.record / "pids").write_text(f"{os.getpid()} {child.pid}\n")
        time.sleep(300)
        return 0
    if args.mode == "edit":
        vandalise(Path.cwd())
    if args.mode == "slow":  # fails when another run replaced or removed its copy meanwhile
        marker = Path.cwd() / ".fake-agent-owner"
        marker.write_text(str(os.getpid()))
        time.sleep(0.5)
        if not marker.exists() or marker.read_text() != str(os.getpid()):
            print("Error: my working directory changed under me", file=sys.stderr)
            return 1
    if args.mode == "flood":
        for _ in range(20_000):
            print("debug: " + "x" * 100, file=sys.stderr)
    print_answer(args.name, answer, session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
