"""Checking `workspace/executeCommand` arguments before a Chorus command runs.

pygls structures command arguments from the handler's type hints, but a missing
argument reaches the handler as a TypeError (an internal error with a traceback),
and a `str` parameter accepts anything (`5` becomes `"5"`). Chorus's commands take
`*arguments` instead and check them here: a wrong call gets InvalidParams with one
line saying what the command takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cattrs
from pygls.exceptions import JsonRpcInvalidParams

from server.convert import structure


@dataclass(frozen=True, slots=True)
class Argument:
    """One positional command argument: its name, its type and whether it may be left out."""

    name: str
    kind: Any
    required: bool = True


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line (whitespace runs collapsed), cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def structure_error_reason(error: BaseException) -> str:
    """Why a value did not fit its type, in one line."""
    if isinstance(error, cattrs.BaseValidationError):
        return one_line("; ".join(cattrs.transform_error(error, path="argument")))
    return one_line(str(error) or type(error).__name__)


def usage(command: str, spec: Sequence[Argument]) -> str:
    """'chorus.reviewSelection takes [uri, range]'."""
    names = ", ".join(argument.name + ("" if argument.required else "?") for argument in spec)
    return f"{command} takes [{names}]"


def check_arguments(command: str, arguments: Sequence[Any], spec: Sequence[Argument]) -> list[Any]:
    """The arguments structured as `spec` says (None for optional ones left out); InvalidParams if not."""
    required = sum(argument.required for argument in spec)
    if not required <= len(arguments) <= len(spec):
        raise JsonRpcInvalidParams(f"{usage(command, spec)}; got {len(arguments)} argument(s)")
    values: list[Any] = []
    for index, argument in enumerate(spec):
        value = arguments[index] if index < len(arguments) else None
        values.append(check_argument(command, spec, index, argument, value))
    return values


def check_argument(command: str, spec: Sequence[Argument], index: int, argument: Argument, value: Any) -> Any:
    """One argument, structured; InvalidParams naming it when it does not fit."""
    if value is None and not argument.required:
        return None
    where = f"{usage(command, spec)}; argument {index + 1} ({argument.name})"
    if argument.kind is str:
        if not isinstance(value, str) or not value:
            raise JsonRpcInvalidParams(f"{where} must be a non-empty string")
        return value
    try:
        return structure(value, argument.kind)
    except Exception as error:  # Any shape mismatch: cattrs, attrs validators, TypeError.
        raise JsonRpcInvalidParams(f"{where} is invalid: {structure_error_reason(error)}") from None
