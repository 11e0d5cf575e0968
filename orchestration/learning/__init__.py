"""Learning: what the memory's verdicts say about each model, for the panel to use.

Owns `settings.LearningConfig` (`[learning]`), `beta` (the Beta distribution's mean and credible
interval, exact, in pure Python) and `trust` (per model × task × category, a Beta posterior over "a
finding of this model is right", computed at read time from the store's rows: verdicts, agreement
with the consensus, decayed by age, the seat's configured `weight` as the prior).

May import: `orchestration.memory`, `orchestration.types`, SQLAlchemy, pydantic. Never `server/`,
the CLI, or an editor library. This module imports nothing, so `orchestration.types.config` can
import `learning.settings` (pydantic only) without a cycle.
"""
