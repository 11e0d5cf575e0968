"""Where a seat's calls go, and how each place has been doing: circuits and endpoint balancing.

A `Circuit` is one key's recent outcomes (a bounded deque: failed or not), its state and its calls
in flight. Two kinds of key (`seat_key`, `endpoint_key`):

- a seat as a whole: its label (`ModelConfig.label`, the model at its effort) at its endpoints, fed
  once per call by `orchestration.providers.chat.complete_chat`; the circuit breaker
  (`orchestration.panel.breaker`) benches a seat on it;
- a model at one of its endpoints, fed once per attempt by the litellm provider; `lease_endpoint`
  balances a seat's endpoints on it.

A circuit is closed until its window (`failover.window` recent calls) holds at least
`failover.min_calls` calls of which a share of at least `failover.error_rate` failed (errors and
timeouts; a cancelled call is not counted, an answer that cannot be parsed is not a failure); it is
then open for `failover.cooldown` seconds, after which it is half-open: exactly one probe call is let
through (`Verdict.probe`) while everyone else still finds it open. The probe's outcome (the first
call that started after the probe was granted) closes it with a fresh window, or opens it for another
cooldown. A probe that never reports (its request was served from the cache) lapses after its lease.

`CIRCUITS` is the process's; all of it is synchronous and lock-protected, so it is safe on one event
loop and across threads. Its clock (`Circuits.clock`, monotonic seconds) can be replaced in tests.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Literal

from orchestration.types.config import FailoverConfig, ModelConfig

MAX_WINDOW: Final = 256
"""Most outcomes a circuit keeps: a larger `failover.window` counts over this many."""

Key = tuple[str, ...]
"""("seat", label, *endpoints) or ("endpoint", model, url)."""
State = Literal["closed", "open", "half-open"]


def seat_key(seat: ModelConfig) -> Key:
    """The circuit of a seat as a whole: its label at its endpoints (the same model elsewhere is another)."""
    return ("seat", seat.label, *seat.endpoints)


def endpoint_key(model: str, url: str) -> Key:
    """The circuit of one endpoint serving `model` (every effort of the model shares it)."""
    return ("endpoint", model, url)


@dataclass(slots=True)
class Circuit:
    """One key's recent outcomes (True: failed), its state and its calls in flight."""

    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=MAX_WINDOW))
    last_at: float = 0.0
    """When the latest outcome was recorded."""
    last_error: str | None = None
    """What the latest failure said (a scrubbed `ProviderError` message)."""
    opened_at: float | None = None
    """When it opened (None: closed)."""
    probe_at: float | None = None
    """When the half-open probe was granted (None: no probe under way)."""
    in_flight: int = 0
    last_used: int = -1
    """Order of the latest lease (for ties between endpoints: the least recently used goes first)."""

    def counts(self, window: int) -> tuple[int, int]:
        """(failed, calls) among the latest `window` outcomes."""
        latest = list(self.recent)[-window:]
        return sum(latest), len(latest)

    def tripped(self, settings: FailoverConfig) -> bool:
        """Whether the window holds enough calls, failing often enough, to open the circuit."""
        failed, calls = self.counts(settings.window)
        return calls >= settings.min_calls and failed >= settings.error_rate * calls

    def state(self, settings: FailoverConfig, now: float) -> State:
        """Closed, open, or half-open (cooled down, or a probe under way)."""
        if self.opened_at is None:
            return "open" if self.tripped(settings) else "closed"
        if self.probe_at is not None or now >= self.opened_at + settings.cooldown:
            return "half-open"
        return "open"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a call may go to a key now, and the counts behind a refusal."""

    admitted: bool
    probe: bool = False
    """Admitted as the half-open circuit's one probe call."""
    failed: int = 0
    calls: int = 0
    retry_in: float | None = None
    """Seconds until a probe may go (None with `admitted` false: a probe is under way)."""
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class CircuitView:
    """What a circuit looks like now (for `--explain`, status reports and tests)."""

    state: State
    failed: int
    calls: int
    in_flight: int


