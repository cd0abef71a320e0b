"""storage.blobs.FilesystemBlobStore: encrypted at rest, authenticated, atomic, private."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from storage.blobs import BlobIntegrityError, BlobNotFound, FilesystemBlobStore, decode_key, generate_key

MARKER = b"PLAINTEXT-MARKER-7f3a9c"
PAYLOAD = b"\xff\xd8\xff\xe0 fake jpeg " + MARKER + b" " + bytes(range(256)) * 8


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs", decode_key(generate_key()))


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def _blob_path(store: FilesystemBlobStore, key: str) -> Path:
    [path] = [path for path in _files(store.root) if path.name == key]
    return path


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

    files = _files(store.root)
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


def test_store_with_another_key_cannot_read(store, tmp_path):
    stored = store.put(PAYLOAD, content_type="image/jpeg")
    other = FilesystemBlobStore(store.root, decode_key(generate_key()))

    with pytest.raises(BlobIntegrityError):
        other.get(stored.key)


def test_blob_moved_to_another_key_fails(store):
    victim = store.put(PAYLOAD, content_type="image/jpeg")
    swapped = store.put(b"some other photo", content_type="image/jpeg")
    os.replace(_blob_path(store, victim.key), _blob_path(store, swapped.key))

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

    assert sorted(path.name for path in _files(store.root)) == sorted(keys)


def test_blob_files_are_private(store):
    stored = store.put(PAYLOAD, content_type="image/jpeg")

    assert stat.S_IMODE(_blob_path(store, stored.key).stat().st_mode) == 0o600


def test_app_store_uses_configured_path_and_key(app, blobs):
    config = app.config["CHECKIN"]
    stored = blobs.put(PAYLOAD, content_type="image/jpeg")

    assert isinstance(blobs, FilesystemBlobStore)
    assert blobs.root == Path(config["BLOB_PATH"])
    assert FilesystemBlobStore(config["BLOB_PATH"], decode_key(config["ENCRYPTION_KEY"])).get(stored.key) == PAYLOAD
