"""Code at rest, sealed with AES-GCM (`cryptography`).

The key is 32 bytes: `CHORUS_STORE_KEY` (64 hex characters or URL-safe base64), else a key file
`chorus.key` beside the SQLite database (or in the user data dir for a PostgreSQL store), created
0600 on first use. Every sealed value is bound to its context (associated data), so a blob
copied to another row does not open. A wrong or missing key opens nothing: `open` returns None.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from orchestration.memory.errors import StoreError

KEY_ENV: Final = "CHORUS_STORE_KEY"
NONCE_BYTES: Final = 12


def _decode_key(text: str) -> bytes:
    text = text.strip()
    try:
        key = (
            bytes.fromhex(text)
            if len(text) == 64
            else base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        )
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != 32:
        raise StoreError(f"{KEY_ENV} must be 32 bytes, as 64 hex characters or URL-safe base64")
    return key


def _read_or_create_key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise StoreError(f"the store key file {path} is readable by others; run: chmod 600 {path}")
    return _decode_key(path.read_text())


class CodeCipher:
    """Seals and opens text with one AES-GCM key, loaded (or created) on first use."""

    __slots__ = ("_aead", "_key_id", "key_file")

    def __init__(self, key_file: Path, key: bytes | None = None) -> None:
        self.key_file = key_file
        self._aead: AESGCM | None = None
        self._key_id = ""
        if key is not None:
            self._use(key)

    def _use(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self._key_id = hashlib.sha256(b"chorus-store-key:" + key).hexdigest()[:16]

    def _cipher(self, create: bool) -> AESGCM | None:
        if self._aead is None:
            if os.environ.get(KEY_ENV):
                self._use(_decode_key(os.environ[KEY_ENV]))
            elif create or self.key_file.exists():
                self._use(_read_or_create_key_file(self.key_file))
        return self._aead

    @property
    def key_id(self) -> str:
        """Names the key (a hash of it, never the key): which key sealed a blob."""
        self._cipher(create=True)
        return self._key_id

    def seal(self, text: str, context: str) -> bytes:
        """Nonce + ciphertext of `text`, bound to `context`."""
        aead = self._cipher(create=True)
        if aead is None:
            raise StoreError("no store key could be loaded or created")
        nonce = os.urandom(NONCE_BYTES)
        return nonce + aead.encrypt(nonce, text.encode("utf-8", "surrogatepass"), context.encode())

    def open(self, sealed: bytes, context: str) -> str | None:
        """The text `seal` sealed under `context`, or None (other key, other context, tampered)."""
        try:
            aead = self._cipher(create=False)
        except StoreError:
            return None
        if aead is None or len(sealed) <= NONCE_BYTES:
            return None
        try:
            plain = aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
        except InvalidTag:
            return None
        return plain.decode("utf-8", "surrogatepass")
