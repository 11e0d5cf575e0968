"""Weighted voting: how much each review seat's vote counts, from the trust the memory has learnt.

`policy.voting` says how a review's votes count:

- "count": one vote per seat, as always;
- "weighted": each seat's vote counts its model's trust (`orchestration.learning.trust`: the
  posterior mean of the model's roll-up over review runs, its configured `weight` as the prior);
- "auto" (the default): weighted once one of the request's seats has a model whose trust rests on
  `learning.min_events_for_weighted` events or more (verdicts and agreement outcomes), counted
  while every seat's rests on fewer. Once weighted, every seat counts its own trust, a seat with
  little evidence its prior-dominated one.

Votes are counted with `learning.enabled = false`, without a memory, and when the store is off,
failing or slower than the read's budget: the review never waits long for the trust, and never
fails for it. `VotingRead.start(memory, config, seats)` starts the read when the review opens, in a
reader thread (`orchestration.memory.reads.Prefetch`, bounded like every read of the memory), so
it overlaps the seats' work; `await read.trust()` is then each seat's trust for the merge
(`orchestration.merge.consensus.merge_findings(trust=...)`), or None for counted votes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from orchestration.memory.reads import Prefetch, usable

if TYPE_CHECKING:
    from orchestration.memory.store import Store
    from orchestration.memory.writer import StoreWriter
    from orchestration.types.config import ChorusConfig, ModelConfig

VOTING_TASK: Final = "review"
"""The task whose runs a seat's trust is read from (the only one that records findings)."""


@dataclass(frozen=True, slots=True)
class SeatTrust:
    """Each seat's trust (its model's posterior mean) and the events that trust rests on."""

    trust: Mapping[str, float]
    events: Mapping[str, int]


def reads_trust(config: ChorusConfig) -> bool:
    """Whether a review with `config` may weight its votes (so the trust is worth reading)."""
    return config.learning.enabled and config.policy.voting != "count"


def read_seat_trust(
    store: Store, config: ChorusConfig, seats: Sequence[tuple[str, ModelConfig]]
) -> SeatTrust:
    """The trust of every seat in `seats` from the store (blocking; raises `StoreError`).

    Imports the trust's queries (and so SQLAlchemy) here, in the reader thread, not with the pipeline."""
    from orchestration.learning.trust import model_weights, trust_scores

    report = trust_scores(
        store,
        config.learning,
        weights=model_weights(config.models),
        min_agreement=config.policy.min_agreement,
        task=VOTING_TASK,
    )
    estimates = {name: report.for_model(seat.label) for name, seat in seats}
    return SeatTrust(
        trust={seat: estimate.mean for seat, estimate in estimates.items()},
        events={seat: estimate.events for seat, estimate in estimates.items()},
    )


def voting_trust(config: ChorusConfig, seats: SeatTrust | None) -> dict[str, float] | None:
    """The trust the merge weights votes by, or None when votes are counted (see the module docstring)."""
    if seats is None or not seats.trust or not reads_trust(config):
        return None
    enough = config.learning.min_events_for_weighted
    if config.policy.voting == "auto" and all(events < enough for events in seats.events.values()):
        return None
    return dict(seats.trust)


class VotingRead:
    """The trust of a review's seats, read from the memory while the seats work."""

    __slots__ = ("config", "prefetch", "resolved")

    def __init__(self, config: ChorusConfig, prefetch: Prefetch[SeatTrust | None]) -> None:
        self.config = config
        self.prefetch = prefetch
        self.resolved: dict[str, float] | None = None
        """The trust once `trust()` returned it (what the arbiter is told)."""

    @classmethod
    def start(
        cls, memory: StoreWriter | None, config: ChorusConfig, seats: Sequence[tuple[str, ModelConfig]]
    ) -> VotingRead | None:
        """Start reading the seats' trust; None when votes are counted anyway (no read is made)."""
        if not reads_trust(config) or not usable(memory) or not seats:
            return None
        names = tuple(seats)

        def query(store: Store) -> SeatTrust | None:
            return read_seat_trust(store, config, names)

        return cls(config, Prefetch(memory, query, None))

    async def trust(self) -> dict[str, float] | None:
        """Each seat's trust for the merge, or None (counted votes: learning off, too little evidence
        under "auto", or a store that is off, failing or slower than the read's budget)."""
        self.resolved = voting_trust(self.config, await self.prefetch.result())
        return self.resolved
