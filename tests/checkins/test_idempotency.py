"""Idempotency-Key on POST /api/v1/checkins: a retry gets the original answer and never a second check-in."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.checkins.helpers import assert_problem, count_checkins, identity_photos, post_checkin

pytestmark = pytest.mark.faces


@pytest.fixture
def photos(faces_dir: Path) -> list[bytes]:
    return [path.read_bytes() for path in identity_photos(faces_dir, "people/George_W_Bush")[:2]]


def test_retry_with_the_same_key_replays_the_answer(client: Any, phone: dict[str, str], clock: Any,
                                                    photos: list[bytes], db_session: Any) -> None:
    captured_at = clock.now()
    first = post_checkin(client, phone, photos[0], captured_at=captured_at, key="checkin-0001")
    retry = post_checkin(client, phone, photos[0], captured_at=captured_at, key="checkin-0001")

    assert first.status_code == 201, first.get_json()
    assert "Idempotent-Replayed" not in first.headers
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first.get_json()
    assert count_checkins(db_session) == 1


def test_same_key_with_another_photo_is_a_conflict(client: Any, phone: dict[str, str], clock: Any,
                                                   photos: list[bytes], db_session: Any) -> None:
    captured_at = clock.now()
    first = post_checkin(client, phone, photos[0], captured_at=captured_at, key="checkin-0002")
    other = post_checkin(client, phone, photos[1], captured_at=captured_at, key="checkin-0002")

    assert first.status_code == 201, first.get_json()
    assert_problem(other, 409, "idempotency_conflict")
    assert count_checkins(db_session) == 1


def test_concurrent_requests_with_one_key_create_one_checkin(app: Any, phone: dict[str, str], clock: Any,
                                                             photos: list[bytes], db_session: Any) -> None:
    captured_at = clock.now()
    barrier = threading.Barrier(2, timeout=30)

    def send(_: int) -> tuple[int, dict[str, Any], str | None]:
        client = app.test_client()  # the Flask test client is not thread-safe: one per thread
        barrier.wait()
        response = post_checkin(client, phone, photos[0], captured_at=captured_at, key="checkin-0003")
        return response.status_code, response.get_json(), response.headers.get("Idempotent-Replayed")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(send, range(2)))

    assert [status for status, _, _ in results] == [201, 201], results
    assert results[0][1] == results[1][1]
    assert sorted(str(replayed) for _, _, replayed in results) == ["None", "true"]
    assert count_checkins(db_session) == 1
