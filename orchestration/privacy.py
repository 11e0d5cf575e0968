"""Privacy rules: files that must never leave the machine, and secrets redacted from what does.

`check_not_excluded` and `is_local_only` match `policy.exclude` / `policy.local_only` globs against
the path relative to the workspace and against the bare file name (`**` spans directories, `*` and
`?` stay within one). `redact_secrets` replaces credentials in source text with placeholders such as
`<redacted:aws-access-key>` while keeping every line where it was, so line numbers sent to models
stay valid. `scrub_secrets` does the same for error messages shown to users.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Final
from urllib.parse import unquote, urlparse

from orchestration.config import ModelConfig, PolicyConfig
from orchestration.errors import ExcludedFileError

LOCAL_PREFIX: Final = "local/"
"""Model ids served by the embedded local runtime (`orchestration.local_runtime`)."""

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


def _candidate_paths(path: str, workspace: Path | None) -> tuple[str, str]:
    """The path as matched (relative to the workspace when inside it, '/'-separated) and its name."""
    if path.startswith("file:"):
        path = unquote(urlparse(path).path)
    candidate = Path(path)
    if workspace is not None:
        try:
            candidate = candidate.resolve().relative_to(workspace.resolve())
        except (ValueError, OSError):
            pass
    posix = candidate.as_posix().removeprefix("./")
    return posix, PurePosixPath(posix).name


def matching_pattern(path: str, patterns: Iterable[str], workspace: Path | None = None) -> str | None:
    """The first glob in `patterns` that matches `path` (relative path or file name), or None."""
    relative, name = _candidate_paths(path, workspace)
    for pattern in patterns:
        regex = _glob_regex(pattern.strip().removeprefix("./"))
        if regex.match(relative) or regex.match(name):
            return pattern
    return None


def check_not_excluded(path: str, policy: PolicyConfig, workspace: Path | None = None) -> None:
    """Raise `ExcludedFileError` when `path` matches a `policy.exclude` glob."""
    pattern = matching_pattern(path, policy.exclude, workspace)
    if pattern is not None:
        shown, _ = _candidate_paths(path, workspace)
        raise ExcludedFileError(f"{shown} matches policy.exclude pattern '{pattern}'; nothing was sent")


def is_local_only(path: str, policy: PolicyConfig, workspace: Path | None = None) -> bool:
    """True when `path` matches a `policy.local_only` glob: only `local/...` seats may see it."""
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
    return seat.api_base is not None and is_loopback_url(seat.api_base)


Message = dict[str, str]

LOCAL_ONLY_REFUSAL: Final = "policy.local_only keeps this file on this machine"


@dataclass(frozen=True, slots=True)
class PrivacyGate:
    """What may leave the machine for one request; every model call passes through it.

    Built once per request: `for_document` refuses excluded files (raising `ExcludedFileError`)
    and records whether the file is local-only; `without_file` is for calls that carry no code
    (a model ping). `complete_chat` asks `refusal(seat)` before sending anything and sends only
    `outbound(messages)`, whose every text has been redacted.
    """

    policy: PolicyConfig
    path: str | None = None
    workspace: Path | None = None
    local_only: bool = False

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


OPEN_GATE: Final = PrivacyGate.without_file(PolicyConfig())
"""A gate for calls that carry no file, under the default policy (pings, tests, benchmarks)."""


# -- secrets -----------------------------------------------------------------------------------

Replacement = Callable[[re.Match[str]], str]

_PEM_BLOCK = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK|)-----.*?-----END \1PRIVATE KEY\2-----", re.DOTALL
)
_PEM_HEADER = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[^\n]*")
_BASE64_LINE = re.compile(r"[ \t]*[A-Za-z0-9+/=]{40,}[ \t]*(?:\\n)?[\"',]?[ \t]*")

_SECRET_NAME = (
    r"[A-Za-z0-9_.-]*?(?:password|passwd|passphrase|pwd|secret|secret_?key|api_?key|api-key|access_?key"
    r"|access_?token|auth_?token|refresh_?token|token|private_?key|client_?secret|credentials?)"
)
_DOTTED_IDENTIFIER = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def _placeholder(label: str) -> str:
    return f"<redacted:{label}>"


def _label_for_name(name: str) -> str:
    lowered = name.lower()
    if "pass" in lowered or "pwd" in lowered:
        return "password"
    if "token" in lowered:
        return "token"
    if "key" in lowered:
        return "api-key"
    return "secret"


def _keep_group_1(label: str) -> Replacement:
    return lambda match: match.group(1) + _placeholder(label)


def _assignment(match: re.Match[str]) -> str:
    name, value = match.group("name"), match.group("value")
    start, end = match.span("value")
    offset = match.start()
    if value.startswith(("<redacted:", "${", "{{", "%(")) or _DOTTED_IDENTIFIER.fullmatch(value):
        return match.group(0)
    whole = match.group(0)
    return whole[: start - offset] + _placeholder(_label_for_name(name)) + whole[end - offset :]


_SINGLE_LINE_RULES: list[tuple[re.Pattern[str], str | Replacement]] = [
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}"), _placeholder("anthropic-key")),
    (re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"), _placeholder("openai-key")),
    (re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"), _placeholder("aws-access-key")),
    (
        re.compile(
            r"(?i)(aws_?secret_?(?:access_?)?key[\"']?[ \t]*[:=][ \t]*[\"']?)"
            r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"
        ),
        _keep_group_1("aws-secret-key"),
    ),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b"), _placeholder("github-token")),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"), _placeholder("github-token")),
    (
        re.compile(r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"),
        _placeholder("slack-webhook"),
    ),
    (re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}"), _placeholder("slack-token")),
    (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"), _placeholder("stripe-key")),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), _placeholder("google-api-key")),
    (
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        _placeholder("jwt"),
    ),
    (re.compile(r"(?i)\b(bearer[ \t]+)[A-Za-z0-9._~+/=-]{16,}"), _keep_group_1("bearer-token")),
    (re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s:/@\"']+:)[^\s@/\"']{3,}(?=@)"), _keep_group_1("password")),
    (
        re.compile(
            rf"(?i)(?<![A-Za-z0-9_])[\"']?(?P<name>{_SECRET_NAME})[\"']?[ \t]*(?::=|[:=])[ \t]*"
            r"(?P<quote>[\"'])(?P<value>[^\"'\n]{3,})(?P=quote)"
        ),
        _assignment,
    ),
    (
        re.compile(
            rf"(?im)^[ \t]*(?:export[ \t]+)?(?P<name>{_SECRET_NAME})[ \t]*[:=][ \t]*"
            r"(?P<value>(?=[^\s\"'#]*\d)(?=[^\s\"'#]*[A-Za-z])[A-Za-z0-9_+/=.~!@%^*-]{6,})[ \t]*$"
        ),
        _assignment,
    ),
]


def _redact_pem(text: str) -> tuple[str, int]:
    """Replace private key blocks line for line; a header without an END keeps going over base64 lines."""
    count = 0

    def block(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return "\n".join([_placeholder("private-key")] * (match.group(0).count("\n") + 1))

    text = _PEM_BLOCK.sub(block, text)
    if "PRIVATE KEY" not in text:
        return text, count
    lines = text.split("\n")
    in_body = False
    for number, line in enumerate(lines):
        header = _PEM_HEADER.search(line)
        if header is not None:
            lines[number] = line[: header.start()] + _placeholder("private-key")
            count, in_body = count + 1, True
        elif in_body and _BASE64_LINE.fullmatch(line):
            lines[number] = _placeholder("private-key")
        else:
            in_body = False
    return "\n".join(lines), count


def redact_secrets(text: str) -> tuple[str, int]:
    """Replace credentials with `<redacted:KIND>` placeholders; returns the text and how many were found.

    The result has exactly as many lines as `text`. Assignments such as `password = "hunter2"` keep
    the name and lose the value; `password = get_password()` is code, not a secret, and stays.
    """
    text, count = _redact_pem(text)
    for pattern, replacement in _SINGLE_LINE_RULES:

        def counted(match: re.Match[str], replacement: str | Replacement = replacement) -> str:
            nonlocal count
            new = replacement if isinstance(replacement, str) else replacement(match)
            count += new != match.group(0)
            return new

        text = pattern.sub(counted, text)
    return text, count


@lru_cache(maxsize=64)
def redacted_text(text: str) -> str:
    """`redact_secrets(text)`'s text, remembered: every seat of a request sends the same prompt."""
    return redact_secrets(text)[0]


