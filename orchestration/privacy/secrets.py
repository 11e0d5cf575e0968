"""Secret detection: credentials in text replaced by `<redacted:KIND>` placeholders, line for line.

`redact_secrets` is what every text sent to a model passes (through `PrivacyGate.outbound`);
`scrub_secrets` is what every message shown, logged or stored passes: the same detection plus
the values Chorus itself holds (`register_secret`: each seat's API key, whatever its variable is
called, the local server's key) and the values of key-like environment variables.

Every rule runs in linear time: each pattern either starts with a literal, or may only start
where a run of its characters starts (a look-behind on the run's own character class), and
scans one run at most once; private key blocks are found line by line, not with `.*?`.
Provider patterns from detect-secrets' plugins (Azure storage keys, HTTP Basic credentials in
URLs, GitLab, PyPI, SendGrid, Square) are used as they are, since they are linear already.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Final

from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector

Replacement = Callable[[re.Match[str]], str]


PLACEHOLDER_PREFIX: Final = "<redacted:"
"""How every placeholder starts; `PLACEHOLDER` matches a whole one and captures its kind."""

PLACEHOLDER: Final = re.compile(r"<redacted:([a-z0-9_.-]+)>")


def placeholder(label: str) -> str:
    """The text that stands in for a secret of kind `label`."""
    return f"{PLACEHOLDER_PREFIX}{label}>"


# -- keyword assignments ---------------------------------------------------------------------------

_KEYWORD = (
    r"(?P<name>pass(?:word|wd|phrase)|pwd|secret(?:_?key)?|api(?:_?key|-key)|access_?(?:key|token)"
    r"|auth_?token|refresh_?token|token|private_?key|client_?secret|credentials?)"
)
"""How a credential's variable name ends (`DB_PASSWORD`, `stripe.api_key`, `"client_secret"`)."""

_TEMPLATED = (PLACEHOLDER_PREFIX, "${", "{{", "%(", "<%")
_DOTTED_IDENTIFIER = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_NOT_SECRETS = frozenset({"none", "null", "nil", "true", "false", "undefined", "changeme", "required"})


def _label_for_name(name: str) -> str:
    lowered = name.lower()
    if "pass" in lowered or "pwd" in lowered:
        return "password"
    if "token" in lowered:
        return "token"
    if "key" in lowered:
        return "api-key"
    return "secret"


def _looks_like_code(value: str, prefix: str = "") -> bool:
    """True for values that are code, templates or placeholders rather than a credential."""
    stripped = value.strip()
    return (
        stripped.startswith(_TEMPLATED)
        or stripped.lower() in _NOT_SECRETS
        or _DOTTED_IDENTIFIER.fullmatch(stripped) is not None
        or ("f" in prefix.lower() and "{" in stripped)
    )


def _assignment(match: re.Match[str]) -> str:
    """Keep the name and the quotes, replace the value (unless it is code or a template)."""
    value = match.group("value")
    if _looks_like_code(value, match.groupdict().get("prefix") or ""):
        return match.group(0)
    start, end = match.span("value")
    whole, offset = match.group(0), match.start()
    return whole[: start - offset] + placeholder(_label_for_name(match.group("name"))) + whole[end - offset :]


_QUOTED_ASSIGNMENT = re.compile(
    rf"(?i){_KEYWORD}[\"']?[ \t]*(?::=|=>|[:=])[ \t]*(?P<prefix>[rbfu]{{0,2}})"
    r"(?:(?P<triple>\"\"\"|''')(?P<tvalue>[^\n\"']{1,})(?P=triple)"
    r"|(?P<quote>[\"'])(?P<qvalue>[^\"'\n]{3,})(?P=quote))"
)
"""`password = "…"`, `'secret': '…'`, `password = f"…"`, `b'…'`, `r"…"`, `\"\"\"…\"\"\"`."""


def _quoted_assignment(match: re.Match[str]) -> str:
    group = "tvalue" if match.group("tvalue") is not None else "qvalue"
    value = match.group(group)
    if _looks_like_code(value, match.group("prefix")):
        return match.group(0)
    start, end = match.span(group)
    whole, offset = match.group(0), match.start()
    return whole[: start - offset] + placeholder(_label_for_name(match.group("name"))) + whole[end - offset :]


