"""Which workspace folder a document belongs to (multi-root workspaces).

Privacy globs (`policy.exclude`, `policy.local_only`) are relative to a workspace.
With several folders open, a document's globs are matched against the folder that
contains it: the longest folder path that is a prefix of the document's path. pygls
keeps the folder list current (`workspaceFolders` at initialize, then
`workspace/didChangeWorkspaceFolders`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pygls.uris import to_fs_path

if TYPE_CHECKING:
    from server.language_server import ChorusLanguageServer


def folder_paths(ls: ChorusLanguageServer) -> list[Path]:
    """Every workspace folder as a path, with the root the configuration came from."""
    paths = [Path(path) for folder in ls.workspace.folders.values() if (path := to_fs_path(folder.uri))]
    if ls.settings.workspace is not None:
        paths.append(ls.settings.workspace)
    return paths


def containing_folder(path: str, folders: list[Path]) -> Path | None:
    """The deepest of `folders` that contains `path` (compared as absolute, normalized paths)."""
    target = os.path.normpath(os.path.abspath(path))
    best: Path | None = None
    best_length = -1
    for folder in folders:
        root = os.path.normpath(os.path.abspath(folder))
        inside = target == root or target.startswith(root.rstrip(os.sep) + os.sep)
        if inside and len(root) > best_length:
            best, best_length = folder, len(root)
    return best


def workspace_for(ls: ChorusLanguageServer, uri: str) -> Path | None:
    """The workspace folder whose privacy globs apply to `uri` (the configured root otherwise)."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    if path:
        found = containing_folder(path, folder_paths(ls))
        if found is not None:
            return found
    return ls.settings.workspace
