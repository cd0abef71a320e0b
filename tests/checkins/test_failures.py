"""Database failures in the middle of a check-in: a clean 503, no orphaned photo, no lost photo, a working retry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from storage.models import Alert, Checkin
from tests.checkins.helpers import (
    OFFICER_CHECKINS,
    assert_problem,
    blob_files,
    count_checkins,
    identity_photos,
    post_checkin,
)

pytestmark = pytest.mark.faces


@contextmanager
def listening(target: Any, name: str, listener: Callable[..., None]) -> Iterator[None]:
    """Register an SQLAlchemy event listener for the duration of the block only."""
    event.listen(target, name, listener)
    try:
        yield
    finally:
        event.remove(target, name, listener)


def _refuse_checkin_insert(_mapper: Any, _connection: Any, _target: Any) -> None:
    raise OperationalError("INSERT INTO checkin ...", {}, Exception("disk I/O error"))


def _refuse_checkin_commit(session: Session) -> None:
    # Only the request's own transaction (the one holding the new check-in), not a savepoint or other sessions.
    if session.in_nested_transaction():
        return
    if any(isinstance(obj, Checkin) for obj in session.identity_map.values()):
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))


def _lose_alert_race(_mapper: Any, _connection: Any, _target: Any) -> None:
    # What a concurrent writer of the same dedupe key causes; raise_alert expects it and carries on.
    raise IntegrityError("INSERT INTO alert ...", {}, Exception("UNIQUE constraint failed: alert.dedupe_key"))


@pytest.fixture
def photo(faces_dir: Path) -> bytes:
    return identity_photos(faces_dir, "people/Colin_Powell")[0].read_bytes()


def test_failed_insert_leaves_no_photo_behind_and_the_retry_succeeds(client: Any, phone: dict[str, str],
                                                                     clock: Any, blobs: Any, db_session: Any,
                                                                     photo: bytes) -> None:
    captured_at = clock.now()
    before = blob_files(blobs)

    with listening(Checkin, "before_insert", _refuse_checkin_insert):
        failed = post_checkin(client, phone, photo, captured_at=captured_at, key="checkin-0009")

    # A database that fails is an outage: 503 with Retry-After, which clients retry.
    body = assert_problem(failed, 503, "service_unavailable")
    assert "safe to retry" in body["detail"] and failed.headers.get("Retry-After")
    assert blob_files(blobs) == before
    assert count_checkins(db_session) == 0

    retry = post_checkin(client, phone, photo, captured_at=captured_at, key="checkin-0009")

    assert retry.status_code == 201, retry.get_json()
    assert "Idempotent-Replayed" not in retry.headers
    assert count_checkins(db_session) == 1
    assert len(blob_files(blobs)) == len(before) + 1


@pytest.mark.parametrize(
    "device_id",
    [
        "phone-1",
        # A check-in from an unbound phone raises a device_changed alert inside a savepoint before the commit.
        "phone-2",
    ],
)
def test_failed_commit_leaves_no_photo_behind(client: Any, auth: Any, person: Any, phone: dict[str, str],
                                              clock: Any, blobs: Any, db_session: Any, photo: bytes,
                                              device_id: str) -> None:
    headers = auth.person(person.code, device_id=device_id)
    before = blob_files(blobs)

    with listening(Session, "before_commit", _refuse_checkin_commit):
        failed = post_checkin(client, headers, photo, captured_at=clock.now())

    assert_problem(failed, 503, "service_unavailable")
    assert count_checkins(db_session) == 0
    assert blob_files(blobs) == before


def test_checkin_keeps_its_photo_when_its_alert_loses_a_race(client: Any, auth: Any, person: Any,
                                                             phone: dict[str, str], officer_headers: dict[str, str],
                                                             clock: Any, photo: bytes) -> None:
    # The alert's savepoint rolls back; the photo belongs to the enclosing transaction, which commits.
    second_phone = auth.person(person.code, device_id="phone-2")

    with listening(Alert, "before_insert", _lose_alert_race):
        response = post_checkin(client, second_phone, photo, captured_at=clock.now())

    assert response.status_code == 201, response.get_json()
    assert "device_not_bound" in response.get_json()["reasons"]
    stored = client.get(f"{OFFICER_CHECKINS}/{response.get_json()['id']}/photo", headers=officer_headers)
    assert stored.status_code == 200, stored.get_data(as_text=True)
    assert stored.data == photo