_UNQUOTED_VALUE = r"(?P<value>[A-Za-z0-9_+/=.~!@%^*-]{4,})[ \t]*$"
_DOTENV_WITH_DIGIT = re.compile(
    rf"(?im)^[ \t]*(?:export[ \t]+)?[A-Za-z0-9_.-]*?{_KEYWORD}[ \t]*[:=][ \t]*"
    r"(?=[^\s\"'#]*\d)(?=[^\s\"'#]*[A-Za-z])" + _UNQUOTED_VALUE
)
"""`password: hunter22`, `API_KEY = abc123` (a value with letters and digits: YAML, INI, dotenv)."""
_DOTENV_BARE = re.compile(rf"(?im)^[ \t]*(?:export[ \t]+)?[A-Za-z0-9_.-]*?{_KEYWORD}=" + _UNQUOTED_VALUE)
"""`DB_PASSWORD=DOTENVPW`: dotenv style (no spaces around `=`), any value that is not code."""

_CREDENTIAL_CALL = re.compile(
    r"(?i)(?<![A-Za-z0-9_])(?:log_?in|sign_?in|authenticate|auth|basic_?auth|http(?:basic|digest)auth"
    r"|set_?password|set_?credentials|credentials)[ \t]*(?:=[ \t]*)?\([ \t]*"
    r"(?P<uq>[\"'])[^\"'\n]{0,200}(?P=uq)[ \t]*,[ \t]*(?P<pq>[\"'])(?P<value>[^\"'\n]{1,200})(?P=pq)"
)
"""`login("admin", "pw")`, `HTTPBasicAuth('u', 'p')`, `auth=("u", "p")`: the second string goes."""


def _credential_call(match: re.Match[str]) -> str:
    if _looks_like_code(match.group("value")):
        return match.group(0)
    start, end = match.span("value")
    whole, offset = match.group(0), match.start()
    return whole[: start - offset] + placeholder("password") + whole[end - offset :]


# -- provider token shapes ------------------------------------------------------------------------


def _keep_group_1(label: str) -> Replacement:
    return lambda match: match.group(1) + placeholder(label)


def _only_group_1(label: str) -> Replacement:
    """Replace capture group 1 of the match, keep the rest (detect-secrets' capture convention)."""

    def replace(match: re.Match[str]) -> str:
        start, end = match.span(1)
        whole, offset = match.group(0), match.start()
        return whole[: start - offset] + placeholder(label) + whole[end - offset :]

    return replace


def _basic_credentials(match: re.Match[str]) -> str:
    """`Basic <base64 of user:password>` (an HTTP Authorization value); other words after "basic" stay."""
    encoded = match.group(2)
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    if b":" not in decoded or not decoded.isascii():
        return match.group(0)
    return match.group(1) + placeholder("basic-auth")


def _detect_secrets_rules() -> list[tuple[re.Pattern[str], str | Replacement]]:
    """detect-secrets' own patterns for the providers whose patterns are linear-time."""
    whole_match = [
        (AzureStorageKeyDetector, "azure-storage-key"),
        (PypiTokenDetector, "pypi-token"),
        (SendGridDetector, "sendgrid-key"),
        (SquareOAuthDetector, "square-secret"),
    ]
    rules: list[tuple[re.Pattern[str], str | Replacement]] = []
    for detector, label in whole_match:
        rules.extend((pattern, placeholder(label)) for pattern in detector().denylist)
    rules.extend((pattern, placeholder("gitlab-token")) for pattern in GitLabTokenDetector().denylist)
    rules.extend((pattern, _only_group_1("password")) for pattern in BasicAuthDetector().denylist)
    return rules


_ACCOUNT_KEY = re.compile(r"(?i)((?:Account|SharedAccess)Key[ \t]*=[ \t]*)[A-Za-z0-9+/]{16,}+={0,2}")
"""Azure connection strings (`AccountKey=…`, `SharedAccessKey=…`) of any key length."""

