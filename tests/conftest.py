"""Shared pytest fixtures: the hermetic fake model server, and litellm client cleanup."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # So `pytest` (not only `python -m pytest`) finds orchestration/.

from tests.fake_models import FakeModelServer  # noqa: E402


@pytest.fixture
def model_server() -> Iterator[FakeModelServer]:
    """A started fake OpenAI-compatible server; script models on it with `model_server.script(...)`."""
    with FakeModelServer() as server:
        yield server


@pytest.fixture(autouse=True)
async def _close_litellm_clients() -> AsyncIterator[None]:
    """Close litellm's cached async HTTP clients before each test's event loop ends."""
    yield
    if "orchestration.providers" in sys.modules:
        from orchestration.providers import close_clients

        await close_clients()
