"""What one check-in costs outside the model: the photo hashed once, sniffed once, decoded once, and the person's
references loaded once, even with a liveness clip and an Idempotency-Key (which read the same upload)."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import pytest

from supervision import faces
from tests.liveness.conftest import PERSON_IDENTITY, checkin_form, photo_path, post_multipart, upload
from tests.verification_video.clips import still_clip
from verification import decode
from verification import engine as engine_module


class _CountingHash:
    """hashlib.sha256 that counts how often it is fed the watched bytes."""

    def __init__(self, watched: bytes, counts: Counter[str], real: Any) -> None:
        self._watched, self._counts, self._real = watched, counts, real

    def __call__(self, data: bytes = b"", **kwargs: Any) -> Any:
        if data == self._watched:
            self._counts["sha256"] += 1
        return _HashProxy(self._real(data, **kwargs), self)

    def fed(self, data: Any) -> None:
        if data == self._watched:
            self._counts["sha256"] += 1


class _HashProxy:
    def __init__(self, inner: Any, owner: _CountingHash) -> None:
        self._inner, self._owner = inner, owner

    def update(self, data: Any) -> None:
        self._owner.fed(data)
        self._inner.update(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, media_dir: Any) -> tuple[bytes, Counter[str]]:
    """The selfie, and counters of what is done with its bytes (and of reference loads) during one request."""
    photo = photo_path(media_dir, PERSON_IDENTITY, 2).read_bytes()
    counts: Counter[str] = Counter()
    monkeypatch.setattr(hashlib, "sha256", _CountingHash(photo, counts, hashlib.sha256))

    def watch(name: str, real: Any) -> Any:
        def counting(data: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(data, bytes) and data == photo:
                counts[name] += 1
            return real(data, *args, **kwargs)
        return counting

    monkeypatch.setattr(decode, "sniff_content_type", watch("sniff", decode.sniff_content_type))
    monkeypatch.setattr(engine_module, "decode_image", watch("decode", engine_module.decode_image))
    real_load = faces.load_reference_set

    def load(**kwargs: Any) -> Any:
        counts["references"] += 1
        return real_load(**kwargs)

    monkeypatch.setattr(faces, "load_reference_set", load)
    return photo, counts


def test_one_hash_one_sniff_one_decode_and_one_reference_load_per_checkin(
        client: Any, auth: Any, enrolled: Any, clock: Any, tmp_path: Any, media_dir: Any,
        counted: tuple[bytes, Counter[str]]) -> None:
    photo, counts = counted
    headers = auth.person("P001")
    challenge = client.post("/api/v1/liveness/challenges", headers=headers).get_json()
    clip = still_clip(tmp_path / "still.avi", photo_path(media_dir, PERSON_IDENTITY, 2), seconds=2.0, fourcc="MJPG")
    counts.clear()  # the challenge request is not part of the check-in

    response = post_multipart(client, "/api/v1/checkins", {**headers, "Idempotency-Key": "costs-1"}, {
        **checkin_form(clock.now(), challenge_id=challenge["challenge_id"]),
        "photo": upload(photo, "selfie.jpg"), "video": upload(clip, "clip.avi")})

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["liveness"] is not None  # the clip was judged against the references, as the face was
    assert dict(counts) == {"sha256": 1, "sniff": 1, "decode": 1, "references": 1}