_RULES: Final[list[tuple[re.Pattern[str], str | Replacement]]] = [
    (re.compile(r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}+"), placeholder("anthropic-key")),
    (
        re.compile(
            r"(?<![A-Za-z0-9_-])sk-(?:(?:proj|svcacct|admin|test|live|dev|prod|or-v1)-[A-Za-z0-9_-]{4,}+"
            r"|[A-Za-z0-9_-]{20,}+)"
        ),
        placeholder("openai-key"),
    ),
    (re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"), placeholder("aws-access-key")),
    (
        re.compile(
            r"(?i)(aws_?secret_?(?:access_?)?key[\"']?[ \t]*[:=][ \t]*[\"']?)"
            r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"
        ),
        _keep_group_1("aws-secret-key"),
    ),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b"), placeholder("github-token")),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"), placeholder("github-token")),
    (
        re.compile(r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]++/B[A-Za-z0-9_]++/[A-Za-z0-9_]++"),
        placeholder("slack-webhook"),
    ),
    (re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}+"), placeholder("slack-token")),
    (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}+\b"), placeholder("stripe-key")),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), placeholder("google-api-key")),
    (
        re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}+\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}+"),
        placeholder("jwt"),
    ),
    (re.compile(r"(?i)\b(bearer[ \t]+)[A-Za-z0-9._~+/=-]{16,}+"), _keep_group_1("bearer-token")),
    (re.compile(r"(?i)\b(basic[ \t]+)([A-Za-z0-9+/]{6,}+={0,2})(?![A-Za-z0-9+/=])"), _basic_credentials),
    (
        re.compile(r"(?<![A-Za-z0-9+.-])([a-z][a-z0-9+.-]{0,30}://[^\s:/@\"']++:)[^\s@/\"']++(?=@)"),
        _keep_group_1("password"),
    ),
    (_ACCOUNT_KEY, _keep_group_1("azure-storage-key")),
    *_detect_secrets_rules(),
    (_QUOTED_ASSIGNMENT, _quoted_assignment),
    (_DOTENV_WITH_DIGIT, _assignment),
    (_DOTENV_BARE, _assignment),
    (_CREDENTIAL_CALL, _credential_call),
]


# -- private key blocks ---------------------------------------------------------------------------

_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]++ )*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]++ )*PRIVATE KEY(?: BLOCK)?-----")
_KEY_LINE = re.compile(r"[ \t]*+(?:[A-Za-z0-9+/=]++|[A-Za-z-]++: [^\n]*+)?[ \t]*+")
"""A line inside a key block: base64, an RFC 1421 header (`Proc-Type: …`) or blank."""
_LONG_BASE64_LINE = re.compile(r"[ \t]*+[A-Za-z0-9+/=]{40,}+[ \t]*+(?:\\n)?[\"',]?[ \t]*+")


def _redact_pem(lines: list[str]) -> int:
    """Replace private key blocks in `lines` (in place), keeping the line count; returns how many."""
    count, number = 0, 0
    while number < len(lines):
        line = lines[number]
        begin = _PEM_BEGIN.search(line)
        if begin is None:
            number += 1
            continue
        count += 1
        end = _PEM_END.search(line, begin.end())
        if end is not None:  # One line, e.g. a JSON string with \n escapes.
            lines[number] = line[: begin.start()] + placeholder("private-key") + line[end.end() :]
            continue
        lines[number] = line[: begin.start()] + placeholder("private-key")
        last = number + 1
        while last < len(lines) and _PEM_END.search(lines[last]) is None and _KEY_LINE.fullmatch(lines[last]):
            last += 1
        closing = _PEM_END.search(lines[last]) if last < len(lines) else None
        if closing is not None:
            lines[number + 1 : last] = [placeholder("private-key")] * (last - number - 1)
            lines[last] = placeholder("private-key") + lines[last][closing.end() :]
            number = last
            continue
        number += 1  # No END: a truncated key keeps going over base64 lines only.
        while number < len(lines) and _LONG_BASE64_LINE.fullmatch(lines[number]):
            lines[number] = placeholder("private-key")
            number += 1
    return count


CHUNK_CHARS: Final = 32_768
"""Big texts are redacted in pieces of whole lines of about this size (every rule stays on one line).

A regular expression holds the GIL for the whole of one `sub` call: in pieces, the event loop gets
its turn between them while a worker thread redacts a large prompt.
"""


