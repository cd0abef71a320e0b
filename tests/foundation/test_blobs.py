"""storage.blobs: the filesystem and S3 stores, encrypted at rest, authenticated, atomic, private.

Every store test runs on both stores (the S3 one against moto's server on a local port); CHECKIN_TEST_BLOB_BACKENDS
restricts the set.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest

from storage.blobs import (
    BlobIntegrityError,
    BlobKeyRetired,
    BlobNotFound,
    FilesystemBlobStore,
    S3BlobStore,
    decode_key,
    generate_key,
    make_blob_store,
)
from storage.crypto import Keyring
from tests.conftest import TEST_BUCKET, blob_backends, s3_settings

MARKER = b"PLAINTEXT-MARKER-7f3a9c"
PAYLOAD = b"\xff\xd8\xff\xe0 fake jpeg " + MARKER + b" " + bytes(range(256)) * 8


def _make(backend: str, tmp_path: Path, request: pytest.FixtureRequest, key: bytes | Keyring,
          prefix: str | None = None) -> FilesystemBlobStore | S3BlobStore:
    if backend == "s3":
        settings = s3_settings(request.getfixturevalue("s3_endpoint"))
        return S3BlobStore(bucket=TEST_BUCKET, key=key, prefix=prefix or settings["S3_PREFIX"],
                           endpoint_url=settings["S3_ENDPOINT_URL"], region="us-east-1")
    return FilesystemBlobStore(tmp_path / "blobs", key)


@pytest.fixture(params=blob_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> FilesystemBlobStore | S3BlobStore:
    return _make(backend, tmp_path, request, decode_key(generate_key()))


def _another(store, tmp_path, request, key):  # type: ignore[no-untyped-def]
    """A store on the same place (folder or bucket prefix) with other keys."""
    backend = "s3" if isinstance(store, S3BlobStore) else "filesystem"
    return _make(backend, tmp_path, request, key, prefix=getattr(store, "prefix", None))


class _FileObject:
    """What a test needs of one stored object: read its bytes, overwrite them, move it."""

    def __init__(self, store, name):  # type: ignore[no-untyped-def]
        self.store, self.name = store, name

    def read_bytes(self) -> bytes:
        if isinstance(self.store, S3BlobStore):
            return self.store.client.get_object(Bucket=self.store.bucket, Key=self.name)["Body"].read()
        return Path(self.name).read_bytes()

    def write_bytes(self, data: bytes) -> None:
        if isinstance(self.store, S3BlobStore):
            self.store.client.put_object(Bucket=self.store.bucket, Key=self.name, Body=data)
        else:
            Path(self.name).write_bytes(data)


def _files(store) -> list[_FileObject]:  # type: ignore[no-untyped-def]
    """Every file under the root, or every object under the prefix (temporary ones included)."""
    if isinstance(store, S3BlobStore):
        pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=store.prefix)
        return [_FileObject(store, item["Key"]) for page in pages for item in page.get("Contents", [])]
    return [_FileObject(store, str(path)) for path in store.root.rglob("*") if path.is_file()]


def _blob_path(store, key: str) -> _FileObject:  # type: ignore[no-untyped-def]
    [path] = [path for path in _files(store) if path.name.rsplit("/", 1)[-1] == key]
    return path


def _replace(store, source: _FileObject, target: _FileObject) -> None:  # type: ignore[no-untyped-def]
    target.write_bytes(source.read_bytes())
    if isinstance(store, S3BlobStore):
        store.client.delete_object(Bucket=store.bucket, Key=source.name)
    else:
        Path(source.name).unlink()


def test_round_trip(store):
    stored = store.put(PAYLOAD, content_type="image/jpeg")

    assert store.get(stored.key) == PAYLOAD
    assert stored.content_type == "image/jpeg"
    assert stored.size == len(PAYLOAD)
    assert stored.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert store.exists(stored.key)


def test_empty_blob_round_trip(store):
    stored = store.put(b"", content_type="application/octet-stream")

    assert store.get(stored.key) == b""
    assert stored.size == 0


def test_same_bytes_get_different_keys_and_ciphertexts(store):
    one = store.put(PAYLOAD, content_type="image/jpeg")
    two = store.put(PAYLOAD, content_type="image/jpeg")

    assert one.key != two.key
    assert _blob_path(store, one.key).read_bytes() != _blob_path(store, two.key).read_bytes()


def test_files_on_disk_are_not_plaintext(store):
    store.put(PAYLOAD, content_type="image/jpeg")

    files = _files(store)
    assert files
    for path in files:
        content = path.read_bytes()
        assert MARKER not in content
        assert bytes(range(256)) not in content


def test_flipped_byte_is_integrity_error(store):
    stored = store.put(PAYLOAD, content_type="image/jpeg")
    path = _blob_path(store, stored.key)
    sealed = bytearray(path.read_bytes())
    sealed[len(sealed) // 2] ^= 0x01
    path.write_bytes(bytes(sealed))

    with pytest.raises(BlobIntegrityError):
        store.get(stored.key)


def test_truncated_file_is_integrity_error(store):
    stored = store.put(PAYLOAD, content_type="image/jpeg")
    path = _blob_path(store, stored.key)
    path.write_bytes(path.read_bytes()[:10])

    with pytest.raises(BlobIntegrityError):
        store.get(stored.key)


def test_store_with_another_key_cannot_read(store, tmp_path, request):
    stored = store.put(PAYLOAD, content_type="image/jpeg")
    other = _another(store, tmp_path, request, decode_key(generate_key()))

    with pytest.raises(BlobIntegrityError):
        other.get(stored.key)


def test_blob_moved_to_another_key_fails(store):
    victim = store.put(PAYLOAD, content_type="image/jpeg")
    swapped = store.put(b"some other photo", content_type="image/jpeg")
    _replace(store, _blob_path(store, victim.key), _blob_path(store, swapped.key))

    with pytest.raises(BlobIntegrityError):
        store.get(swapped.key)


def test_missing_key_is_not_found(store):
    stored = store.put(PAYLOAD, content_type="image/jpeg")

    with pytest.raises(BlobNotFound):
        store.get("0" * 32)
    with pytest.raises(BlobNotFound):
        store.get("../" + stored.key)
    assert not store.exists("0" * 32)


def test_delete_removes_and_is_idempotent(store):
    stored = store.put(PAYLOAD, content_type="image/jpeg")

    store.delete(stored.key)
    store.delete(stored.key)

    assert not store.exists(stored.key)
    with pytest.raises(BlobNotFound):
        store.get(stored.key)


def test_writes_leave_no_temp_files(store):
    keys = {store.put(PAYLOAD + bytes([i]), content_type="image/jpeg").key for i in range(5)}

    assert sorted(path.name.rsplit("/", 1)[-1] for path in _files(store)) == sorted(keys)


def test_blob_files_are_private(tmp_path):
    store = FilesystemBlobStore(tmp_path / "blobs", decode_key(generate_key()))
    stored = store.put(PAYLOAD, content_type="image/jpeg")

    assert stat.S_IMODE(os.stat(_blob_path(store, stored.key).name).st_mode) == 0o600


def test_app_store_uses_configured_path_and_key(app, blobs):
    config = app.config["CHECKIN"]
    stored = blobs.put(PAYLOAD, content_type="image/jpeg")

    assert isinstance(blobs, FilesystemBlobStore)
    assert blobs.root == Path(config["BLOB_PATH"])
    assert FilesystemBlobStore(config["BLOB_PATH"], decode_key(config["ENCRYPTION_KEY"])).get(stored.key) == PAYLOAD


def _v1_blob(key: bytes, blob_key: str, data: bytes) -> bytes:
    """A blob as the store wrote it before the keyring (b"CKB1", no key id)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return b"CKB1" + nonce + AESGCM(key).encrypt(nonce, data, blob_key.encode())


