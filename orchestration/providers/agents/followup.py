"""Follow-up questions about a finding: "ask claude-code more about this finding".

`finding_context(store, finding_id, workspace)` looks the finding up in the memory (its message,
lines, severity, the run's file) and reads those lines, with a little context, from the file as
it is now. `ask_about_finding` sends the question with that context to one seat through the same
door as every call (`complete_chat`: privacy gate, redaction, audit); for an agent seat, under an
`agent_scope`, so it reads the workspace copy and resumes the session it keeps for that workspace
(the one its review started). The CLI's `chorus ask`, the MCP `ask` tool and the editor's code
action all come here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from orchestration.memory.recorder import audit_without_run
from orchestration.memory.records import FindingRecord
from orchestration.privacy.gate import PrivacyGate
from orchestration.providers.agents.scope import agent_scope
from orchestration.providers.base import CallUsage
from orchestration.providers.chat import complete_chat
from orchestration.types.config import ChorusConfig
from orchestration.types.errors import InputError
from orchestration.types.requests import Message, lsp_lines

if TYPE_CHECKING:
    from orchestration.memory.store import Store
    from orchestration.memory.writer import StoreWriter

CONTEXT_LINES: Final = 3
MAX_QUESTION_CHARS: Final = 4000
SYSTEM: Final = (
    "You are one member of a panel of code reviewers. A review reported the finding below. "
    "Answer the user's follow-up question about it: read the surrounding code and the rest of the "
    "workspace as you need, say whether the finding holds and why, and how to fix it. "
    "Answer in plain text (no JSON), concisely. Do not modify any file."
)


@dataclass(frozen=True, slots=True)
class FindingContext:
    """A finding from the memory and the code it is about, as the file is now."""

    finding: FindingRecord
    path: str
    """The file as the run recorded it."""
    code: str
    """The finding's lines with `CONTEXT_LINES` around them, numbered (empty when the file is gone)."""


def finding_context(store: Store, finding_id: str, workspace: Path | None) -> FindingContext:
    """The finding `finding_id` with its code; `InputError` (one line) when it is not in the store."""
    finding = store.finding(finding_id.strip())
    if finding is None:
        raise InputError(f"no finding {finding_id!r} in the store (see `chorus show RUN_ID` for finding ids)")
    run = store.show(finding.run_id)
    path = run.run.path if run is not None and run.run.path else ""
    return FindingContext(finding, path, _numbered_lines(path, workspace, finding))


def _numbered_lines(path: str, workspace: Path | None, finding: FindingRecord) -> str:
    if not path:
        return ""
    file = Path(path)
    if not file.is_absolute() and workspace is not None:
        file = workspace / file
    try:
        lines = lsp_lines(file.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""
    first = max(1, finding.start_line - CONTEXT_LINES)
    last = min(len(lines), finding.end_line + CONTEXT_LINES)
    return "\n".join(f"{number:>5} | {lines[number - 1]}" for number in range(first, last + 1))


def followup_messages(context: FindingContext, question: str) -> list[Message]:
    """The chat for one follow-up: the reviewer's instructions, the finding, its code, the question."""
    finding = context.finding
    where = f"{context.path or '(unknown file)'}, lines {finding.start_line}-{finding.end_line}"
    code = f"\nThe code now:\n```\n{context.code}\n```\n" if context.code else "\n"
    user = (
        f"Finding {finding.finding_id} in {where} ({finding.severity}, {finding.category}, "
        f"{finding.votes}/{finding.panel_size} reviewers agreed):\n{finding.message}\n{code}"
        f"\nQuestion: {question.strip()}"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


async def ask_about_finding(
    config: ChorusConfig,
    seat_name: str,
    context: FindingContext,
    question: str,
    *,
    workspace: Path | None,
    memory: StoreWriter | None = None,
    trusted: bool | None = None,
    usage: CallUsage | None = None,
) -> str:
    """The seat's answer to `question` about the finding; `InputError` for an unknown seat, a bad question.

    Raises `ProviderError` when the seat fails, `ExcludedFileError` when the file may not be sent.
    """
    seat = config.models.get(seat_name)
    if seat is None:
        known = ", ".join(config.models) or "none"
        raise InputError(f"no seat {seat_name!r} under [models] (configured: {known})")
    if not question.strip():
        raise InputError("the question is empty: say what you want to know about the finding")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(
            f"the question is {len(question):,} characters; keep it under {MAX_QUESTION_CHARS:,}"
        )
    if context.path:
        gate = PrivacyGate.for_document(context.path, config.policy, workspace)
    else:
        gate = PrivacyGate.without_file(config.policy)
    if memory is not None:
        gate = replace(gate, audit=audit_without_run(memory))
    with agent_scope(workspace, config.policy, memory=memory, trusted=trusted, run_id=context.finding.run_id):
        return await complete_chat(
            seat_name, seat, followup_messages(context, question), gate=gate, usage=usage
        )
