"""A keyring of AES-256-GCM keys with ids: new data is sealed with the newest key, old data opens with its own.

Sealed format (version 2): b"CKE2" | key id length (1 byte) | key id (ASCII) | 12-byte nonce | ciphertext+tag.
The key id and the caller's associated data (the blob key, or the row a template belongs to) are authenticated, so
a sealed value moved to another place, or relabelled with another key id, fails to open.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED_MAGIC = b"CKE2"
NONCE_LEN = 12
TAG_LEN = 16
_MAX_ID_LEN = 64


class KeyringError(ValueError):
    """The keyring configuration is unusable."""


class UnknownKey(KeyError):
    """The sealed value names a key id the keyring does not hold (a retired key)."""


class SealError(ValueError):
    """The sealed value is malformed or failed authentication."""


def decode_key(value: str) -> bytes:
    """Parse a base64 (standard or url-safe) AES-256 key from configuration."""
    raw = value.strip()
    try:
        # validate=True: stray characters must be an error, not silently dropped from the key.
        key = base64.b64decode(raw.replace("-", "+").replace("_", "/") + "=" * (-len(raw) % 4), validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("encryption key must be base64") from exc
    if len(key) != 32:
        raise ValueError("encryption key must decode to 32 bytes (AES-256)")
    return key


def generate_key() -> str:
    """A fresh random AES-256 key, url-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def fingerprint_id(key: bytes) -> str:
    """The id of a key given without one: stable, so CHECKIN_ENCRYPTION_KEY always names the same ring entry."""
    return "k" + hashlib.sha256(b"checkin-key-id\x00" + key).hexdigest()[:12]


def _valid_id(key_id: str) -> bool:
    return 0 < len(key_id) <= _MAX_ID_LEN and all(c.isalnum() or c in "-_." for c in key_id)


class Keyring:
    """Encryption keys by id, oldest first; the last one seals new data."""

    def __init__(self, keys: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> None:
        items = list(keys.items()) if isinstance(keys, Mapping) else list(keys)
        if not items:
            raise KeyringError("the keyring needs at least one key")
        self._keys: dict[str, AESGCM] = {}
        self._raw: dict[str, bytes] = {}
        for key_id, key in items:
            if not _valid_id(key_id):
                raise KeyringError(f"key id {key_id!r} must be 1-64 letters, digits, '-', '_' or '.'")
            if key_id in self._keys:
                raise KeyringError(f"key id {key_id!r} appears twice")
            if len(key) != 32:
                raise KeyringError(f"key {key_id!r} must be 32 bytes (AES-256)")
            if key in self._raw.values():
                raise KeyringError(f"key {key_id!r} repeats another key of the ring")
            self._keys[key_id] = AESGCM(key)
            self._raw[key_id] = key
        self.newest_id = items[-1][0]

    @classmethod
    def single(cls, key: bytes) -> Keyring:
        """A ring of one key, named by its fingerprint (what CHECKIN_ENCRYPTION_KEY alone means)."""
        return cls([(fingerprint_id(key), key)])

    @classmethod
    def parse(cls, value: str, *, legacy: str = "") -> Keyring:
        """Parse "id1:base64,id2:base64" (newest last; an entry without "id:" is named by its fingerprint).

        legacy, when given, is a single key (CHECKIN_ENCRYPTION_KEY) kept as the oldest entry unless it is already
        in the list, so an instance that adds a keyring still opens what the single key sealed.
        """
        items: list[tuple[str, bytes]] = []
        for entry in (part.strip() for part in value.split(",")):
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                key_id, encoded = "", entry
            try:
                key = decode_key(encoded)
            except ValueError as exc:
                raise KeyringError(f"key {key_id or '#' + str(len(items) + 1)}: {exc}") from exc
            items.append((key_id.strip() or fingerprint_id(key), key))
        if legacy.strip():
            old = decode_key(legacy)
            if all(old != key for _, key in items):
                items.insert(0, (fingerprint_id(old), old))
        return cls(items)

    @property
    def ids(self) -> list[str]:
        """Key ids, oldest first."""
        return list(self._keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def _aad(self, key_id: str, associated: bytes) -> bytes:
        return SEALED_MAGIC + b"\x00" + key_id.encode() + b"\x00" + associated

    def seal(self, data: bytes, *, associated: bytes) -> bytes:
        """Encrypt data under the newest key, binding associated (e.g. the blob key) and the key id."""
        key_id = self.newest_id
        nonce = secrets.token_bytes(NONCE_LEN)
        header = SEALED_MAGIC + bytes([len(key_id)]) + key_id.encode() + nonce
        return header + self._keys[key_id].encrypt(nonce, data, self._aad(key_id, associated))

    def open(self, sealed: bytes, *, associated: bytes) -> bytes:
        """Decrypt a sealed value; SealError when malformed or altered, UnknownKey when its key is not held."""
        key_id, nonce, body = self.split(sealed)
        aead = self._keys.get(key_id)
        if aead is None:
            raise UnknownKey(key_id)
        try:
            return aead.decrypt(nonce, body, self._aad(key_id, associated))
        except InvalidTag as exc:
            raise SealError("sealed value failed authentication (altered, moved or wrong key)") from exc

    @staticmethod
    def split(sealed: bytes) -> tuple[str, bytes, bytes]:
        """The key id, nonce and ciphertext of a sealed value (SealError when malformed)."""
        if not sealed.startswith(SEALED_MAGIC) or len(sealed) < len(SEALED_MAGIC) + 1:
            raise SealError("not a sealed value")
        id_len = sealed[len(SEALED_MAGIC)]
        start = len(SEALED_MAGIC) + 1
        if id_len == 0 or len(sealed) < start + id_len + NONCE_LEN + TAG_LEN:
            raise SealError("sealed value is truncated")
        try:
            key_id = sealed[start:start + id_len].decode("ascii")
        except UnicodeDecodeError as exc:
            raise SealError("sealed value has a bad key id") from exc
        nonce = sealed[start + id_len:start + id_len + NONCE_LEN]
        return key_id, nonce, sealed[start + id_len + NONCE_LEN:]

    def legacy_keys(self) -> list[AESGCM]:
        """Every key, newest first (to open version-1 blobs, which carry no key id)."""
        return [self._keys[key_id] for key_id in reversed(self.ids)]


def session_keyring(session: Any) -> Keyring:
    """The keyring the session's Database was configured with (storage.db.Database.configure)."""
    keyring = session.info.get("keyring")
    if keyring is None:
        raise RuntimeError("this database session has no keyring: configure the Database with keyring=")
    return keyring


def template_associated(reference_id: int, template: str) -> bytes:
    """What a sealed template is bound to: its reference and embedder, so it cannot be moved to another row."""
    return f"reference_template:{reference_id}:{template}".encode()
