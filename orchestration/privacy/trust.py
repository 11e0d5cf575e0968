"""Workspace trust, as editors do it: a cloned repository's config cannot reach hosts, keys or commands.

Trusted sources of configuration: the user's own `chorus.toml` (in `user_config_dir()`), a file named
by `--config` or `CHORUS_CONFIG`, the editor's settings, and workspace configs the user trusted with
`chorus trust [DIR]`. A trust record holds the workspace, its config file and a SHA-256 of that
file's Chorus settings (canonical JSON, so comments and unrelated `pyproject.toml` tables do not
matter); when the settings change, the workspace is untrusted again until trusted anew.

An untrusted workspace config may still choose panels, thresholds, model ids and instructions;
`strip_untrusted` removes every key that could send a key or code elsewhere or run a program
(`api_base`, `api_key_env`, `validate_command`, any other `*command*` key, model ids that are URLs,
`[gateway]` `url`, `key_env`, `enabled` and `fallback`,
and a seat's `agent` with its `prompt` / `output`: an agent seat runs a program), a seat left with no
model of its own is dropped along with its mentions in the panels,
or move the memory (`store.path`, `store.url`: where runs, findings and cached answers are written,
and `store.user`: whose they are), and lets its `exclude` / `local_only` globs only add to those of
the trusted layers below it.

The records live in `trusted-workspaces.json` in the user config dir, written atomically, mode 0600.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

TRUST_FILE_NAME = "trusted-workspaces.json"
USER_CONFIG_NAME = "chorus.toml"
UNTRUSTED_SEAT_KEYS = ("api_base", "api_key_env")
"""Seat keys an untrusted workspace config may not set: where requests go, and which secret they carry."""
UNTRUSTED_AGENT_KEYS = ("agent", "prompt", "output")
"""Seat keys that make a seat a coding agent (a program Chorus starts): never from an untrusted config."""
AGENT_MODEL_PREFIX = "agent/"
UNTRUSTED_STORE_KEYS = ("path", "url", "user")
"""`[store]` keys an untrusted workspace config may not set: where the memory is written, and as whom."""
UNTRUSTED_GATEWAY_KEYS = ("url", "key_env", "enabled", "fallback")
"""`[gateway]` keys an untrusted workspace config may not set: where every cloud call goes, with which
key, and whether (or how) the team's gateway is bypassed."""
ADDITIVE_POLICY_KEYS = ("exclude", "local_only")
"""Policy lists an untrusted workspace config may only add to."""


def user_config_dir() -> Path:
    """The user's Chorus config folder (platformdirs; on Linux `$XDG_CONFIG_HOME/chorus`)."""
    return platformdirs.user_config_path("chorus")


def user_config_file() -> Path:
    """The user's own `chorus.toml`: always trusted, the lowest configuration layer."""
    return user_config_dir() / USER_CONFIG_NAME


def trust_store_path() -> Path:
    """Where trust records are kept."""
    return user_config_dir() / TRUST_FILE_NAME


def settings_digest(raw: Mapping[str, Any]) -> str:
    """SHA-256 of a config's Chorus settings as canonical JSON."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TrustRecord:
    """One trusted workspace: its folder, its config file (None: it had none) and that config's digest."""

    workspace: str
    config: str | None
    sha256: str | None
    trusted_at: str

    def to_json(self) -> dict[str, Any]:
        """The record as stored."""
        return {
            "workspace": self.workspace,
            "config": self.config,
            "sha256": self.sha256,
            "trusted_at": self.trusted_at,
        }


def load_records(store: Path | None = None) -> list[TrustRecord]:
    """Every trust record; an unreadable or malformed store trusts nothing (fail closed)."""
    path = store or trust_store_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    entries = data.get("workspaces") if isinstance(data, dict) else None
    records = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("workspace"), str):
            continue
        config, digest = entry.get("config"), entry.get("sha256")
        records.append(
            TrustRecord(
                workspace=entry["workspace"],
                config=config if isinstance(config, str) else None,
                sha256=digest if isinstance(digest, str) else None,
                trusted_at=str(entry.get("trusted_at", "")),
            )
        )
    return records


