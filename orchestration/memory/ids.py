"""Identifiers and hashes the memory keys on: run ids, stable finding ids, code fingerprints.

A fingerprint identifies a finding on a piece of code independently of where that code sits in
the file: the normalized lines around the finding (whitespace collapsed, blank lines dropped)
plus the finding's cluster key. A dismissed finding stays hidden while its fingerprint matches and
comes back when the code around it changes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable

_SPACE = re.compile(r"\s+")


def new_run_id() -> str:
    """16 hex characters (64 random bits): unique across processes without asking the database."""
    return secrets.token_hex(8)


def content_hash(text: str) -> str:
    """SHA-256 of `text` (hex): what a run saw, without storing it."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def normalized_lines(lines: Iterable[str]) -> list[str]:
    """`lines` with runs of whitespace collapsed, ends stripped, blank lines dropped."""
    normalized = (_SPACE.sub(" ", line).strip() for line in lines)
    return [line for line in normalized if line]


def code_fingerprint(lines: Iterable[str], cluster_key: str) -> str:
    """32 hex characters naming one finding (`cluster_key`) on these lines of code."""
    digest = hashlib.sha256()
    for line in normalized_lines(lines):
        digest.update(line.encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    digest.update(b"\0")
    digest.update(cluster_key.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def stable_finding_id(run_id: str, fingerprint: str) -> str:
    """16 hex characters: the same finding of the same run always gets the same id."""
    return hashlib.sha256(f"{run_id}:{fingerprint}".encode()).hexdigest()[:16]
