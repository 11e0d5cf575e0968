"""Exceptions shared across the orchestration core.

Each carries a message written for the user: it says what went wrong and, where
possible, what to do about it. None of them ever holds an API key.
"""

from __future__ import annotations

from typing import Literal

FailureKind = Literal["error", "timeout"]
"""How a model call failed, as the seat's status says it: "error" (any failure) or "timeout"."""


class ChorusError(Exception):
    """Base class of every error Chorus reports to a user."""


class UnusableAnswer(ChorusError):
    """A model answered, but nothing usable could be parsed from its text."""


class ProviderError(ChorusError):
    """A model call failed: HTTP error, rate limit, missing key, timeout.

    `kind` maps onto the seat's status: "error" or "timeout".
    """

    def __init__(self, message: str, kind: FailureKind = "error") -> None:
        super().__init__(message)
        self.kind: FailureKind = kind


class ExcludedFileError(ChorusError):
    """The file matches `policy.exclude`: nothing from it may be sent to any model."""


class NoPanelError(ChorusError):
    """No seat is available for the task (nothing configured and no local model installed)."""


class StubNotFoundError(ChorusError):
    """No stub function was found at the requested position."""


class InputError(ChorusError):
    """The request cannot be served as asked: a line past the end, a file too large or not a regular file."""
