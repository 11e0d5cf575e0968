"""The `chorus` command: `chorus serve` starts the language server; the rest is the CLI.

`serve` speaks JSON-RPC on stdio (or `--tcp HOST:PORT` for debugging; a bad address or a port
that cannot be bound is a one-line error, exit 2). Every other
subcommand (review, implement, explain, models) lives in `faces.cli.main`.
"""

from __future__ import annotations

import socket
import sys

TCP_USAGE = "--tcp takes HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:2087"


def parse_tcp_address(text: str) -> tuple[str, int] | str:
    """`HOST:PORT` (`[::1]:PORT` for IPv6) as a host and port, or a one-line reason it is not one."""
    host, _, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"{TCP_USAGE} (got {text!r})"
    try:
        socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        return f"cannot resolve host {host!r} in --tcp {text!r}: {error}"
    return host, int(port)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `chorus` console script and `python -m server`."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:
        import argparse

        serve = argparse.ArgumentParser(prog="chorus serve", description="Run the Chorus language server.")
        serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio (debugging)")
        options = serve.parse_args(args[1:])
        address = parse_tcp_address(options.tcp) if options.tcp is not None else None
        if isinstance(address, str):
            serve.exit(2, f"chorus serve: {address}\n")
        from server.app import run_server

        if address is None:
            run_server("stdio")
            return
        try:
            run_server("tcp", *address)
        except OSError as error:
            serve.exit(2, f"chorus serve: cannot listen on {options.tcp}: {error.strerror or error}\n")
        return
    from faces.cli.main import build_parser, run_cli

    sys.exit(run_cli(args, build_parser()))


if __name__ == "__main__":
    main()
