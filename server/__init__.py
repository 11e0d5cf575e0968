"""Chorus's language server face: pygls handlers that turn LSP requests into panel runs.

Owns everything LSP: the server object and its state (`language_server`, `settings`,
`document_state`), the protocol and its framing on stdio (`protocol`, `messages`, `framing`,
`stdio`), the shared run block and replies (`runs`), keeping results in step with edits
(`staleness`, `convert`, `edits`), and one module per feature in `server.features`;
`server.app` builds and runs it. Handlers stay thin: a document in, one orchestration
call, lsprotocol types out.

May import: `orchestration` (the core), pygls, lsprotocol and the standard library; never
`faces` (the other faces), and nothing in `orchestration` imports this package. The one
exception is `server.__main__`, the `chorus` entry point, which hands every subcommand but
`serve` to the command-line face.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chorus-lsp")
except PackageNotFoundError:  # Running from a source tree that was never installed.
    __version__ = "0.0.0"