_PLACEHOLDER = re.compile(r"<redacted:([a-z0-9_.-]+)>")


def _hidden_values(original: str, redacted: str) -> list[tuple[str, str]]:
    """(kind, original text) for each placeholder in `redacted`, read off the line it came from."""
    kinds = _PLACEHOLDER.findall(redacted)
    if not kinds:
        return []
    pieces = _PLACEHOLDER.split(redacted)[::2]
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
    wanted = _PLACEHOLDER.findall(replacement)
    if not wanted:
        return replacement
    hidden: list[tuple[str, str]] = []
    for original, redacted in zip(original_lines, redacted_lines, strict=False):
        hidden.extend(_hidden_values(original, redacted))
    if [kind for kind, _ in hidden] == wanted:
        values = iter(value for _, value in hidden)
        return _PLACEHOLDER.sub(lambda _match: next(values), replacement)
    by_kind: dict[str, set[str]] = {}
    for kind, value in hidden:
        by_kind.setdefault(kind, set()).add(value)
    if any(len(by_kind.get(kind, ())) != 1 for kind in wanted):
        return None
    return _PLACEHOLDER.sub(lambda match: next(iter(by_kind[match.group(1)])), replacement)


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


_KEY_ENV_SUFFIXES = ("_API_KEY", "_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_AUTH_TOKEN")


def scrub_secrets(message: str) -> str:
    """Redact credentials from an error message, including the values of key-like environment variables."""
    scrubbed, _ = redact_secrets(message)
    for name, value in os.environ.items():
        if len(value) >= 8 and name.upper().endswith(_KEY_ENV_SUFFIXES) and value in scrubbed:
            scrubbed = scrubbed.replace(value, _placeholder(name.lower()))
    return scrubbed
