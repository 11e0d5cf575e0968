"""Chorus's additions to LSP: method names, command ids and the custom requests' params.

The params are attrs classes so that lsprotocol's converter structures (and
validates) them exactly like standard LSP params: a request whose params do not
fit gets an InvalidParams error instead of reaching a handler. The envelopes'
`method` and `jsonrpc` have no defaults: the converter leaves default values out.
"""

from __future__ import annotations

from typing import Any

import attrs
from lsprotocol import types

REVIEW_SELECTION = "chorus/reviewSelection"
IMPLEMENT_STUB = "chorus/implementStub"
EXPLAIN_DIAGNOSTICS = "chorus/explainDiagnostics"
MODELS = "chorus/models"
STATUS = "chorus/status"

REVIEW_COMMAND = "chorus.reviewSelection"
IMPLEMENT_COMMAND = "chorus.implementStub"
EXPLAIN_COMMAND = "chorus.explainDiagnostics"
APPLY_EDIT_COMMAND = "chorus.applyEdit"

CONFIG_SECTION = "chorus"
DIAGNOSTIC_SOURCE = "chorus"


def progress_token(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a progress token is an integer or a string (lsprotocol's converter passes anything)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
        raise TypeError(f"{attribute.name} must be an integer or a string, not {type(value).__name__}")


@attrs.define
class ReviewSelectionParams:
    """`chorus/reviewSelection`: review the lines a range touches."""

    text_document: types.TextDocumentIdentifier
    range: types.Range
    work_done_token: types.ProgressToken | None = attrs.field(default=None, validator=progress_token)


@attrs.define
class ImplementStubParams:
    """`chorus/implementStub`: implement the stub function at a position."""

    text_document: types.TextDocumentIdentifier
    position: types.Position
    work_done_token: types.ProgressToken | None = attrs.field(default=None, validator=progress_token)


@attrs.define
class ExplainDiagnosticsParams:
    """`chorus/explainDiagnostics`: explain diagnostics on a range (the known ones when omitted)."""

    text_document: types.TextDocumentIdentifier
    range: types.Range
    diagnostics: list[types.Diagnostic] | None = None
    work_done_token: types.ProgressToken | None = attrs.field(default=None, validator=progress_token)


@attrs.define
class ModelsParams:
    """`chorus/models`: no parameters."""


@attrs.define
class ReviewSelectionRequest:
    """The JSON-RPC envelope of `chorus/reviewSelection`."""

    id: int | str
    params: ReviewSelectionParams
    method: str
    jsonrpc: str


@attrs.define
class ImplementStubRequest:
    """The JSON-RPC envelope of `chorus/implementStub`."""

    id: int | str
    params: ImplementStubParams
    method: str
    jsonrpc: str


@attrs.define
class ExplainDiagnosticsRequest:
    """The JSON-RPC envelope of `chorus/explainDiagnostics`."""

    id: int | str
    params: ExplainDiagnosticsParams
    method: str
    jsonrpc: str


@attrs.define
class ModelsRequest:
    """The JSON-RPC envelope of `chorus/models` (params may be omitted)."""

    id: int | str
    method: str
    jsonrpc: str
    params: ModelsParams | None = None


@attrs.define
class StatusParams:
    """`chorus/status` (server → client): what the server is doing right now."""

    state: str
    message: str
    active: int


@attrs.define
class StatusNotification:
    """The JSON-RPC envelope of `chorus/status`."""

    method: str
    jsonrpc: str
    params: StatusParams


MESSAGE_TYPES: dict[str, type[Any]] = {
    REVIEW_SELECTION: ReviewSelectionRequest,
    IMPLEMENT_STUB: ImplementStubRequest,
    EXPLAIN_DIAGNOSTICS: ExplainDiagnosticsRequest,
    MODELS: ModelsRequest,
    STATUS: StatusNotification,
}
"""Chorus's methods and the envelope types the protocol structures them into."""
