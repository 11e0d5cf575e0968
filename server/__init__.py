"""Chorus's language server: pygls handlers that turn LSP requests into panel runs.

`server.app` builds the server; each module in `server.features` registers the
handlers for one feature. Handlers stay thin: a document in, one orchestration
call, lsprotocol types out. Nothing in `orchestration` knows about this package.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chorus-lsp")
except PackageNotFoundError:  # Running from a source tree that was never installed.
    __version__ = "0.0.0"
