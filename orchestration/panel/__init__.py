"""Who is asked and how: seat planning, prompt budgets, the fan-out and the arbiter.

Owns `seats` (plan the seats for a task through the privacy gate, run the panel and stream its
events), `budgets` (file size and per-seat prompt budgets), `fanout` (ask every seat at once under
deadlines, quorum and grace) and `arbiter` (the arbiter's prompts and how its verdict is applied).
May import: `orchestration.types`, `orchestration.privacy`, `orchestration.providers`,
`orchestration.answers`, `orchestration.merge`, `orchestration.offload`, anyio.
"""
