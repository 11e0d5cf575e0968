"""The fake model server's command line, for Node, Lua, demos and benchmarks.

    python -m tests.fake_models --port 0 --script models.json --port-file /tmp/port

(`python -m tests.fake_models_cli` is the same.) `models.json` maps a model name to a script object
{"text", "latency", "status", "stream", "error_body", "chunk_delay"}, or to a list of them answered
in order. The only thing printed on stdout is "listening on URL"; the bound port is also written
atomically to `--port-file`. It serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from tests import fake_models
from tests.fake_models import FakeModelServer, Script


def load_script_file(server: FakeModelServer, path: Path) -> None:
    """Apply a JSON file mapping model name → script object (or list of script objects)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object mapping model names to scripts")
    for model, spec in data.items():
        specs = spec if isinstance(spec, list) else [spec]
        server.script(model, [Script.from_json(item) for item in specs])


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line's options (see the module docstring)."""
    description = (fake_models.__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m tests.fake_models", description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", type=Path, help="JSON: model name → {text, latency, status, stream}")
    parser.add_argument("--port-file", type=Path, help="write the bound port number to this file")
    parser.add_argument("--quiet", action="store_true", help="do not print 'listening on URL'")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM."""
    args = parse_arguments(argv)
    server = FakeModelServer(args.host, args.port)
    if args.script is not None:
        load_script_file(server, args.script)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with server:
        if args.port_file is not None:
            partial = args.port_file.with_name(args.port_file.name + ".tmp")
            partial.write_text(str(server.port), encoding="utf-8")
            os.replace(partial, args.port_file)
        if not args.quiet:
            print(f"listening on {server.base_url}", flush=True)
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
