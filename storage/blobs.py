"""Encrypted blob store for photos and clips: rows keep key, type, size and sha256, never the bytes."""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_MAGIC = b"CKB1"
_NONCE_LEN = 12


class BlobError(Exception):
    """Base class for blob store failures."""


class BlobNotFound(BlobError):
    """No blob is stored under that key."""


class BlobIntegrityError(BlobError):
    """The stored bytes were altered or were encrypted with another key."""


class BlobStoreUnavailable(BlobError):
    """The store cannot be used now (unwritable, read-only, I/O error); the OSError is the cause."""

    def __init__(self, message: str, *, os_errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = os_errno


class BlobStoreFull(BlobStoreUnavailable):
    """The store has no space left (ENOSPC) or the quota is used up (EDQUOT)."""


_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def storage_error(exc: OSError, action: str) -> BlobStoreUnavailable:
    """The blob store error for an OSError: BlobStoreFull for a full disk or quota, else BlobStoreUnavailable."""
    kind = BlobStoreFull if exc.errno in _FULL_ERRNOS else BlobStoreUnavailable
    return kind(f"blob store cannot {action}: {exc.strerror or exc}", os_errno=exc.errno)


@dataclass(frozen=True)
class StoredBlob:
    key: str
    content_type: str
    size: int
    sha256: str


class BlobStore(Protocol):
    def put(self, data: bytes, *, content_type: str) -> StoredBlob: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...


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


class FilesystemBlobStore:
    """Blobs encrypted with AES-GCM under root, written atomically (temp file + rename)."""

    def __init__(self, root: str | os.PathLike[str], key: bytes) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._aead = AESGCM(key)

    def _path(self, key: str) -> Path:
        if not key.isalnum() or len(key) < 8:
            raise BlobNotFound(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes, *, content_type: str) -> StoredBlob:
        """Encrypt and store data under a new random key; a full or unwritable store raises BlobStoreUnavailable."""
        key = secrets.token_hex(16)
        path = self._path(key)
        nonce = secrets.token_bytes(_NONCE_LEN)
        # The key is authenticated too, so a file moved to another name fails to decrypt.
        sealed = _MAGIC + nonce + self._aead.encrypt(nonce, data, key.encode())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write_atomically(path, sealed)
        except OSError as exc:
            raise storage_error(exc, "store a blob") from exc
        return StoredBlob(key=key, content_type=content_type, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    @staticmethod
    def _write_atomically(path: Path, sealed: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(sealed)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def probe(self) -> None:
        """Write and delete a tiny file in the store (a readiness check); raises BlobStoreUnavailable."""
        try:
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".probe-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(b"probe")
            finally:
                Path(tmp).unlink(missing_ok=True)
        except OSError as exc:
            raise storage_error(exc, "take a write") from exc

    def get(self, key: str) -> bytes:
        """Read and decrypt a blob; tampering raises BlobIntegrityError, a missing file BlobNotFound."""
        path = self._path(key)
        try:
            sealed = path.read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        except IsADirectoryError as exc:
            raise BlobIntegrityError(f"blob {key} is not a file") from exc
        except OSError as exc:
            raise storage_error(exc, "read a blob") from exc
        if not sealed.startswith(_MAGIC) or len(sealed) < len(_MAGIC) + _NONCE_LEN + 16:
            raise BlobIntegrityError(f"blob {key} is not in the expected format")
        nonce = sealed[len(_MAGIC) : len(_MAGIC) + _NONCE_LEN]
        try:
            return self._aead.decrypt(nonce, sealed[len(_MAGIC) + _NONCE_LEN :], key.encode())
        except InvalidTag as exc:
            raise BlobIntegrityError(f"blob {key} failed authentication (altered or wrong key)") from exc

    def delete(self, key: str) -> None:
        """Remove a blob; deleting a missing blob is not an error."""
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under key."""
        try:
            return self._path(key).exists()
        except BlobNotFound:
            return False
