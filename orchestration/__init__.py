"""Chorus's editor-agnostic core: ask a panel of models, merge their answers into one voice.

One request runs through the packages in this order:
`types` (the request) → `privacy` (the gate: exclusions, local-only, redaction) → `panel` (which
seats, their prompt budgets, the fan-out, the arbiter) → `providers` (the model calls) → `answers`
(prompts out, tolerant parsing back) → `merge` (clustering, consensus, fix ranking) → `code` (stubs,
candidates, the validation sandbox) → `pipelines` (review, implement, explain: the skeleton that
ties these together) → `machine_form` (the plain-JSON result every face sends or prints).
`memory` records runs; `offload` moves CPU-heavy steps off the event loop.

May import: the standard library and the chosen libraries (pydantic, anyio, litellm lazily in
`providers.chat` only, SQLAlchemy in `memory` only). Never a face (`server`, `faces`) or an editor
library (pygls, lsprotocol, rich); `tests/test_architecture.py` enforces it.
"""