class Circuits:
    """The process's circuits by key, their settings (the latest request's) and the clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.settings = FailoverConfig()
        """The settings endpoint balancing uses: the latest that `configure` was given."""
        self.enabled = True
        self._circuits: dict[Key, Circuit] = {}
        self._lock = threading.Lock()
        self._uses = itertools.count()

    def configure(self, settings: FailoverConfig, *, enabled: bool) -> None:
        """Use `settings` from now on (`enabled` false: endpoints are balanced, never skipped)."""
        with self._lock:
            self.settings, self.enabled = settings, enabled

    def reset(self) -> None:
        """Forget every circuit (in-flight counts too: only for tests and a fresh start)."""
        with self._lock:
            self._circuits.clear()

    def _circuit(self, key: Key) -> Circuit:
        circuit = self._circuits.get(key)
        if circuit is None:
            circuit = self._circuits[key] = Circuit()
        return circuit

    def view(self, key: Key) -> CircuitView:
        """The circuit of `key` as it stands (a key never seen is closed and empty)."""
        with self._lock:
            circuit = self._circuits.get(key) or Circuit()
            failed, calls = circuit.counts(self.settings.window)
            return CircuitView(circuit.state(self.settings, self.clock()), failed, calls, circuit.in_flight)

    def _verdict(self, circuit: Circuit, settings: FailoverConfig, now: float, lease: float) -> Verdict:
        """Admit, grant the probe, or refuse (the lock is held)."""
        if circuit.opened_at is None:
            if not circuit.tripped(settings):
                return Verdict(True)
            circuit.opened_at = circuit.last_at  # Opened by the latest failure, noticed now.
        failed, calls = circuit.counts(settings.window)
        error = circuit.last_error
        if circuit.probe_at is not None:
            if now < circuit.probe_at + lease:
                return Verdict(False, failed=failed, calls=calls, last_error=error)
            circuit.probe_at = None  # The probe never reported: it lapsed.
        ready_at = circuit.opened_at + settings.cooldown
        if now >= ready_at:
            circuit.probe_at = now
            return Verdict(True, probe=True, failed=failed, calls=calls, last_error=error)
        return Verdict(False, failed=failed, calls=calls, retry_in=ready_at - now, last_error=error)

    def admit(self, key: Key, settings: FailoverConfig, *, lease: float) -> Verdict:
        """May a call go to `key` now? A half-open circuit's first asker gets the probe (for `lease` s)."""
        with self._lock:
            return self._verdict(self._circuit(key), settings, self.clock(), lease)

    def release_probe(self, key: Key, granted_at: float) -> None:
        """Hand back a probe granted at `granted_at` that will not be used (its seat was left out)."""
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is not None and circuit.probe_at == granted_at:
                circuit.probe_at = None

    def probe_granted_at(self, key: Key) -> float | None:
        """When the probe under way for `key` was granted (None: none is)."""
        with self._lock:
            circuit = self._circuits.get(key)
            return None if circuit is None else circuit.probe_at

    def record(self, key: Key, *, failed: bool, started_at: float, error: str | None = None) -> None:
        """Count one finished call (started at `started_at` by `clock`, failing with `error`); it may
        settle a probe."""
        with self._lock:
            circuit = self._circuit(key)
            now = self.clock()
            circuit.recent.append(failed)
            circuit.last_at = now
            if failed:
                circuit.last_error = error
            if circuit.opened_at is None or circuit.probe_at is None or started_at < circuit.probe_at:
                return
            circuit.probe_at = None
            if failed:
                circuit.opened_at = now
            else:
                circuit.opened_at = None
                circuit.recent.clear()
                circuit.recent.append(False)

    def lease_endpoint(
        self, model: str, urls: Sequence[str], *, avoid: frozenset[str] = frozenset(), lease: float
    ) -> EndpointLease:
        """Take one of `urls` for one attempt: the fewest calls in flight, then the least recently used.

        Endpoints whose circuit is open are passed over while another may be used, and so are those in
        `avoid` (failed earlier in this call); with none left, the best of the rest is taken anyway.
        Use the lease as a context manager: its in-flight slot is freed however the attempt ends.
        """
        if not urls:
            raise ValueError("lease_endpoint needs at least one endpoint")
        with self._lock:
            now = self.clock()
            circuits = {url: self._circuit(endpoint_key(model, url)) for url in dict.fromkeys(urls)}
            usable = {
                url: not self.enabled or _could_go(circuit, self.settings, now, lease)
                for url, circuit in circuits.items()
            }
            chosen = min(
                circuits,
                key=lambda url: (
                    not usable[url],
                    url in avoid,
                    circuits[url].in_flight,
                    circuits[url].last_used,
                ),
            )
            circuit = circuits[chosen]
            if self.enabled and usable[chosen]:
                self._verdict(circuit, self.settings, now, lease)  # Grants the probe when half-open.
            circuit.in_flight += 1
            circuit.last_used = next(self._uses)
            key = endpoint_key(model, chosen)
            return EndpointLease(self, key, chosen, now)

    def _release(self, key: Key) -> None:
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is not None and circuit.in_flight > 0:
                circuit.in_flight -= 1


def _could_go(circuit: Circuit, settings: FailoverConfig, now: float, lease: float) -> bool:
    """Whether `_verdict` would admit a call now, without granting anything."""
    if circuit.opened_at is None and not circuit.tripped(settings):
        return True
    if circuit.probe_at is not None and now < circuit.probe_at + lease:
        return False
    opened_at = circuit.last_at if circuit.opened_at is None else circuit.opened_at
    return now >= opened_at + settings.cooldown


class EndpointLease:
    """One attempt's endpoint: holds its in-flight slot until the `with` block ends, however it ends."""

    __slots__ = ("_circuits", "_done", "key", "started_at", "url")

    def __init__(self, circuits: Circuits, key: Key, url: str, started_at: float) -> None:
        self._circuits = circuits
        self.key = key
        self.url = url
        self.started_at = started_at
        self._done = False

    def record(self, *, failed: bool) -> None:
        """Count the attempt's outcome for the endpoint (once; a cancelled attempt records nothing)."""
        if not self._done:
            self._done = True
            self._circuits.record(self.key, failed=failed, started_at=self.started_at)

    def __enter__(self) -> EndpointLease:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._circuits._release(self.key)


CIRCUITS: Final = Circuits()
"""The process's circuits: fed by every model call, read by the breaker and the litellm provider."""
