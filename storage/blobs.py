"""Encrypted blob store for photos and clips: rows keep key, type, size and sha256, never the bytes."""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag

from storage.crypto import SEALED_MAGIC, Keyring, SealError, UnknownKey, decode_key, generate_key

__all__ = [
    "KEY_STEM_LENGTH", "BlobEntry", "BlobError", "BlobIntegrityError", "BlobKeyRetired", "BlobNotFound", "BlobStore",
    "BlobStoreFull", "BlobStoreUnavailable", "DerivedKeys", "FilesystemBlobStore", "ManagedBlobStore", "S3BlobStore",
    "StoredBlob", "decode_key", "generate_key", "key_stem", "make_blob_store", "storage_error",
]

# Version 1 blobs (before the keyring): b"CKB1" | nonce | ciphertext, the blob key as associated data, no key id.
_V1_MAGIC = b"CKB1"
_NONCE_LEN = 12
_TAG_LEN = 16


class BlobError(Exception):
    """Base class for blob store failures."""


class BlobNotFound(BlobError):
    """No blob is stored under that key."""


class BlobIntegrityError(BlobError):
    """The stored bytes were altered or were encrypted with another key."""


class BlobKeyRetired(BlobIntegrityError):
    """The blob was sealed with a key id the keyring no longer holds."""


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
class Payload:
    """Uploaded bytes with their sha256 and sniffed content type, computed once when the upload arrives.

    Idempotency, the replay guard and the blob store all read the hash from here instead of hashing again.
    """

    data: bytes = field(repr=False)
    sha256: str
    # From the magic bytes ("application/octet-stream" when they name no known type); None: not sniffed.
    content_type: str | None = None

    @classmethod
    def of(cls, data: bytes, content_type: str | None = None) -> Payload:
        """Hash data once."""
        return cls(data=data, sha256=hashlib.sha256(data).hexdigest(), content_type=content_type)

    @property
    def size(self) -> int:
        """Length in bytes."""
        return len(self.data)


def as_payload(data: bytes | Payload) -> Payload:
    """A Payload as it is, or bytes hashed into one."""
    return data if isinstance(data, Payload) else Payload.of(data)


@dataclass(frozen=True)
class StoredBlob:
    """Where a blob was stored and what it holds: key, content type, size and sha256 of the plain bytes."""

    key: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BlobEntry:
    """One stored object, as listed by a store (for fsck)."""

    key: str
    modified_at: datetime


class BlobStore(Protocol):
    """Where encrypted evidence lives (the filesystem or an S3-compatible bucket), as the domain uses it."""

    def put(self, data: bytes | Payload, *, content_type: str, key: str | None = None) -> StoredBlob:
        """Encrypt and store data (a Payload keeps its hash) under key (default a new random one)."""

    def get(self, key: str) -> bytes:
        """The decrypted bytes; BlobNotFound when missing, BlobIntegrityError when altered."""

    def delete(self, key: str) -> None:
        """Remove the blob (a missing one is no error)."""

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under key."""


class ManagedBlobStore(BlobStore, Protocol):
    """A store the maintenance commands can list and re-key (both stores of this module)."""

    def keys(self) -> Iterator[BlobEntry]:
        """Every stored blob."""

    def key_id(self, key: str) -> str | None:
        """The id of the key the blob is sealed with (None for a version-1 blob)."""

    def rewrap(self, key: str) -> bool:
        """Re-encrypt the blob under the newest key; False when it already was."""


def valid_key(key: str) -> bool:
    """Whether key has the shape of a blob key (random hex); anything else is never a blob."""
    return 8 <= len(key) <= 64 and key.isalnum() and key.isascii()


def _as_keyring(key: bytes | Keyring) -> Keyring:
    return key if isinstance(key, Keyring) else Keyring.single(key)


def _open_sealed(keyring: Keyring, key: str, sealed: bytes) -> bytes:
    if sealed.startswith(SEALED_MAGIC):
        try:
            return keyring.open(sealed, associated=key.encode())
        except UnknownKey as exc:
            raise BlobKeyRetired(f"blob {key} is sealed with key {exc.args[0]!r}, which is not in the keyring") from exc
        except SealError as exc:
            raise BlobIntegrityError(f"blob {key}: {exc}") from exc
    if sealed.startswith(_V1_MAGIC) and len(sealed) >= len(_V1_MAGIC) + _NONCE_LEN + _TAG_LEN:
        nonce = sealed[len(_V1_MAGIC):len(_V1_MAGIC) + _NONCE_LEN]
        # Version 1 names no key: it was sealed by the single key of its time, which is one of the ring's.
        for aead in keyring.legacy_keys():
            try:
                return aead.decrypt(nonce, sealed[len(_V1_MAGIC) + _NONCE_LEN:], key.encode())
            except InvalidTag:
                continue
        raise BlobIntegrityError(f"blob {key} failed authentication (altered or wrong key)")
    raise BlobIntegrityError(f"blob {key} is not in the expected format")


def sealed_key_id(sealed: bytes) -> str | None:
    """The key id in a sealed blob's header; None for a version-1 blob (which names none)."""
    if sealed.startswith(SEALED_MAGIC):
        try:
            return Keyring.split(sealed)[0]
        except SealError:
            return None
    return None


