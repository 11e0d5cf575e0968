"""`[store]`: where the memory lives, whether it keeps code, how long it keeps runs; `[cache]`: answer reuse.

Imports only pydantic and platformdirs so that `orchestration.types.config` can hang `StoreConfig` under
`ChorusConfig.store` and `CacheConfig` under `ChorusConfig.cache` without an import cycle.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from platformdirs import user_data_path
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def default_store_path() -> Path:
    """`chorus.db` in the platform's per-user data directory (one database per user)."""
    return user_data_path("chorus", appauthor=False) / "chorus.db"


class StoreConfig(BaseModel):
    """The memory: an embedded SQLite file by default, or a shared PostgreSQL database."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True, description="Record runs, feedback, cache and audit; false = remember nothing."
    )
    path: Path = Field(
        default_factory=default_store_path,
        description=(
            "The SQLite file (WAL mode, 0600); default chorus.db in the per-user data directory. "
            "Ignored when `url` is set."
        ),
    )
    url: str | None = Field(
        default=None,
        description="postgresql://user@host:port/db of a team store; overrides `path`.",
    )
    keep_code: bool = Field(
        default=False,
        description=(
            "Also store the reviewed code and fixes, encrypted with AES-GCM "
            "(key: CHORUS_STORE_KEY or a 0600 key file beside the database)."
        ),
    )
    retention_days: int = Field(
        default=90, ge=1, description="Runs, audit and feedback older than this are pruned."
    )
    user: str | None = Field(
        default=None, description="Who the runs belong to; default $CHORUS_USER, else the OS user."
    )

    @field_validator("url")
    @classmethod
    def _postgres_only(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("store.url must be a postgresql://... URL")
        return url

    @property
    def backend(self) -> str:
        """ "postgresql" when `url` is set, else "sqlite"."""
        return "postgresql" if self.url else "sqlite"

    def resolved_user(self) -> str:
        """`user`, else $CHORUS_USER, else the OS login name, else "unknown"."""
        if self.user:
            return self.user
        if os.environ.get("CHORUS_USER"):
            return os.environ["CHORUS_USER"]
        try:
            return getpass.getuser()
        except (OSError, KeyError):
            return "unknown"


class CacheConfig(BaseModel):
    """Reusing a seat's answer: the same model, prompt version, instructions and redacted prompt asked
    again within `ttl_hours` get the stored answer, and identical requests in flight share one call.

    Needs the store (`[store] enabled`); `cache = false` is short for `[cache] enabled = false`. A reused
    answer's `ModelStatus` keeps status "ok" and says `cached = true` (the store records it as "cached").
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Reuse answers; false = always ask the models.")
    ttl_hours: float = Field(default=24.0, gt=0, description="How long a cached answer may be reused.")

    @model_validator(mode="before")
    @classmethod
    def _bool_shorthand(cls, value: object) -> object:
        return {"enabled": value} if isinstance(value, bool) else value

    @property
    def ttl_s(self) -> float:
        """`ttl_hours` in seconds."""
        return self.ttl_hours * 3600.0
