"""Shared pytest fixtures: the fake model server, `chorus serve` sessions, litellm client cleanup.

A server test asks for `chorus` (and so `profile`): it runs once per editor in CLIENT_PROFILES, and
`async with chorus(seats) as client` starts the server with those seats on the fake model server.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # So `pytest` (not only `python -m pytest`) finds orchestration/.

from orchestration.memory.settings import StoreConfig  # noqa: E402
from orchestration.memory.writer import StoreWriter  # noqa: E402
from tests.fake_models import FakeModelServer, outward_address  # noqa: E402
from tests.lsp_client import CLIENT_PROFILES, ChorusLauncher  # noqa: E402


@pytest.fixture
def model_server() -> Iterator[FakeModelServer]:
    """A started fake OpenAI-compatible server; script models on it with `model_server.script(...)`."""
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def remote_server() -> Iterator[FakeModelServer]:
    """A fake model server on a non-loopback address: to the privacy gate, a remote (cloud) model."""
    address = outward_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    with FakeModelServer(host=address) as server:
        yield server


@pytest.fixture(params=CLIENT_PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    """The editor a server test plays: every test using it runs once per profile in CLIENT_PROFILES."""
    return str(request.param)


@pytest.fixture
def chorus(profile: str, tmp_path: Path, model_server: FakeModelServer) -> ChorusLauncher:
    """Starts `chorus serve` as `profile` on `tmp_path`: `async with chorus(["claude"]) as client:`."""
    return ChorusLauncher(profile, tmp_path, model_server)


@pytest.fixture(autouse=True)
async def _close_litellm_clients() -> AsyncIterator[None]:
    """Close litellm's cached async HTTP clients before each test's event loop ends."""
    yield
    if "orchestration.providers.chat" in sys.modules:
        from orchestration.providers.chat import close_clients

        await close_clients()


def _default_circuits() -> None:
    from orchestration.providers.endpoints import CIRCUITS
    from orchestration.types.config import FailoverConfig

    CIRCUITS.reset()
    CIRCUITS.configure(FailoverConfig(), enabled=True)


@pytest.fixture(autouse=True)
def _fresh_circuits() -> Iterator[None]:
    """Each test starts with every circuit closed and the default settings (the breaker's state
    lives in the process)."""
    _default_circuits()
    yield
    _default_circuits()


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """The process's circuits, emptied, with the default settings, on a fake clock (restored after)."""
    from orchestration.providers.endpoints import CIRCUITS

    fake = FakeClock()
    original = CIRCUITS.clock
    _default_circuits()
    CIRCUITS.clock = fake
    yield fake
    CIRCUITS.clock = original
    _default_circuits()


@pytest.fixture(autouse=True)
def _private_user_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own user data dir (`XDG_DATA_HOME`, inherited by the CLI and the server it
    starts), so the memory's default store never lands in the real one or carries over between tests."""
    data = tmp_path_factory.mktemp("user-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    return data


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Where a memory test's SQLite store lives (a real file in the test's tmp_path)."""
    return tmp_path / "store" / "chorus.db"


@pytest.fixture
def memory(store_path: Path) -> Iterator[StoreWriter]:
    """A store writer on `store_path`, closed after the test."""
    writer = StoreWriter(StoreConfig(path=store_path))
    yield writer
    writer.close()
