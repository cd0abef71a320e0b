"""Scheduling rules, attendance review and recording by officers, talks with their audited confidential note,
monthly progress with per-office hours, and the configuration checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from server.config import ConfigError, load_config
from storage.models import Attendance, AuditEvent
from tests.activities.conftest import ACTIVITIES, NOV_10_9AM, VENUE, add_person, attend, schedule
from tests.factories import make_officer, make_person


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"HOURS_OFFICE_OVERRIDES": {"O1": {"strict": {"study": 10}}}}


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["code"] == code, body
    return body


def test_scheduling_rules_and_scope(client, db_session, auth, world):
    officer = auth.headers("officer1")
    elsewhere = make_person(db_session, world.other_office, "P501")
    start = NOV_10_9AM + timedelta(days=1)
    base = {"kind": "group_education", "title": "法治讲座", "venue": VENUE, "start_at": start.isoformat(),
            "end_at": (start + timedelta(hours=2)).isoformat(), "person_ids": [world.person.id]}

    backwards = client.post(ACTIVITIES, headers=officer, json={**base, "end_at": start.isoformat()})
    nobody = client.post(ACTIVITIES, headers=officer, json={k: v for k, v in base.items() if k != "person_ids"})
    full = client.post(ACTIVITIES, headers=officer, json={**base, "levels": ["ordinary"], "capacity": 1,
                                                          "person_ids": [world.person.id]})
    outside = client.post(ACTIVITIES, headers=officer, json={**base, "person_ids": [elsewhere.id]})
    unknown_kind = client.post(ACTIVITIES, headers=officer, json={**base, "kind": "karaoke"})
    ok = client.post(ACTIVITIES, headers=officer, json=base)

    _problem(backwards, 422, "validation_failed")
    _problem(nobody, 422, "validation_failed")
    assert full.status_code == 201  # one ordinary person (P001), invited twice over, fills one place
    _problem(outside, 404, "not_found")
    _problem(unknown_kind, 422, "validation_failed")
    assert ok.status_code == 201 and ok.get_json()["invited"] == [world.person.id]
    other_officer = auth.headers("officer2")
    _problem(client.get(f"{ACTIVITIES}/{ok.get_json()['id']}", headers=other_officer), 404, "not_found")
    assert [a["id"] for a in client.get(ACTIVITIES, headers=other_officer).get_json()["items"]] == []
    assert client.get(f"{ACTIVITIES}/{ok.get_json()['id']}", headers=auth.headers("admin1")).status_code == 200


def test_phone_attendance_refusals_before_any_photo_is_judged(client, db_session, auth, world):
    officer = auth.headers("officer1")
    guest = add_person(db_session, world, "P502")
    activity = schedule(client, officer, start=NOV_10_9AM + timedelta(hours=1), person_ids=[world.person.id])
    phone = auth.person("P001")
    stranger = auth.person("P502")

    not_invited = attend(client, stranger, activity["id"], "in", b"not judged", captured_at=NOV_10_9AM)
    out_first = attend(client, phone, activity["id"], "out", b"not judged", captured_at=NOV_10_9AM)

    _problem(not_invited, 404, "not_found")
    _problem(out_first, 409, "not_checked_in")
    assert guest.id not in activity["invited"]
    assert client.get("/api/v1/activities", headers=stranger).get_json()["items"] == []


def _needs_review(db_session: Any, activity: dict[str, Any], person: Any, hours: float | None) -> Attendance:
    row = Attendance(activity_id=activity["id"], person_id=person.id, office_id=person.office_id,
                     status="needs_review", source="phone", hours=hours, reasons=["check_in:outside_area"],
                     details={})
    db_session.add(row)
    db_session.commit()
    return row


def test_officer_confirms_with_corrected_hours_or_rejects(client, db_session, auth, world):
    officer = auth.headers("officer1")
    second = add_person(db_session, world, "P503")
    activity = schedule(client, officer, start=NOV_10_9AM + timedelta(hours=1),
                        person_ids=[world.person.id, second.id])
    first = _needs_review(db_session, activity, world.person, 2.8)
    other = _needs_review(db_session, activity, second, None)
    review = f"{ACTIVITIES}/{activity['id']}/attendance"

    no_note = client.post(f"{review}/{first.id}/review", headers=officer, json={"decision": "confirm", "hours": 3})
    too_long = client.post(f"{review}/{first.id}/review", headers=officer,
                           json={"decision": "confirm", "hours": 3.5, "note": "x"})
    corrected = client.post(f"{review}/{first.id}/review", headers=officer,
                            json={"decision": "confirm", "hours": 3, "note": "签到点在场馆门口，实到三小时"})
    twice = client.post(f"{review}/{first.id}/review", headers=officer, json={"decision": "reject", "note": "x"})
    reject_silently = client.post(f"{review}/{other.id}/review", headers=officer, json={"decision": "reject"})
    rejected = client.post(f"{review}/{other.id}/review", headers=officer,
                           json={"decision": "reject", "note": "当天未到场"})
    foreign = client.post(f"{review}/{other.id}/review", headers=auth.headers("officer2"),
                          json={"decision": "confirm", "note": "x", "hours": 1})

    _problem(no_note, 422, "validation_failed")
    _problem(too_long, 422, "validation_failed")
    assert corrected.status_code == 200
    assert (corrected.get_json()["status"], corrected.get_json()["hours"]) == ("confirmed", 3.0)
    _problem(twice, 409, "already_reviewed")
    _problem(reject_silently, 422, "validation_failed")
    assert rejected.get_json()["status"] == "rejected"
    _problem(foreign, 404, "not_found")
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "attendance.reviewed")).all()
    assert [(e.target_id, e.details["decision"], e.details["hours"]) for e in events] == [
        (str(first.id), "confirm", 3.0), (str(other.id), "reject", None)]


def test_officer_records_attendance_for_a_person_without_a_phone(client, db_session, auth, world):
    officer = auth.headers("officer1")
    outsider = add_person(db_session, world, "P504")
    activity = schedule(client, officer, start=NOV_10_9AM + timedelta(hours=1), hours=2,
                        person_ids=[world.person.id])
    path = f"{ACTIVITIES}/{activity['id']}/attendance"

    recorded = client.post(path, headers=officer, json={"person_id": world.person.id, "note": "老人机，现场点名"})
    again = client.post(path, headers=officer, json={"person_id": world.person.id, "note": "again"})
    not_invited = client.post(path, headers=officer, json={"person_id": outsider.id, "note": "x"})
    no_note = client.post(path, headers=officer, json={"person_id": world.person.id})

    assert recorded.status_code == 201, recorded.get_json()
    assert {k: recorded.get_json()[k] for k in ("status", "source", "hours")} == {
        "status": "confirmed", "source": "officer", "hours": 2.0}
    _problem(again, 409, "attendance_exists")
    _problem(not_invited, 422, "validation_failed")
    _problem(no_note, 422, "validation_failed")
    detail = client.get(f"{ACTIVITIES}/{activity['id']}", headers=officer).get_json()
    assert [(a["person_id"], a["status"]) for a in detail["attendances"]] == [(world.person.id, "confirmed")]
    progress = client.get(f"/api/v1/officer/persons/{world.person.id}/progress?month=2026-11",
                          headers=officer).get_json()
    assert progress["done"] == {"study": 0.0, "service": 2.0}


def test_talks_are_confidential_and_their_reads_audited(client, db_session, auth, clock, world):
    officer = auth.headers("officer1")
    path = f"/api/v1/officer/persons/{world.person.id}/talks"
    at = (clock.now() - timedelta(hours=1)).isoformat()

    created = client.post(path, headers=officer, json={"kind": "counselling", "at": at, "minutes": 50,
                                                       "note": "情绪低落，建议下周复谈"})
    future = client.post(path, headers=officer, json={"kind": "individual_talk",
                                                      "at": (clock.now() + timedelta(days=1)).isoformat(),
                                                      "minutes": 30, "note": "x"})
    assert created.status_code == 201, created.get_json()
    assert "note" not in created.get_json()
    _problem(future, 422, "validation_failed")
    listed = client.get(path, headers=officer).get_json()["items"]
    assert [(t["kind"], t["minutes"]) for t in listed] == [("counselling", 50)] and "note" not in listed[0]
    talk_id = created.get_json()["id"]

    read = client.get(f"/api/v1/officer/talks/{talk_id}", headers=officer)
    foreign = client.get(f"/api/v1/officer/talks/{talk_id}", headers=auth.headers("officer2"))
    person = client.get(f"/api/v1/officer/talks/{talk_id}", headers=auth.person("P001"))

    assert read.status_code == 200 and read.get_json()["note"] == "情绪低落，建议下周复谈"
    _problem(foreign, 404, "not_found")
    assert person.status_code in (401, 403)
    reads = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "talk.note_viewed")).all()
    assert [(e.actor_name, e.target_id, e.person_id) for e in reads] == [("officer1", str(talk_id), world.person.id)]


def test_progress_uses_the_office_hours(client, db_session, auth, world):
    strict_here = add_person(db_session, world, "P505")
    strict_there = make_person(db_session, world.other_office, "P506", supervision_level="strict")
    make_officer(db_session, world.other_office, "officer3")

    mine = client.get("/api/v1/me/progress?month=2026-11", headers=auth.person("P505")).get_json()
    theirs = client.get(f"/api/v1/officer/persons/{strict_there.id}/progress?month=2026-11",
                        headers=auth.headers("officer3")).get_json()
    default_month = client.get("/api/v1/me/progress", headers=auth.person("P505")).get_json()
    bad_month = client.get("/api/v1/me/progress?month=2026-13", headers=auth.person("P505"))

    assert mine["required"] == {"study": 10.0, "service": 12.0}  # O1's override of the study hours
    assert theirs["required"] == {"study": 12.0, "service": 12.0}
    assert mine["missing"] == {"study": 10.0, "service": 12.0}
    assert default_month["month"] == "2026-11"  # the clock's month, in the office's time zone
    _problem(bad_month, 422, "validation_failed")
    assert strict_here.supervision_level == "strict"


@pytest.mark.parametrize("settings", [
    {"HOURS_REQUIRED": '{"strict": {"study": -1}}'},
    {"HOURS_REQUIRED": '{"severe": {"study": 1}}'},
    {"HOURS_OFFICE_OVERRIDES": '{"O1": {"strict": {"reading": 3}}}'},
    {"MESSAGE_SENDER": "pigeon"},
    {"MESSAGE_SENDER": "webhook", "MESSAGE_WEBHOOK_URL": "ftp://gateway"},
])
def test_bad_rules_stop_the_service_at_start_up(tmp_path, settings):
    with pytest.raises(ConfigError):
        load_config({"ENV": "testing", "INSTANCE_PATH": str(tmp_path), **settings}, environ={})
