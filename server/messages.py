"""Chorus's additions to LSP: method names, command ids, the custom requests' params and replies.

The params are attrs classes so that lsprotocol's converter structures (and
validates) them exactly like standard LSP params: a request whose params do not
fit gets an InvalidParams error instead of reaching a handler. The envelopes'
`method` and `jsonrpc` have no defaults: the converter leaves default values out.
The replies are TypedDicts over the machine form (`orchestration.machine_form`), sent as they are;
a command answers with the same reply as its request, or with `CommandFailure`.
"""

from __future__ import annotations

from typing import Any, NotRequired, Required, TypedDict

import attrs
from lsprotocol import types

from orchestration.machine_form import (
    CandidateForm,
    DiagnosticForm,
    FixActionForm,
    ModelForm,
    RangeForm,
    StubForm,
)
from orchestration.types.config import Task
from server.memory_messages import MEMORY_MESSAGE_TYPES

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
    """`chorus/models`: optionally the document whose automatic routing to explain."""

    text_document: types.TextDocumentIdentifier | None = None


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
    """`chorus/status` (server → client): what the server is doing right now.

    `budget`, when a `[budget]` limit is near or reached, is a short line for the status bar
    ("budget: $4.62 of $5.00 today"); left out otherwise (the converter leaves defaults out).
    """

    state: str
    message: str
    active: int
    budget: str | None = None


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
    **MEMORY_MESSAGE_TYPES,
}
"""Chorus's methods and the envelope types the protocol structures them into."""


class ReviewReply(TypedDict):
    """`chorus/reviewSelection`: the diagnostics now published on the reviewed lines; `stale` when dropped."""

    diagnostics: list[DiagnosticForm]
    models: list[ModelForm]
    arbiter: NotRequired[ModelForm | None]
    notice: str | None
    stale: bool


class ImplementReply(TypedDict):
    """`chorus/implementStub`: the candidates, best first, each with the edit for the current text."""

    candidates: list[CandidateForm]
    models: list[ModelForm]
    stub: StubForm | None
    notice: str | None
    stale: bool


class ExplainReply(TypedDict):
    """`chorus/explainDiagnostics`: the markdown, the fixes as code actions, and the lines explained."""

    explanation: str
    fixes: list[FixActionForm]
    models: list[ModelForm]
    arbiter: ModelForm | None
    notice: str | None
    stale: bool
    range: RangeForm


class SeatRow(TypedDict):
    """One configured seat in `chorus/models`."""

    name: str
    model: str
    panels: list[Task]
    arbiter: bool
    last_status: ModelForm | None


class ModelsReply(TypedDict):
    """`chorus/models`: the panel in force, where its configuration came from, what is wrong with it."""

    models: list[SeatRow]
    origin: str
    notice: str | None
    problem: str | None
    providers_loaded: bool


class ApplyEditReply(TypedDict, total=False):
    """`chorus.applyEdit`: the client's `ApplyWorkspaceEditResult`."""

    applied: Required[bool]
    failureReason: str
    failedChange: int


class CommandFailure(TypedDict):
    """What a command answers when Chorus could not carry it out (the user was told why)."""

    error: str
