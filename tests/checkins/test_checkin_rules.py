"""What a check-in records besides the face: device binding, capture time, place and replayed photos."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.checkins.helpers import (
    AWAY,
    assert_problem,
    count_checkins,
    enrol_identity,
    identity_photos,
    outcome,
    post_checkin,
)

pytestmark = pytest.mark.faces

SELFIE = "people/George_W_Bush"


@pytest.fixture
def selfie(faces_dir: Path) -> bytes:
    """A usable one-face photo; the person has no references, so the face itself decides nothing here."""
    return identity_photos(faces_dir, SELFIE)[1].read_bytes()


def test_checkin_from_a_second_phone_is_not_device_bound(client: Any, auth: Any, person: Any,
                                                         phone: dict[str, str], clock: Any, selfie: bytes) -> None:
    second_phone = auth.person(person.code, device_id="phone-2")

    response = post_checkin(client, second_phone, selfie, captured_at=clock.now())

    assert response.status_code == 201, response.get_json()
    assert "device_not_bound" in response.get_json()["reasons"]
    assert response.get_json()["status"] == "needs_review"


def test_bound_phone_is_not_flagged(client: Any, phone: dict[str, str], clock: Any, selfie: bytes) -> None:
    response = post_checkin(client, phone, selfie, captured_at=clock.now())

    assert response.status_code == 201, response.get_json()
    # No references yet: that alone is a reason, but nothing about the device, the time or the place.
    assert response.get_json()["reasons"] == ["no_references"]


def test_capture_time_far_in_the_future_is_refused(client: Any, phone: dict[str, str], clock: Any, selfie: bytes,
                                                   db_session: Any) -> None:
    response = post_checkin(client, phone, selfie, captured_at=clock.now() + timedelta(minutes=5, seconds=30))

    body = assert_problem(response, 422, "validation_failed")
    assert "captured_at" in body["errors"]
    assert count_checkins(db_session) == 0


def test_photo_taken_twenty_minutes_ago_is_late(client: Any, phone: dict[str, str], clock: Any,
                                                selfie: bytes) -> None:
    response = post_checkin(client, phone, selfie, captured_at=clock.now() - timedelta(minutes=20))

    assert response.status_code == 201, response.get_json()
    assert "late" in response.get_json()["reasons"]
    assert response.get_json()["status"] == "needs_review"


def test_matching_face_outside_the_home_area_needs_review(client: Any, officer_headers: dict[str, str], person: Any,
                                                          phone: dict[str, str], clock: Any, faces_dir: Path) -> None:
    enrolment = enrol_identity(client, officer_headers, person.id, identity_photos(faces_dir, "people/Colin_Powell"))
    tried = {}
    matched = None
    for path in enrolment.probes:
        response = post_checkin(client, phone, path.read_bytes(), captured_at=clock.now(), at=AWAY)
        if response.status_code != 201:
            tried[path.name] = response.get_json()["code"]
            continue
        body = response.get_json()
        tried[path.name] = outcome(body)
        if body["match"]["distance"] <= body["match"]["threshold"]:
            matched = body
            break
    assert matched is not None, f"no genuine probe matched: {tried}"

    assert matched["status"] == "needs_review"
    assert matched["reasons"] == ["outside_area"]
    assert matched["location"] == {"inside_area": False}


def test_replayed_photo_is_rejected_as_duplicate(client: Any, phone: dict[str, str], clock: Any,
                                                 selfie: bytes) -> None:
    first = post_checkin(client, phone, selfie, captured_at=clock.now())
    clock.advance(timedelta(minutes=1))
    replay = post_checkin(client, phone, selfie, captured_at=clock.now())

    assert first.status_code == 201, first.get_json()
    assert first.get_json()["status"] != "rejected"
    assert replay.status_code == 201, replay.get_json()
    assert replay.get_json()["id"] != first.get_json()["id"]
    assert replay.get_json()["status"] == "rejected"
    assert replay.get_json()["reasons"] == ["duplicate_image"]