def _chunks(lines: list[str]) -> list[str]:
    """`lines` joined into pieces of about `CHUNK_CHARS` characters (whole lines each)."""
    pieces: list[str] = []
    start, size = 0, 0
    for number, line in enumerate(lines):
        size += len(line) + 1
        if size >= CHUNK_CHARS:
            pieces.append("\n".join(lines[start : number + 1]))
            start, size = number + 1, 0
    if start < len(lines) or not pieces:
        pieces.append("\n".join(lines[start:]))
    return pieces


def _redact_lines(text: str) -> tuple[str, int]:
    """Apply every single-line rule to `text`."""
    count = 0
    for pattern, replacement in _RULES:

        def counted(match: re.Match[str], replacement: str | Replacement = replacement) -> str:
            nonlocal count
            new = replacement if isinstance(replacement, str) else replacement(match)
            count += new != match.group(0)
            return new

        text = pattern.sub(counted, text)
    return text, count


def redact_secrets(text: str) -> tuple[str, int]:
    """Replace credentials with `<redacted:KIND>` placeholders; returns the text and how many were found.

    The result has exactly as many lines as `text`. Assignments such as `password = "hunter2"` keep
    the name and lose the value; `password = get_password()` is code, not a secret, and stays.
    Time is linear in the text's length (about 0.5 s per MB of adversarial text on one core).
    """
    count = 0
    lines: list[str] | None = None
    if "PRIVATE KEY" in text:
        lines = text.split("\n")
        count = _redact_pem(lines)
        text = "\n".join(lines)
    if len(text) <= 2 * CHUNK_CHARS:
        redacted, found = _redact_lines(text)
        return redacted, count + found
    pieces = []
    for piece in _chunks(lines if lines is not None else text.split("\n")):
        redacted, found = _redact_lines(piece)
        pieces.append(redacted)
        count += found
    return "\n".join(pieces), count


@lru_cache(maxsize=8)
def redacted_text(text: str) -> str:
    """`redact_secrets(text)`'s text, remembered: every seat of a request sends the same prompt.

    Few entries: a prompt may hold a whole file, and only the seats of the requests in flight
    share one.
    """
    return redact_secrets(text)[0]


# -- scrubbing by value ---------------------------------------------------------------------------

MIN_SECRET_LENGTH: Final = 4
"""Shorter values are not registered: replacing them everywhere would garble every message."""

_registered: dict[str, str] = {}
_registered_lock = threading.Lock()
_KEY_ENV_SUFFIXES = ("_API_KEY", "_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_AUTH_TOKEN", "_CRED", "_CREDS")


def register_secret(value: str, label: str = "api-key") -> None:
    """Remember a secret Chorus holds (a key read from the environment): `scrub_secrets` hides it."""
    value = value.strip()
    if len(value) >= MIN_SECRET_LENGTH:
        with _registered_lock:
            _registered.setdefault(value, label)


_environment_keys: tuple[object, list[tuple[str, str]]] = (None, [])
"""(a snapshot of the environment, its key-like variables' values): read again when it changes."""


def _key_environment() -> list[tuple[str, str]]:
    """(name, value) of every key-like environment variable with a value of 8 characters or more.

    Decoding the whole environment costs more than the rest of a scrub, so the list is kept while
    the environment's raw entries stay the same (compared without decoding them).
    """
    global _environment_keys
    raw = getattr(os.environ, "_data", None)
    snapshot = tuple(raw.items()) if isinstance(raw, dict) else None
    cached_snapshot, cached = _environment_keys
    if snapshot is not None and snapshot == cached_snapshot:
        return cached
    found = [
        (name, value)
        for name, value in os.environ.items()
        if len(value) >= 8 and name.upper().endswith(_KEY_ENV_SUFFIXES)
    ]
    _environment_keys = (snapshot, found)
    return found


def scrub_secrets(message: str) -> str:
    """`message` safe to print, log, store or send to the editor.

    Every registered secret value, every value of a key-like environment variable and every
    credential `redact_secrets` recognizes is replaced by a placeholder.
    """
    with _registered_lock:
        known = sorted(_registered.items(), key=lambda item: -len(item[0]))
    for value, label in known:
        if value in message:
            message = message.replace(value, placeholder(label))
    for name, value in _key_environment():
        if value in message:
            message = message.replace(value, placeholder(name.lower()))
    return redact_secrets(message)[0]