def test_blobs_record_the_newest_key_id_and_old_ones_stay_readable(store, tmp_path, request):
    old, new = decode_key(generate_key()), decode_key(generate_key())
    before = _another(store, tmp_path, request, Keyring({"2025a": old}))
    first = before.put(PAYLOAD, content_type="image/jpeg")

    ring = _another(store, tmp_path, request, Keyring([("2025a", old), ("2026b", new)]))
    second = ring.put(PAYLOAD, content_type="image/jpeg")

    assert ring.key_id(first.key) == "2025a"
    assert ring.key_id(second.key) == "2026b"
    assert ring.get(first.key) == ring.get(second.key) == PAYLOAD
    # The id is in the header, in clear, but bound into the authentication: relabelling it fails.
    sealed = bytearray(_blob_path(ring, second.key).read_bytes())
    sealed[5:10] = b"2025a"
    _blob_path(ring, second.key).write_bytes(bytes(sealed))
    with pytest.raises(BlobIntegrityError):
        ring.get(second.key)


def test_rewrap_moves_a_blob_to_the_newest_key_so_the_old_key_can_go(store, tmp_path, request):
    old, new = decode_key(generate_key()), decode_key(generate_key())
    stored = _another(store, tmp_path, request, Keyring({"old": old})).put(PAYLOAD, content_type="image/jpeg")
    ring = _another(store, tmp_path, request, Keyring([("old", old), ("new", new)]))

    assert ring.rewrap(stored.key) is True
    assert ring.rewrap(stored.key) is False  # resumable: done blobs are skipped
    newest_only = _another(store, tmp_path, request, Keyring({"new": new}))
    assert newest_only.get(stored.key) == PAYLOAD
    assert newest_only.key_id(stored.key) == "new"
    # Without the rewrap the old key's blobs would say which key they need.
    other = _another(store, tmp_path, request, Keyring({"old": old})).put(b"x", content_type="image/jpeg")
    with pytest.raises(BlobKeyRetired, match="'old'"):
        newest_only.get(other.key)