def save_records(records: list[TrustRecord], store: Path | None = None) -> Path:
    """Write the records atomically, readable by the user alone (folder 0700, file 0600)."""
    path = store or trust_store_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    payload = json.dumps({"version": 1, "workspaces": [r.to_json() for r in records]}, indent=2)
    descriptor, temporary = tempfile.mkstemp(prefix=".trust-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(payload + "\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def is_trusted(config_path: Path, digest: str, store: Path | None = None) -> bool:
    """Whether the user trusted this config file with exactly these settings."""
    wanted = str(config_path.resolve())
    return any(r.config == wanted and r.sha256 == digest for r in load_records(store))


def trust_workspace(
    workspace: Path, config_path: Path | None, digest: str | None, store: Path | None = None
) -> TrustRecord:
    """Record `workspace` (and its config's digest) as trusted, replacing older records for either."""
    folder = str(workspace.resolve())
    config = str(config_path.resolve()) if config_path is not None else None
    record = TrustRecord(folder, config, digest, datetime.now(UTC).isoformat(timespec="seconds"))
    kept = [
        r for r in load_records(store) if r.workspace != folder and (config is None or r.config != config)
    ]
    save_records([*kept, record], store)
    return record


def revoke_workspace(workspace: Path, config_path: Path | None, store: Path | None = None) -> int:
    """Forget the trust records of `workspace` (or of its config file); returns how many were removed."""
    folder = str(workspace.resolve())
    config = str(config_path.resolve()) if config_path is not None else None
    records = load_records(store)
    kept = [r for r in records if r.workspace != folder and (config is None or r.config != config)]
    if len(kept) != len(records):
        save_records(kept, store)
    return len(records) - len(kept)


def _is_command_key(key: str) -> bool:
    return "command" in key.lower()


def strip_untrusted(
    raw: Mapping[str, Any], trusted_below: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """An untrusted workspace config without what it may not set; returns it and the dotted keys dropped.

    Values of unexpected types are kept as they are, so that validation still names them.
    """
    clean: dict[str, Any] = dict(raw)
    ignored: list[str] = []
    dropped: set[str] = set()
    models = raw.get("models")
    if isinstance(models, Mapping):
        clean_models: dict[str, Any] = {}
        for name, seat in models.items():
            if not isinstance(seat, Mapping):
                clean_models[name] = seat
                continue
            kept = {}
            for key, value in seat.items():
                url_model = key == "model" and isinstance(value, str) and "://" in value
                agent_model = (
                    key == "model" and isinstance(value, str) and value.startswith(AGENT_MODEL_PREFIX)
                )
                refused = (
                    key in UNTRUSTED_SEAT_KEYS or key in UNTRUSTED_AGENT_KEYS or _is_command_key(str(key))
                )
                if refused or url_model or agent_model:
                    ignored.append(f"models.{name}.{key}")
                else:
                    kept[key] = value
            if "agent" in seat and "model" not in kept and not _defined_below(trusted_below, name):
                dropped.add(str(name))
                continue
            clean_models[name] = kept
        clean["models"] = clean_models
    policy = raw.get("policy")
    if isinstance(policy, Mapping):
        below = trusted_below.get("policy")
        below_policy = below if isinstance(below, Mapping) else {}
        clean_policy: dict[str, Any] = {}
        for key, value in policy.items():
            if _is_command_key(str(key)):
                ignored.append(f"policy.{key}")
            elif key in ADDITIVE_POLICY_KEYS and isinstance(value, list):
                earlier = below_policy.get(key)
                base = list(earlier) if isinstance(earlier, list) else []
                clean_policy[key] = base + [item for item in value if item not in base]
            else:
                clean_policy[key] = value
        clean["policy"] = clean_policy
    if dropped and isinstance(raw.get("panels"), Mapping):
        clean["panels"] = _without_seats(raw["panels"], dropped)
    store = raw.get("store")
    if isinstance(store, Mapping):
        clean["store"] = {key: value for key, value in store.items() if key not in UNTRUSTED_STORE_KEYS}
        ignored.extend(f"store.{key}" for key in store if key in UNTRUSTED_STORE_KEYS)
    gateway = raw.get("gateway")
    if isinstance(gateway, Mapping):
        clean["gateway"] = {key: value for key, value in gateway.items() if key not in UNTRUSTED_GATEWAY_KEYS}
        ignored.extend(f"gateway.{key}" for key in gateway if key in UNTRUSTED_GATEWAY_KEYS)
    return clean, ignored


def _defined_below(trusted_below: Mapping[str, Any], name: object) -> bool:
    """Whether a trusted layer below defines seat `name` (then the workspace's table only amends it)."""
    models = trusted_below.get("models")
    return isinstance(models, Mapping) and name in models


def _without_seats(panels: Mapping[str, Any], dropped: set[str]) -> dict[str, Any]:
    """`[panels]` without the seats an untrusted config may not define (agent seats it dropped)."""
    clean: dict[str, Any] = {}
    for key, value in panels.items():
        if isinstance(value, list):
            clean[key] = [item for item in value if item not in dropped]
        elif key == "arbiter" and value in dropped:
            continue
        elif key == "auto" and isinstance(value, Mapping) and isinstance(value.get("from"), list):
            clean[key] = {**value, "from": [item for item in value["from"] if item not in dropped]}
        else:
            clean[key] = value
    return clean


def untrusted_notice(label: str, ignored: list[str], workspace: Path | None) -> str:
    """The one notice about an untrusted workspace config, naming what was ignored and `chorus trust`."""
    where = f" {workspace}" if workspace is not None else ""
    return (
        f"{label} is in a workspace you have not trusted, so its {', '.join(ignored)} "
        f"{'is' if len(ignored) == 1 else 'are'} ignored (panels, thresholds, model ids and instructions "
        f"still apply). If you trust this repository, run `chorus trust{where}`."
    )
