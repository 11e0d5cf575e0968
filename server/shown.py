"""Showing the user a generated markdown page: `window/showDocument` of a private read-only file.

Explanations and the memory's stats and history are shown this way when the client supports
`window/showDocument` (VS Code, LSP4IJ: it opens in a Markdown tab), else as one
`window/showMessage`. The files live in Chorus's per-user cache folder (0700), each 0400.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from lsprotocol import types
from platformdirs import user_cache_path
from pygls.uris import from_fs_path

if TYPE_CHECKING:
    from server.language_server import ChorusLanguageServer

logger = logging.getLogger(__name__)


def shown_file(folder: str, name: str) -> Path:
    """Where a generated page lives: `<user cache>/chorus/<folder>/<name>`."""
    return user_cache_path("chorus") / folder / name


def write_private(target: Path, text: str) -> None:
    """Write `text` to `target`, readable by its owner only: folder 0700, file created 0600, left 0400.

    The text is written to a fresh temporary file (created 0600 by `mkstemp`) and moved
    over any older copy, so no other user can read it at any moment; once written it
    is made read-only for its owner (the file is generated, not for editing).
    """
    folder = target.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(stat.S_IRWXU)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".chorus-", suffix=".md")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, stat.S_IRUSR)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


async def show_markdown(ls: ChorusLanguageServer, target: Path, text: str) -> None:
    """Open `text` as the document `target` when the client can, else show it as a message."""
    if ls.supports("window.show_document.support"):
        try:
            await anyio.to_thread.run_sync(write_private, target, text)
            shown = await ls.window_show_document_async(
                types.ShowDocumentParams(uri=from_fs_path(str(target)) or str(target), take_focus=True)
            )
            if shown.success:
                return
        except Exception as error:
            logger.warning("could not show %s as a document: %s", target.name, error)
    ls.show_message(text, types.MessageType.Info)