def _new_key(key: str | None) -> str:
    if key is None:
        return secrets.token_hex(16)
    if not valid_key(key):
        raise ValueError(f"not a blob key: {key!r}")
    return key


# A derived key is KEY_STEM_LENGTH hex characters naming the request, then as many naming the blob within it.
KEY_STEM_LENGTH = 16


def key_stem(*parts: str) -> str:
    """The stem of the blob keys one retryable request derives (from what identifies the request and its body)."""
    return hashlib.sha256("\0".join(("blob-stem", *parts)).encode()).hexdigest()[:KEY_STEM_LENGTH]


class DerivedKeys:
    """A blob store whose new blobs get keys derived from a request's stem and their order within the request.

    A retry of the same request (same Idempotency-Key, same body) runs the same code, so it writes the same keys
    again: whatever a killed first attempt stored is replaced and referenced by the retry's rows instead of being
    left as an orphan. Everything else goes to the wrapped store.
    """

    def __init__(self, store: BlobStore, stem: str, *, still_owned: Callable[[], bool] | None = None) -> None:
        if len(stem) != KEY_STEM_LENGTH or not valid_key(stem):
            raise ValueError("a key stem is KEY_STEM_LENGTH hex characters")
        self.store = store
        self.stem = stem
        self.written = 0
        # Whether the request still owns its reservation: after a retry took it over, the retry writes these same
        # keys, so this request (rolling back late) must not delete them.
        self.still_owned = still_owned

    def put(self, data: bytes | Payload, *, content_type: str, key: str | None = None) -> StoredBlob:
        """Store data under the request's next derived key (or under key when one is given)."""
        if key is None:
            self.written += 1
            key = self.stem + hashlib.sha256(f"{self.stem}:{self.written}".encode()).hexdigest()[:KEY_STEM_LENGTH]
        return self.store.put(data, content_type=content_type, key=key)

    def get(self, key: str) -> bytes:
        """Read from the wrapped store."""
        return self.store.get(key)

    def delete(self, key: str) -> None:
        """Delete from the wrapped store, except a derived key of a request whose reservation was taken over."""
        if key.startswith(self.stem) and self.still_owned is not None and not self.still_owned():
            return
        self.store.delete(key)

    def exists(self, key: str) -> bool:
        """Ask the wrapped store."""
        return self.store.exists(key)

    def __getattr__(self, name: str) -> Any:
        # probe(), keys(), key_id() and the rest of a managed store's surface.
        return getattr(self.store, name)


def _stored(key: str, payload: Payload, content_type: str) -> StoredBlob:
    return StoredBlob(key=key, content_type=content_type, size=payload.size, sha256=payload.sha256)




