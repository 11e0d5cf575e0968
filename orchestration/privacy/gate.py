"""Privacy rules: files that must never leave the machine, the gate every model call passes.

`check_not_excluded` and `is_local_only` match `policy.exclude` (always with `DEFAULT_EXCLUDE`) and
`policy.local_only` globs against the path relative to the workspace, its bare file name, and
where it really leads when a symlink is on the way (`**` spans directories, `*` and `?` stay
within one). Secret detection lives in `orchestration.privacy.secrets`; its `redact_secrets`,
`redacted_text`, `register_secret` and `scrub_secrets` are importable from here too.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Final
from urllib.parse import unquote, urlparse

from orchestration.privacy.audit import AuditHook, outbound_size
from orchestration.privacy.secrets import (
    PLACEHOLDER,
    PLACEHOLDER_PREFIX,
    placeholder,
    redact_secrets,
    redacted_text,
    register_secret,
    scrub_secrets,
)
from orchestration.types.config import DEFAULT_EXCLUDE, LOCAL_PREFIX, ModelConfig, PolicyConfig
from orchestration.types.errors import ExcludedFileError
from orchestration.types.requests import Message

__all__ = [
    "LOCAL_ONLY_REFUSAL",
    "OPEN_GATE",
    "PLACEHOLDER_PREFIX",
    "Message",
    "PrivacyGate",
    "check_not_excluded",
    "child_environment",
    "excluded_patterns",
    "is_local_model",
    "is_local_only",
    "is_loopback_url",
    "matching_pattern",
    "placeholder",
    "redact_secrets",
    "redacted_text",
    "register_secret",
    "restore_placeholders",
    "scrub_secrets",
]

# -- path globs --------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob with `**` support into an anchored regular expression over '/' paths."""
    parts: list[str] = []
    index, length = 0, len(pattern)
    while index < length:
        char = pattern[index]
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif char == "*":
            parts.append("[^/]*")
            index += 1
        elif char == "?":
            parts.append("[^/]")
            index += 1
        elif char == "[" and (close := pattern.find("]", index + 2)) != -1:
            body = pattern[index + 1 : close]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            parts.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            index = close + 1
        else:
            parts.append(re.escape(char))
            index += 1
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def _inside(path: Path, root: Path) -> str | None:
    """`path` relative to `root` ('/'-separated), or None when it lies outside."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def _candidate_paths(path: str, workspace: Path | None) -> list[str]:
    """The forms of `path` globs are matched against: the path as named, then where it really leads.

    The first is the path as the editor named it (relative to the workspace when inside it); then,
    when different, its resolved target (symlinks followed; relative to the workspace if inside,
    else absolute), so a link cannot carry an excluded file past a glob. A relative path is
    followed both from the workspace and from the working directory (where the command line
    named it), since either may be what was meant.
    """
    if path.startswith("file:"):
        path = unquote(urlparse(path).path)
    candidate = Path(path)
    root = Path(os.path.abspath(workspace)) if workspace is not None else None
    forms: list[str] = []
    if root is not None and candidate.is_absolute():
        lexical = Path(os.path.normpath(candidate))
        forms.append(_inside(lexical, root) or lexical.as_posix())
    else:
        forms.append(candidate.as_posix().removeprefix("./"))
    bases = [Path("/")] if candidate.is_absolute() else [base for base in (root, Path.cwd()) if base]
    followed: list[tuple[Path, Path | None]] = []  # (a path it leads to, the root to show it from)
    try:
        real_root = root.resolve() if root is not None else None
        for base in bases:
            lexical = Path(os.path.abspath(base / candidate))
            followed += [(lexical, root), (lexical.resolve(), real_root)]
    except (OSError, RuntimeError):
        return forms
    for where, within in followed:
        form = (_inside(where, within) if within is not None else None) or where.as_posix()
        if form not in forms:
            forms.append(form)
    return forms


def matching_pattern(path: str, patterns: Iterable[str], workspace: Path | None = None) -> str | None:
    """The first glob in `patterns` matching `path` or its link target (whole path or file name)."""
    forms = _candidate_paths(path, workspace)
    names = [PurePosixPath(form).name for form in forms]
    for pattern in patterns:
        regex = _glob_regex(pattern.strip().removeprefix("./"))
        if any(regex.match(text) for text in (*forms, *names)):
            return pattern
    return None


def excluded_patterns(policy: PolicyConfig) -> list[str]:
    """`policy.exclude` plus the built-in `DEFAULT_EXCLUDE`, which setting `exclude` never removes."""
    return list(dict.fromkeys([*policy.exclude, *DEFAULT_EXCLUDE]))


def check_not_excluded(path: str, policy: PolicyConfig, workspace: Path | None = None) -> None:
    """Raise `ExcludedFileError` when `path` (or what it links to) matches an exclude glob."""
    pattern = matching_pattern(path, excluded_patterns(policy), workspace)
    if pattern is not None:
        shown = _candidate_paths(path, workspace)[0]
        raise ExcludedFileError(f"{shown} matches policy.exclude pattern '{pattern}'; nothing was sent")


def is_local_only(path: str, policy: PolicyConfig, workspace: Path | None = None) -> bool:
    """True when `path` matches a `policy.local_only` glob: only local seats (`is_local_model`) may see it."""
    return matching_pattern(path, policy.local_only, workspace) is not None


def is_loopback_url(url: str) -> bool:
    """True when `url`'s host (parsed, not prefix-matched) is a loopback address or `localhost`."""
    try:
        host = urlparse(url.strip()).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local_model(seat: ModelConfig) -> bool:
    """True for seats served on this machine (the embedded model or a loopback endpoint)."""
    if seat.model.startswith(LOCAL_PREFIX):
        return True
    return bool(seat.endpoints) and all(is_loopback_url(url) for url in seat.endpoints)


