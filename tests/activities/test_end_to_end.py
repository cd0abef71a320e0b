"""The issue's end-to-end story with the real face engine and ../shared/faces photos: a community-service session
at a venue, a person who checks in and out there and gets the hours, another who checks in 3 km away and lands in
review, and the month-end sweep's hours_shortfall alert for the strict person below the minimum only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from storage.models import Alert, Attendance, Checkin
from tests.activities.conftest import (
    NOV_10_9AM,
    PHONE_ACTIVITIES,
    THREE_KM_AWAY,
    add_person,
    attend,
    schedule,
    sweep,
)
from tests.checkins.helpers import enrol_identity, identity_photos

pytestmark = pytest.mark.faces

GENUINE = "people/Colin_Powell"
OTHER = "east-asian/CN_nz102_ChenJianzhou"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # A deployment whose strict level owes 2 hours of community service and no study in a month.
    return {"HOURS_REQUIRED": '{"strict": {"study": 0, "service": 2}}'}


def test_session_attendance_hours_review_and_month_end_shortfall(app: Any, client: Any, db_session: Any, auth: Any,
                                                                  clock: Any, world: Any, faces_dir: Path) -> None:
    officer = auth.headers("officer1")
    present = add_person(db_session, world, "P201")
    away = add_person(db_session, world, "P202")
    powell = enrol_identity(client, officer, present.id, identity_photos(faces_dir, GENUINE))
    other = enrol_identity(client, officer, away.id, identity_photos(faces_dir, OTHER))
    start = NOV_10_9AM + timedelta(hours=1)  # 10:00-13:00 in Shanghai
    activity = schedule(client, officer, start=start, hours=3, levels=["strict"])
    assert set(activity["invited"]) >= {present.id, away.id}

    phone_present = auth.person("P201")
    phone_away = auth.person("P202")
    listed = client.get(PHONE_ACTIVITIES, headers=phone_present).get_json()["items"]
    assert [(item["id"], item["kind"], item["attendance"]) for item in listed] == [
        (activity["id"], "community_service", None)]

    # P201 arrives five minutes early and checks in at the venue, then checks out five minutes after the end.
    clock.at = start - timedelta(minutes=5)
    checked_in = attend(client, phone_present, activity["id"], "in", powell.probes[0].read_bytes(),
                        captured_at=clock.now())
    assert checked_in.status_code == 201, checked_in.get_json()
    body = checked_in.get_json()
    assert body["checkin"]["status"] == "verified", body["checkin"]
    assert body["checkin"]["kind"] == "activity"
    assert body["checkin"]["location"] == {"inside_area": True}
    assert (body["status"], body["hours"]) == ("checked_in", None)

    # P202 checks in 3 km away from the venue: the check-in goes to review, and so does the attendance.
    clock.at = start + timedelta(minutes=2)
    elsewhere = attend(client, phone_away, activity["id"], "in", other.probes[0].read_bytes(),
                       captured_at=clock.now(), at=THREE_KM_AWAY)
    assert elsewhere.status_code == 201, elsewhere.get_json()
    body = elsewhere.get_json()
    assert body["checkin"]["location"] == {"inside_area": False}
    assert "outside_area" in body["checkin"]["reasons"]
    assert body["status"] == "needs_review"
    assert "check_in:outside_area" in body["reasons"]

    clock.at = start + timedelta(hours=3, minutes=5)
    checked_out = attend(client, phone_present, activity["id"], "out", powell.probes[1].read_bytes(),
                         captured_at=clock.now())
    assert checked_out.status_code == 201, checked_out.get_json()
    body = checked_out.get_json()
    assert body["checkin"]["status"] == "verified", body["checkin"]
    # The hours are those of the session the person was there for: 10:00-13:00, not 09:55-13:05.
    assert (body["status"], body["hours"], body["reasons"]) == ("verified", 3.0, [])

    progress = client.get("/api/v1/me/progress?month=2026-11", headers=phone_present).get_json()
    assert progress["done"] == {"study": 0.0, "service": 3.0}
    assert progress["required"] == {"study": 0.0, "service": 2.0}
    assert progress["missing"] == {"study": 0.0, "service": 0.0}

    # Both check-ins went through the selfie pipeline and are evidence like any other.
    db_session.rollback()
    kinds = db_session.scalars(select(Checkin.kind).where(Checkin.person_id.in_([present.id, away.id]),
                                                          Checkin.kind == "activity")).all()
    assert len(kinds) == 3

    # The month ends (1 December, 01:00 in Shanghai); the sweep runs, twice.
    month_end = NOV_10_9AM + timedelta(days=20, hours=16)
    first = sweep(app, db_session, month_end)
    again = sweep(app, db_session, month_end + timedelta(minutes=5))
    alerts = db_session.scalars(select(Alert).where(Alert.type == "hours_shortfall")).all()
    assert [(a.person_id, a.dedupe_key) for a in alerts] == [(away.id, f"hours_shortfall:{away.id}:2026-11")]
    assert alerts[0].evidence["done"] == {"study": 0.0, "service": 0.0}
    assert alerts[0].evidence["required"] == {"study": 0.0, "service": 2.0}
    assert first["hours_shortfall"] == 1 and again["hours_shortfall"] == 0
    # The attendance that never checked out is waiting for the officer, with the reason.
    pending = db_session.scalar(select(Attendance).where(Attendance.person_id == away.id))
    assert pending is not None and pending.status == "needs_review"
    assert "missing_check_out" in pending.reasons
