"""Errors of the memory. Messages are one line, scrubbed of secrets, and say what to do."""

from __future__ import annotations

from orchestration.privacy.gate import scrub_secrets
from orchestration.types.errors import ChorusError


class StoreError(ChorusError):
    """The store cannot be opened, read or written (locked, read-only, full, unreachable, too new)."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class StoreRowError(StoreError):
    """One record was refused (a constraint failed); the others of its batch may still be written."""


class StoreTooNewError(StoreError):
    """The store was written by a newer Chorus: its schema revision is unknown here."""


def one_line(message: str, limit: int = 300) -> str:
    """`message` scrubbed of secrets, on one line, at most `limit` characters."""
    text = " ".join(scrub_secrets(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(error: BaseException) -> str:
    """A one-line description of a database error without the SQL statement or its parameters."""
    original = getattr(error, "orig", None)
    source = original if isinstance(original, BaseException) else error
    text = str(source).split("\n[SQL:", 1)[0].split("\n", 1)[0]
    return one_line(f"{type(source).__name__}: {text}" if text else type(source).__name__)
