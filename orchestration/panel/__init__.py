"""Who is asked and how: seat planning, prompt budgets, the fan-out and the arbiter.

Owns `seats` (plan the seats for a task through the privacy gate, run one `PanelRound` and stream
its events), `budgets` (opening a request: file size, the gate, the redacted document; per-seat
prompt budgets), `fanout` (ask every seat at once under deadlines, quorum and grace) and `arbiter`
(`ask_arbiter` within the request's deadline, the arbiter's prompts and how its verdict is applied).
May import: `orchestration.types`, `orchestration.privacy`, `orchestration.providers`,
`orchestration.answers`, `orchestration.merge`, `orchestration.offload`, anyio, pydantic, rapidfuzz.
"""
