"""The `chorus` command: `chorus serve` starts the language server; the rest is the CLI.

`serve` speaks JSON-RPC on stdio (or `--tcp HOST:PORT` for debugging). Every other
subcommand (review, implement, explain, models) lives in `orchestration.cli`.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `chorus` console script and `python -m server`."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:
        import argparse

        serve = argparse.ArgumentParser(prog="chorus serve", description="Run the Chorus language server.")
        serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio (debugging)")
        options = serve.parse_args(args[1:])
        from server.app import run_server

        if options.tcp:
            host, _, port = options.tcp.rpartition(":")
            if not port.isdigit():
                serve.error("--tcp takes HOST:PORT, e.g. 127.0.0.1:2087")
            run_server("tcp", host or "127.0.0.1", int(port))
        else:
            run_server("stdio")
        return
    from orchestration.cli import build_parser, run_cli

    sys.exit(run_cli(args, build_parser()))


if __name__ == "__main__":
    main()
