"""The officer review queue, the evidence of one check-in and the review decision."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.checkins.helpers import (
    AWAY,
    OFFICER_CHECKINS,
    assert_problem,
    enrol_identity,
    identity_photos,
    post_checkin,
)

pytestmark = pytest.mark.faces


def test_queue_is_oldest_first_and_paginates(client: Any, officer_headers: dict[str, str], phone: dict[str, str],
                                             clock: Any, faces_dir: Path) -> None:
    # Without references every usable selfie needs review (no_references); a replayed one is rejected instead.
    photos = [path.read_bytes() for path in identity_photos(faces_dir, "people/George_W_Bush")[:3]]
    queued = []
    for photo in photos:
        response = post_checkin(client, phone, photo, captured_at=clock.now())
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["status"] == "needs_review"
        queued.append(response.get_json()["id"])
        clock.advance(timedelta(minutes=3))
    replay = post_checkin(client, phone, photos[0], captured_at=clock.now())
    assert replay.get_json()["status"] == "rejected"

    first = client.get(OFFICER_CHECKINS, query_string={"status": "needs_review", "limit": 2}, headers=officer_headers)
    assert first.status_code == 200, first.get_json()
    page1 = first.get_json()
    second = client.get(OFFICER_CHECKINS, query_string={"status": "needs_review", "limit": 2,
                                                        "cursor": page1["next_cursor"]}, headers=officer_headers)
    page2 = second.get_json()

    assert page1["next_cursor"]
    assert page2["next_cursor"] is None
    items = page1["items"] + page2["items"]
    assert [item["id"] for item in items] == queued
    received = [datetime.fromisoformat(item["received_at"]) for item in items]
    assert received == sorted(received)


@pytest.fixture
def reviewable(client: Any, officer_headers: dict[str, str], person: Any, phone: dict[str, str], clock: Any,
               faces_dir: Path) -> dict[str, Any]:
    """A genuine selfie sent from outside the home area, for an enrolled person: it awaits an officer."""
    enrolment = enrol_identity(client, officer_headers, person.id, identity_photos(faces_dir, "people/Colin_Powell"))
    probe = enrolment.probes[0].read_bytes()
    response = post_checkin(client, phone, probe, captured_at=clock.now(), at=AWAY)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] in ("needs_review", "rejected")
    return {"id": response.get_json()["id"], "photo": probe, "enrolment": enrolment}


def test_detail_shows_the_evidence(client: Any, officer_headers: dict[str, str], person: Any,
                                   reviewable: dict[str, Any]) -> None:
    response = client.get(f"{OFFICER_CHECKINS}/{reviewable['id']}", headers=officer_headers)

    assert response.status_code == 200, response.get_json()
    detail = response.get_json()
    match = detail["match"]
    assert match["distance"] <= match["second_distance"]
    assert match["distance"] <= match["mean_distance"]
    assert 0 < match["verify_threshold"] <= match["reject_threshold"]
    assert {"face_px", "brightness", "blur", "yaw"} <= detail["quality"].keys()
    assert detail["engine_version"]
    assert detail["best_reference_id"] in reviewable["enrolment"].reference_ids
    assert detail["photo_url"] == f"{OFFICER_CHECKINS}/{reviewable['id']}/photo"
    assert detail["best_reference_photo_url"] == (
        f"/api/v1/officer/persons/{person.id}/faces/{detail['best_reference_id']}/photo"
    )

    photo = client.get(detail["photo_url"], headers=officer_headers)
    reference = client.get(detail["best_reference_photo_url"], headers=officer_headers)
    assert (photo.status_code, photo.mimetype) == (200, "image/jpeg")
    assert photo.data == reviewable["photo"]
    assert (reference.status_code, reference.mimetype) == (200, "image/jpeg")
    index = reviewable["enrolment"].reference_ids.index(detail["best_reference_id"])
    assert reference.data == reviewable["enrolment"].references[index].read_bytes()


def test_review_decision_is_recorded_once(client: Any, officer: Any, officer_headers: dict[str, str], clock: Any,
                                          reviewable: dict[str, Any]) -> None:
    clock.advance(timedelta(minutes=7))
    url = f"{OFFICER_CHECKINS}/{reviewable['id']}/review"

    for note in (None, "   "):
        refused = client.post(url, headers=officer_headers, json={"decision": "reject", "note": note})
        assert "note" in assert_problem(refused, 422, "validation_failed")["errors"]
    accepted = client.post(url, headers=officer_headers, json={"decision": "accept", "note": "Visiting family."})
    again = client.post(url, headers=officer_headers, json={"decision": "reject", "note": "Changed my mind."})

    assert accepted.status_code == 200, accepted.get_json()
    body = accepted.get_json()
    assert body["status"] == "accepted"
    assert body["review_decision"] == "accept"
    assert body["review_note"] == "Visiting family."
    assert body["reviewed_by_id"] == officer.id
    assert datetime.fromisoformat(body["reviewed_at"]) == clock.now()
    assert_problem(again, 409, "already_reviewed")
    stored = client.get(f"{OFFICER_CHECKINS}/{reviewable['id']}", headers=officer_headers).get_json()
    assert (stored["status"], stored["review_decision"]) == ("accepted", "accept")
    queue = client.get(OFFICER_CHECKINS, query_string={"status": "needs_review"}, headers=officer_headers)
    assert reviewable["id"] not in [item["id"] for item in queue.get_json()["items"]]
