"""Alerts raised by real check-ins through the API (face engine and ../shared/faces): spot checks, faces, places."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from storage.models import LeaveRequest
from supervision.sweep import run_sweep
from tests.supervision.helpers import alerts_of, task_status

pytestmark = pytest.mark.faces

HOME = (31.2304, 121.4737)
BEIJING = (39.9042, 116.4074)
# Photos of one identity that pass the enrolment gates, and probes that verify against them (checked on the set).
REFERENCES = ("1.jpg", "3.jpg", "4.jpg")
PROBES = ("8.jpg", "6.jpg", "5.jpg")


@pytest.fixture
def hu(faces_dir: Path) -> Path:
    return faces_dir / "people" / "Hu_Jintao"


@pytest.fixture
def officer_headers(auth, officer):
    return auth.headers("officer1")


@pytest.fixture
def enrolled(client, person, hu, officer_headers):
    """P001 (strict, home in Shanghai) with three reference photos."""
    for name in REFERENCES:
        response = client.post(f"/api/v1/officer/persons/{person.id}/faces", headers=officer_headers,
                               data={"photo": (io.BytesIO((hu / name).read_bytes()), name)},
                               content_type="multipart/form-data")
        assert response.status_code == 201, response.get_json()
    return person


def check_in(client: Any, headers: dict[str, str], photo: Path, at: datetime, where: tuple[float, float] = HOME,
             task_id: int | None = None) -> dict[str, Any]:
    form: dict[str, Any] = {"latitude": str(where[0]), "longitude": str(where[1]), "accuracy_m": "20",
                            "captured_at": at.isoformat(), "photo": (io.BytesIO(photo.read_bytes()), photo.name)}
    if task_id is not None:
        form["task_id"] = str(task_id)
    response = client.post("/api/v1/checkins", headers=headers, data=form, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def spot_check(client: Any, person: Any, headers: dict[str, str], minutes: int = 60) -> dict[str, Any]:
    response = client.post(f"/api/v1/officer/persons/{person.id}/spot-checks",
                           json={"respond_within_minutes": minutes}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_spot_check_answered_in_time_closes_the_task(client, db_session, enrolled, hu, clock, auth, officer_headers):
    task = spot_check(client, enrolled, officer_headers)
    phone = auth.person("P001")
    clock.advance(timedelta(minutes=10))
    result = check_in(client, phone, hu / PROBES[0], clock.at, task_id=task["id"])
    assert (result["status"], result["kind"], result["task_id"]) == ("verified", "spot_check", task["id"])
    assert task_status(db_session, task["id"]) == "completed"
    assert client.get("/api/v1/tasks", headers=phone).get_json()["items"] == []
    done = client.get("/api/v1/officer/tasks?status=completed", headers=officer_headers).get_json()["items"]
    assert [(t["id"], t["checkin_id"]) for t in done] == [(task["id"], result["id"])]
    clock.advance(timedelta(hours=12))  # Monday 23:10 in Shanghai: the day's window has closed
    run_sweep(session=db_session, now=clock.at, settings=client.application.config["CHECKIN"])
    db_session.commit()
    # Only the weekend (registered long ago, never checked in) is missed: the answer also met Monday's duty.
    # One absence of two windows is one alert.
    assert [(a.type, a.dedupe_key[-10:], a.evidence["missed_windows"], a.evidence["period_end"][:10])
            for a in alerts_of(db_session, enrolled.id)] == [("missed_checkin", "2026-11-28", 2, "2026-11-29")]


def test_spot_check_answered_late(client, db_session, enrolled, hu, clock, auth, officer_headers):
    task = spot_check(client, enrolled, officer_headers)
    clock.advance(timedelta(minutes=65))  # past the deadline, before the sweep's grace has run out
    result = check_in(client, auth.person("P001"), hu / PROBES[0], clock.at, task_id=task["id"])
    assert "task_late" in result["reasons"]
    assert result["status"] == "needs_review"
    alerts = alerts_of(db_session, enrolled.id)
    assert [(a.type, a.evidence["task_id"], a.evidence["answered"]) for a in alerts] == [
        ("spot_check_missed", task["id"], "late")]
    clock.advance(timedelta(minutes=30))
    counts = run_sweep(session=db_session, now=clock.at, settings=client.application.config["CHECKIN"])
    db_session.commit()
    assert counts["spot_check_missed"] == 0
    assert len(alerts_of(db_session, enrolled.id, "spot_check_missed")) == 1
    assert task_status(db_session, task["id"]) == "completed"


def test_spot_check_marked_missed_can_still_be_answered(client, db_session, enrolled, hu, clock, auth,
                                                        officer_headers):
    task = spot_check(client, enrolled, officer_headers)
    clock.advance(timedelta(hours=2))
    assert run_sweep(session=db_session, now=clock.at, settings=client.application.config["CHECKIN"])[
        "spot_check_missed"] == 1
    db_session.commit()
    assert task_status(db_session, task["id"]) == "missed"
    result = check_in(client, auth.person("P001"), hu / PROBES[0], clock.at, task_id=task["id"])
    assert "task_late" in result["reasons"] and result["status"] == "needs_review"
    assert task_status(db_session, task["id"]) == "completed"
    assert len(alerts_of(db_session, enrolled.id, "spot_check_missed")) == 1


def test_someone_elses_face_raises_face_mismatch(client, db_session, enrolled, faces_dir, clock, auth):
    stranger = faces_dir / "people" / "Colin_Powell" / "7.jpg"
    result = check_in(client, auth.person("P001"), stranger, clock.at)
    assert result["status"] == "rejected" and "face_mismatch" in result["reasons"]
    alerts = alerts_of(db_session, enrolled.id)
    assert [(a.type, a.evidence["checkin_id"]) for a in alerts] == [("face_mismatch", result["id"])]


def test_outside_area_unless_on_approved_leave(client, db_session, enrolled, hu, clock, auth, officer_headers):
    phone = auth.person("P001")
    away = check_in(client, phone, hu / PROBES[0], clock.at, where=BEIJING)
    assert away["status"] == "needs_review" and away["reasons"] == ["outside_area"]
    assert [a.type for a in alerts_of(db_session, enrolled.id)] == ["outside_area"]

    db_session.add(LeaveRequest(
        person_id=enrolled.id, office_id=enrolled.office_id, start_at=clock.at - timedelta(hours=1),
        end_at=clock.at + timedelta(days=3), destination="Beijing", dest_lat=BEIJING[0], dest_lon=BEIJING[1],
        dest_radius_m=5000.0, reason="Family visit", status="approved", approval_level="office",
        created_at=clock.at - timedelta(days=4)))
    db_session.commit()
    clock.advance(timedelta(minutes=5))
    on_leave = check_in(client, phone, hu / PROBES[1], clock.at, where=BEIJING)
    assert on_leave["status"] == "verified" and on_leave["location"] == {"inside_area": True}
    assert [a.type for a in alerts_of(db_session, enrolled.id)] == ["outside_area"]

    # The officer confirms the first one as a violation: a face_mismatch alert records the confirmation.
    review = client.post(f"/api/v1/officer/checkins/{away['id']}/review",
                         json={"decision": "reject", "note": "Was in Beijing before the leave began."},
                         headers=officer_headers)
    assert review.status_code == 200, review.get_json()
    alerts = alerts_of(db_session, enrolled.id)
    assert [(a.type, a.evidence["checkin_id"]) for a in alerts] == [("outside_area", away["id"]),
                                                                    ("face_mismatch", away["id"])]
    assert alerts[1].evidence["review_note"] == "Was in Beijing before the leave began."


def test_new_phone_raises_device_changed_once(client, db_session, enrolled, hu, clock, auth):
    auth.person("P001", device_id="phone-1")  # the first phone is bound
    other_phone = auth.person("P001", device_id="phone-2")
    first = check_in(client, other_phone, hu / PROBES[0], clock.at)
    assert "device_not_bound" in first["reasons"]
    clock.advance(timedelta(minutes=30))
    check_in(client, other_phone, hu / PROBES[1], clock.at)
    alerts = alerts_of(db_session, enrolled.id)
    assert [(a.type, a.dedupe_key, a.evidence["checkin_id"]) for a in alerts] == [
        ("device_changed", f"device_changed:{enrolled.id}:phone-2", first["id"])]
