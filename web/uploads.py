"""Uploaded files read once per request: their bytes, sha256 and sniffed content type, shared by every user."""

from __future__ import annotations

from flask import g
from werkzeug.datastructures import FileStorage

from storage.blobs import Payload
from verification import decode

UNKNOWN_TYPE = "application/octet-stream"


def payload(upload: FileStorage) -> Payload:
    """The upload's bytes, hashed and sniffed the first time any code of this request asks for them.

    The idempotency fingerprint, the replay guard and the blob store all read the same Payload, so the bytes are
    read, hashed and sniffed once.
    """
    # Keyed by the upload itself (FileStorage hashes by identity), which also keeps it alive for the request.
    cache: dict[FileStorage, Payload] = g.setdefault("uploads", {})
    found = cache.get(upload)
    if found is None:
        data = upload.stream.read()
        upload.stream.seek(0)
        found = cache[upload] = Payload.of(data, content_type=decode.sniff_content_type(data) or UNKNOWN_TYPE)
    return found