class FilesystemBlobStore:
    """Blobs encrypted with AES-GCM under root, written atomically (temp file + rename)."""

    def __init__(self, root: str | os.PathLike[str], key: bytes | Keyring) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.keyring = _as_keyring(key)

    def _path(self, key: str) -> Path:
        if not valid_key(key):
            raise BlobNotFound(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes | Payload, *, content_type: str, key: str | None = None) -> StoredBlob:
        """Encrypt and store data under key (default a new random one; an existing blob under it is replaced);
        a full or unwritable store raises BlobStoreUnavailable."""
        key = _new_key(key)
        payload = as_payload(data)
        # The key is authenticated too, so a file moved to another name fails to decrypt.
        self._write(key, self.keyring.seal(payload.data, associated=key.encode()))
        return _stored(key, payload, content_type)

    def _write(self, key: str, sealed: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write_atomically(path, sealed)
        except OSError as exc:
            raise storage_error(exc, "store a blob") from exc

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

    def _read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        except IsADirectoryError as exc:
            raise BlobIntegrityError(f"blob {key} is not a file") from exc
        except OSError as exc:
            raise storage_error(exc, "read a blob") from exc

    def get(self, key: str) -> bytes:
        """Read and decrypt a blob; tampering raises BlobIntegrityError, a missing file BlobNotFound."""
        return _open_sealed(self.keyring, key, self._read(key))

    def key_id(self, key: str) -> str | None:
        """The id of the key the blob is sealed with (None for a version-1 blob); BlobNotFound when missing."""
        return sealed_key_id(self._read(key))

    def rewrap(self, key: str) -> bool:
        """Re-encrypt one blob under the newest key, in place and atomically; False when it already was."""
        sealed = self._read(key)
        if sealed_key_id(sealed) == self.keyring.newest_id:
            return False
        data = _open_sealed(self.keyring, key, sealed)
        self._write(key, self.keyring.seal(data, associated=key.encode()))
        return True

    def delete(self, key: str) -> None:
        """Remove a blob; deleting a missing blob is not an error."""
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under key."""
        try:
            return self._path(key).exists()
        except BlobNotFound:
            return False

    def keys(self) -> Iterator[BlobEntry]:
        """Every stored blob (temp and probe files are not blobs)."""
        for path in self.root.glob("??/??/*"):
            if path.is_file() and valid_key(path.name) and path.parent.parent.name == path.name[:2]:
                try:
                    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                except FileNotFoundError:
                    continue
                yield BlobEntry(path.name, modified)


_S3_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_S3_FULL = frozenset({"XMinioStorageFull", "QuotaExceeded", "XAmzStorageFull"})


class S3BlobStore:
    """Blobs sealed client-side with AES-GCM and stored as objects of an S3-compatible bucket under prefix.

    One PUT per blob, sent only once the bytes are fully sealed, with a Content-MD5 digest the server verifies: S3
    makes an object visible whole or not at all, so a reader never sees half a blob. Credentials come from the
    standard AWS_* environment (or instance role); nothing is stored in the configuration.
    """

    def __init__(self, *, bucket: str, key: bytes | Keyring, prefix: str = "", endpoint_url: str | None = None,
                 region: str | None = None, client: Any = None) -> None:
        if not bucket:
            raise ValueError("an S3 blob store needs a bucket (CHECKIN_S3_BUCKET)")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.keyring = _as_keyring(key)
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30,
                            # Our Content-MD5 instead of the CRC trailer newer SDKs add, which older
                            # S3-compatible servers refuse.
                            request_checksum_calculation="when_required",
                            response_checksum_validation="when_required")
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url or None,
                                                    region_name=region or None, config=config)
        self.client = client

    def _name(self, key: str) -> str:
        if not valid_key(key):
            raise BlobNotFound(key)
        return f"{self.prefix}{key[:2]}/{key}"

    @staticmethod
    def _error(exc: Exception, action: str) -> BlobStoreUnavailable:
        code = _s3_code(exc)
        kind = BlobStoreFull if code in _S3_FULL else BlobStoreUnavailable
        return kind(f"blob store cannot {action}: {code or type(exc).__name__}")

    def _write(self, key: str, sealed: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        # Content-MD5 is the digest every S3-compatible server checks (MinIO, Ceph, the clouds' own), unlike the
        # newer x-amz-checksum-* headers; the AES-GCM tag is what protects the blob at rest.
        digest = base64.b64encode(hashlib.md5(sealed, usedforsecurity=False).digest()).decode()
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=sealed,
                                   ContentType="application/octet-stream", ContentMD5=digest,
                                   Metadata={"checkin-key-id": self.keyring.newest_id})
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "store a blob") from exc

    def put(self, data: bytes | Payload, *, content_type: str, key: str | None = None) -> StoredBlob:
        """Seal data, then store it as one object under key (default a new random one; an existing object is
        replaced); failures raise BlobStoreUnavailable."""
        key = _new_key(key)
        payload = as_payload(data)
        self._write(key, self.keyring.seal(payload.data, associated=key.encode()))
        return _stored(key, payload, content_type)

    def _read(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
            return response["Body"].read()
        except ClientError as exc:
            if _s3_code(exc) in _S3_MISSING:
                raise BlobNotFound(key) from exc
            raise self._error(exc, "read a blob") from exc
        except BotoCoreError as exc:
            raise self._error(exc, "read a blob") from exc

    def get(self, key: str) -> bytes:
        """Read and decrypt a blob; tampering raises BlobIntegrityError, a missing object BlobNotFound."""
        return _open_sealed(self.keyring, key, self._read(key))

    def key_id(self, key: str) -> str | None:
        """The id of the key the blob is sealed with (None for a version-1 blob); BlobNotFound when missing."""
        return sealed_key_id(self._read(key))

    def rewrap(self, key: str) -> bool:
        """Re-encrypt one blob under the newest key (one overwriting PUT); False when it already was.

        The object's metadata names its key, so a resumed rotation skips done blobs with a HEAD instead of a GET
        (metadata is not authenticated: at worst a blob is skipped and later fails to open, which fsck reports).
        """
        if self._metadata_key_id(key) == self.keyring.newest_id:
            return False
        sealed = self._read(key)
        if sealed_key_id(sealed) == self.keyring.newest_id:
            return False
        data = _open_sealed(self.keyring, key, sealed)
        self._write(key, self.keyring.seal(data, associated=key.encode()))
        return True

    def _metadata_key_id(self, key: str) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _s3_code(exc) in _S3_MISSING:
                raise BlobNotFound(key) from exc
            raise self._error(exc, "look up a blob") from exc
        except BotoCoreError as exc:
            raise self._error(exc, "look up a blob") from exc
        return (head.get("Metadata") or {}).get("checkin-key-id")

    def delete(self, key: str) -> None:
        """Remove a blob; deleting a missing blob is not an error."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        except BlobNotFound:
            return
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "delete a blob") from exc

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under key."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except BlobNotFound:
            return False
        except ClientError as exc:
            if _s3_code(exc) in _S3_MISSING:
                return False
            raise self._error(exc, "look up a blob") from exc
        except BotoCoreError as exc:
            raise self._error(exc, "look up a blob") from exc
        return True

    def probe(self) -> None:
        """Write and delete a tiny object under the prefix (a readiness check); raises BlobStoreUnavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        name = f"{self.prefix}.probe-{secrets.token_hex(8)}"
        try:
            self.client.put_object(Bucket=self.bucket, Key=name, Body=b"probe")
            self.client.delete_object(Bucket=self.bucket, Key=name)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "take a write") from exc

    def keys(self) -> Iterator[BlobEntry]:
        """Every stored blob under the prefix (other objects of the bucket are not blobs)."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                rest = item["Key"][len(self.prefix):]
                shard, _, key = rest.partition("/")
                if valid_key(key) and shard == key[:2]:
                    yield BlobEntry(key, item["LastModified"])


def _s3_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


BLOB_BACKENDS = ("filesystem", "s3")


def make_blob_store(config: Mapping[str, Any]) -> FilesystemBlobStore | S3BlobStore:
    """The blob store a resolved configuration selects (BLOB_BACKEND), sealing with its keyring."""
    keyring = config.get("KEYRING") or Keyring.single(decode_key(config["ENCRYPTION_KEY"]))
    backend = str(config.get("BLOB_BACKEND") or "filesystem")
    if backend == "s3":
        return S3BlobStore(bucket=config.get("S3_BUCKET") or "", key=keyring, prefix=config.get("S3_PREFIX") or "",
                           endpoint_url=config.get("S3_ENDPOINT_URL") or None, region=config.get("S3_REGION") or None)
    if backend != "filesystem":
        raise ValueError(f"blob backend must be one of {', '.join(BLOB_BACKENDS)}, not {backend!r}")
    return FilesystemBlobStore(config["BLOB_PATH"], keyring)