LOCAL_ONLY_REFUSAL: Final = "policy.local_only keeps this file on this machine"


@dataclass(frozen=True, slots=True)
class PrivacyGate:
    """What may leave the machine for one request; every model call passes through it.

    Built once per request: `for_document` refuses excluded files (raising `ExcludedFileError`)
    and records whether the file is local-only; `without_file` is for calls that carry no code
    (a model ping). `complete_chat` asks `refusal(seat)` before sending anything, sends only
    `outbound(messages)`, whose every text has been redacted, and reports every call it made to
    `audit` (set by a pipeline that records its run: `orchestration.privacy.audit`).
    """

    policy: PolicyConfig
    path: str | None = None
    workspace: Path | None = None
    local_only: bool = False
    audit: AuditHook | None = field(default=None, compare=False, repr=False)
    """Told of every call made through this gate (`complete_chat` calls it), or None."""

    @classmethod
    def for_document(cls, path: str, policy: PolicyConfig, workspace: Path | None) -> PrivacyGate:
        """The gate for a request about `path`; raises `ExcludedFileError` for an excluded file."""
        check_not_excluded(path, policy, workspace)
        return cls(policy, path, workspace, is_local_only(path, policy, workspace))

    @classmethod
    def without_file(cls, policy: PolicyConfig) -> PrivacyGate:
        """The gate for a call that carries no file (still redacts what is sent)."""
        return cls(policy)

    def refusal(self, seat: ModelConfig) -> str | None:
        """Why `seat` may not receive this request, or None when it may."""
        if self.local_only and not is_local_model(seat):
            return LOCAL_ONLY_REFUSAL
        return None

    def outbound(self, messages: Sequence[Message]) -> list[Message]:
        """The messages as they may leave the machine: every text redacted."""
        return [{**message, "content": redacted_text(message.get("content", ""))} for message in messages]

    def outbound_measured(self, messages: Sequence[Message]) -> tuple[list[Message], int, int]:
        """`outbound(messages)`, its UTF-8 bytes and the redaction placeholders it carries (for the audit)."""
        sent = self.outbound(messages)
        size, redactions = outbound_size(sent)
        return sent, size, redactions


OPEN_GATE: Final = PrivacyGate.without_file(PolicyConfig())
"""A gate for calls that carry no file, under the default policy (pings, tests, benchmarks)."""


def _hidden_values(original: str, redacted: str) -> list[tuple[str, str]]:
    """(kind, original text) for each placeholder in `redacted`, read off the line it came from."""
    kinds = PLACEHOLDER.findall(redacted)
    if not kinds:
        return []
    pieces = PLACEHOLDER.split(redacted)[::2]
    pattern = "(.+?)".join(re.escape(piece) for piece in pieces)
    match = re.fullmatch(pattern, original, re.DOTALL)
    if match is None:
        return []
    return list(zip(kinds, match.groups(), strict=True))


def restore_placeholders(
    replacement: str, original_lines: Sequence[str], redacted_lines: Sequence[str]
) -> str | None:
    """`replacement` with each `<redacted:KIND>` put back to the secret it stands for, or None.

    `original_lines` and `redacted_lines` are the lines the replacement replaces, before and after
    redaction. A placeholder is restored when the replaced lines hide exactly one value of its kind,
    or when the replacement keeps the replaced lines' placeholders in the same order. Anything else
    is ambiguous: None means the fix must not be offered (applying it would write a placeholder
    over the real secret).
    """
    wanted = PLACEHOLDER.findall(replacement)
    if not wanted:
        return replacement
    hidden: list[tuple[str, str]] = []
    for original, redacted in zip(original_lines, redacted_lines, strict=False):
        hidden.extend(_hidden_values(original, redacted))
    if [kind for kind, _ in hidden] == wanted:
        values = iter(value for _, value in hidden)
        return PLACEHOLDER.sub(lambda _match: next(values), replacement)
    by_kind: dict[str, set[str]] = {}
    for kind, value in hidden:
        by_kind.setdefault(kind, set()).add(value)
    if any(len(by_kind.get(kind, ())) != 1 for kind in wanted):
        return None
    return PLACEHOLDER.sub(lambda match: next(iter(by_kind[match.group(1)])), replacement)


CHILD_ENVIRONMENT_NAMES: Final = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TMPDIR", "TEMP", "TMP", "TZ"}
    | {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONIOENCODING", "NODE_PATH", "SYSTEMROOT", "COMSPEC"}
)
"""Environment variables a child process (a validate_command, a test run) inherits; nothing else."""


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A scrubbed environment for child processes: no keys, tokens or other secrets of the user's."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name in CHILD_ENVIRONMENT_NAMES or name.startswith("LC_")
    }
    environment.update(extra or {})
    return environment