def test_version_1_blobs_open_with_the_single_key_and_rewrap(store, tmp_path, request):
    key = decode_key(generate_key())
    ring = _another(store, tmp_path, request, Keyring([("k0", key), ("k1", decode_key(generate_key()))]))
    placed = ring.put(b"placeholder", content_type="image/jpeg")
    _blob_path(ring, placed.key).write_bytes(_v1_blob(key, placed.key, PAYLOAD))

    assert ring.key_id(placed.key) is None
    assert ring.get(placed.key) == PAYLOAD
    assert ring.rewrap(placed.key) is True
    assert ring.key_id(placed.key) == "k1"
    assert ring.get(placed.key) == PAYLOAD


def test_keys_lists_blobs_only(store):
    keys = {store.put(PAYLOAD, content_type="image/jpeg").key for _ in range(3)}
    store.probe()

    assert {entry.key for entry in store.keys()} == keys
    assert all(entry.modified_at.tzinfo is not None for entry in store.keys())


def test_s3_store_reports_an_unreachable_endpoint_as_unavailable():
    from storage.blobs import BlobStoreUnavailable

    store = S3BlobStore(bucket=TEST_BUCKET, key=decode_key(generate_key()), endpoint_url="http://127.0.0.1:9",
                        region="us-east-1")
    store.client.meta.config.retries = {"max_attempts": 1}
    with pytest.raises(BlobStoreUnavailable):
        store.put(PAYLOAD, content_type="image/jpeg")
    with pytest.raises(BlobStoreUnavailable):
        store.probe()


def test_s3_put_sends_the_whole_sealed_object_with_its_checksum(s3_endpoint):
    settings = s3_settings(s3_endpoint)
    store = make_blob_store({**settings, "KEYRING": Keyring.single(decode_key(generate_key()))})
    calls = []
    real_put = store.client.put_object

    def recording_put(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs)
        return real_put(**kwargs)

    store.client.put_object = recording_put
    stored = store.put(PAYLOAD, content_type="image/jpeg")

    [call] = calls
    assert isinstance(call["Body"], bytes) and MARKER not in call["Body"]
    # The digest real servers check (moto stores without checking it) is the sealed body's.
    assert call["ContentMD5"] == base64.b64encode(hashlib.md5(call["Body"]).digest()).decode()
    assert call["Key"] == f"{store.prefix}{stored.key[:2]}/{stored.key}"
    assert store.get(stored.key) == PAYLOAD


def test_app_store_on_s3_when_configured(s3_endpoint, tmp_path, database_url):
    from server import create_app

    key = generate_key()
    app = create_app({"ENV": "testing", "INSTANCE_PATH": str(tmp_path / "i"), "DATABASE_URL": database_url,
                      "JWT_SECRET_KEY": "s" * 40, "ENCRYPTION_KEY": key, **s3_settings(s3_endpoint)})
    try:
        blobs = app.extensions["checkin.blobs"]
        stored = blobs.put(PAYLOAD, content_type="image/jpeg")
        assert isinstance(blobs, S3BlobStore)
        assert blobs.key_id(stored.key) == Keyring.single(decode_key(key)).newest_id
        assert app.test_client().get("/readyz").status_code == 200
    finally:
        app.extensions["checkin.db"].engine.dispose()
