"""The leave rules, each refused with its own stable code (through the phone API)."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from storage.models import AuditEvent, LeaveRequest
from supervision.audit import AuditAction
from supervision.leave import LeavePolicy
from tests.factories import make_person
from tests.leave.conftest import LEAVE, NOW, OFFICER_LEAVE, PASSWORD, create, created, leave_body

SHANGHAI = "+08:00"


def at(text: str) -> datetime:
    """A Shanghai wall-clock time, e.g. at("2026-03-05T08:00")."""
    return datetime.fromisoformat(text + SHANGHAI)


def assert_refused(response: Any, code: str, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == code, body
    return body


def test_a_valid_request_is_pending_at_office_level(client: Any, person_headers: dict[str, str]) -> None:
    body = created(client, person_headers)
    assert body["status"] == "pending"
    assert body["approval_level"] == "office"
    assert body["days"] == 3
    assert body["emergency"] is False
    listed = client.get(LEAVE, headers=person_headers).get_json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    assert client.get(f"{LEAVE}/{body['id']}", headers=person_headers).get_json()["status"] == "pending"


def test_notice_is_counted_in_calendar_days_of_the_office(client: Any, person_headers: dict[str, str]) -> None:
    # Monday 10:00 now; Thursday 08:00 is 3 calendar days ahead, though under 72 hours.
    assert NOW.astimezone(at("2026-03-02T10:00").tzinfo) == at("2026-03-02T10:00")
    created(client, person_headers, start=at("2026-03-05T08:00"))
    short = create(client, person_headers, start=at("2026-03-04T20:00"))
    body = assert_refused(short, "leave_notice_too_short")
    assert body["min_notice_days"] == 3


def test_an_emergency_needs_no_notice_but_cannot_start_in_the_past(client: Any,
                                                                   person_headers: dict[str, str]) -> None:
    body = created(client, person_headers, start=NOW + timedelta(hours=1), days=2, emergency=True,
                   reason="Father taken to hospital tonight")
    assert body["emergency"] is True
    assert body["status"] == "pending"
    assert_refused(create(client, person_headers, start=NOW - timedelta(hours=2), emergency=True), "leave_in_past")


def test_period_must_run_forwards_and_not_from_the_past(client: Any, person_headers: dict[str, str]) -> None:
    assert_refused(create(client, person_headers, days=0), "leave_invalid_period")
    assert_refused(create(client, person_headers, days=-1), "leave_invalid_period")
    assert_refused(create(client, person_headers, start=NOW - timedelta(days=1)), "leave_in_past")


def test_length_sets_the_approval_level_up_to_30_days(client: Any, person_headers: dict[str, str]) -> None:
    body = assert_refused(create(client, person_headers, days=30.05), "leave_too_long")
    assert body["max_days"] == 30
    start = NOW + timedelta(days=5)
    for days, level in ((7, "office"), (7.05, "county"), (30, "county")):
        assert created(client, person_headers, start=start, days=days)["approval_level"] == level
        start += timedelta(days=40)


def test_overlapping_requests_are_refused(client: Any, person_headers: dict[str, str]) -> None:
    first = created(client, person_headers, start=at("2026-03-10T08:00"), days=3)
    body = assert_refused(create(client, person_headers, start=at("2026-03-12T08:00"), days=3), "leave_overlap")
    assert body["overlapping_id"] == first["id"]
    # Back to back is fine.
    created(client, person_headers, start=at("2026-03-13T08:00"), days=1)
    # A cancelled request blocks nothing.
    assert client.post(f"{LEAVE}/{first['id']}/cancel", headers=person_headers).status_code == 200
    created(client, person_headers, start=at("2026-03-11T08:00"), days=1)


def test_yearly_total_counts_each_calendar_year_separately(client: Any, person_headers: dict[str, str]) -> None:
    created(client, person_headers, start=at("2026-10-01T00:00"), days=30)
    created(client, person_headers, start=at("2026-11-01T00:00"), days=25)
    # 14 days, of which only 4.67 fall in 2026: 59.67 of 60.
    created(client, person_headers, start=at("2026-12-27T08:00"), days=14)
    body = assert_refused(create(client, person_headers, start=at("2026-12-20T00:00"), days=2), "leave_yearly_limit")
    assert body["year"] == 2026
    assert body["used_days"] == pytest.approx(59.67, abs=0.01)
    assert body["max_days_per_year"] == 60


def test_rejected_and_cancelled_leave_free_the_yearly_total(client: Any, person_headers: dict[str, str],
                                                            officer_headers: dict[str, str],
                                                            admin_headers: dict[str, str]) -> None:
    a = created(client, person_headers, start=at("2026-04-01T00:00"), days=30)
    b = created(client, person_headers, start=at("2026-05-01T00:00"), days=30)
    assert_refused(create(client, person_headers, start=at("2026-06-01T00:00"), days=1), "leave_yearly_limit")
    assert client.post(f"{LEAVE}/{a['id']}/cancel", headers=person_headers).status_code == 200
    response = client.post(f"{OFFICER_LEAVE}/{b['id']}/decision", json={"decision": "reject", "note": "no"},
                           headers=admin_headers)
    assert response.status_code == 200
    created(client, person_headers, start=at("2026-06-01T00:00"), days=30)


def test_leave_cannot_outlast_supervision(client: Any, db_session: Any, auth: Any, world: Any) -> None:
    make_person(db_session, world.office, "P002", end_date=date(2026, 3, 20), password=PASSWORD)
    headers = auth.person("P002", password=PASSWORD)
    body = assert_refused(create(client, headers, start=at("2026-03-18T08:00"), days=3), "leave_beyond_supervision")
    assert body["supervision_end_date"] == "2026-03-20"
    created(client, headers, start=at("2026-03-18T08:00"), days=2.5)  # ends 20 March, 20:00


def test_unknown_and_inconsistent_fields_are_validation_errors(client: Any, person_headers: dict[str, str]) -> None:
    response = client.post(LEAVE, json=leave_body(colour="red"), headers=person_headers)
    assert_refused(response, "validation_failed")
    assert "colour" in response.get_json()["errors"]
    response = client.post(LEAVE, json=leave_body(dest_lat=39.9), headers=person_headers)
    assert "dest_lat" in assert_refused(response, "validation_failed")["errors"]
    response = client.post(LEAVE, json={"start_at": "2026-03-07T08:00:00"}, headers=person_headers)
    errors = assert_refused(response, "validation_failed")["errors"]
    assert {"start_at", "end_at", "destination", "reason"} <= set(errors)


def test_only_persons_request_leave(client: Any, officer_headers: dict[str, str]) -> None:
    assert_refused(create(client, officer_headers), "forbidden", status=403)


def test_multipart_request_with_an_attachment(client: Any, person_headers: dict[str, str],
                                              officer_headers: dict[str, str], db_session: Any) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(buffer, format="JPEG")
    data = buffer.getvalue()
    form = {**leave_body(emergency="true", dest_lat="39.9042", dest_lon="116.4074", dest_radius_m="8000"),
            "attachment": (io.BytesIO(data), "note.jpg")}
    response = client.post(LEAVE, data=form, headers=person_headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["has_attachment"] is True
    assert body["emergency"] is True
    assert body["dest_radius_m"] == 8000

    detail = client.get(f"{OFFICER_LEAVE}/{body['id']}", headers=officer_headers).get_json()
    assert detail["attachment_content_type"] == "image/jpeg"
    download = client.get(detail["attachment_url"], headers=officer_headers)
    assert download.status_code == 200
    assert download.data == data
    assert download.headers["Cache-Control"] == "no-store, private"
    viewed = db_session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == AuditAction.LEAVE_ATTACHMENT_VIEWED))
    assert viewed == 1
    assert client.get(f"{LEAVE}/{body['id']}/attachment", headers=person_headers).data == data


def test_an_attachment_that_is_no_image_is_415(client: Any, person_headers: dict[str, str],
                                               db_session: Any) -> None:
    form = {**leave_body(), "attachment": (io.BytesIO(b"%PDF-1.7 not an image"), "note.jpg")}
    assert_refused(client.post(LEAVE, data=form, headers=person_headers), "unsupported_media_type", status=415)
    assert db_session.scalar(select(func.count(LeaveRequest.id))) == 0


def test_a_retry_with_the_same_idempotency_key_creates_one_request(client: Any, person_headers: dict[str, str],
                                                                   db_session: Any) -> None:
    headers = {**person_headers, "Idempotency-Key": "leave-1"}
    first = client.post(LEAVE, json=leave_body(), headers=headers)
    again = client.post(LEAVE, json=leave_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert db_session.scalar(select(func.count(LeaveRequest.id))) == 1
    other = client.post(LEAVE, json=leave_body(days=2), headers=headers)
    assert_refused(other, "idempotency_conflict", status=409)


@pytest.mark.parametrize("app_overrides", [{
    "LEAVE_MIN_NOTICE_DAYS": 5,
    "LEAVE_OFFICE_OVERRIDES": {"O1": {"min_notice_days": 1, "office_max_days": 3}},
}])
def test_rules_come_from_configuration_with_office_overrides(client: Any, db_session: Any, auth: Any, world: Any,
                                                             person_headers: dict[str, str]) -> None:
    # O1 overrides: one day of notice, office officers decide up to 3 days.
    body = created(client, person_headers, start=at("2026-03-03T08:00"), days=4)
    assert body["approval_level"] == "county"
    # O2 has the deployment's 5 days of notice and the default 7-day office level.
    make_person(db_session, world.other_office, "P002", password=PASSWORD)
    other = auth.person("P002", password=PASSWORD)
    assert_refused(create(client, other, start=at("2026-03-06T08:00")), "leave_notice_too_short")
    assert created(client, other, start=at("2026-03-07T08:00"), days=4)["approval_level"] == "office"


def test_policy_reads_environment_style_values() -> None:
    policy = LeavePolicy.from_config({"LEAVE_MAX_DAYS": "20", "LEAVE_OFFICE_OVERRIDES": '{"O9": {"max_days": 10}}'})
    assert policy.max_days == 20
    assert policy.for_office("O9").max_days == 10
    assert policy.for_office("O1") == policy
    assert LeavePolicy.from_config({}).as_dict() == {
        "min_notice_days": 3, "office_max_days": 7, "max_days": 30, "max_days_per_year": 60,
        "return_grace_hours": 24, "past_tolerance_minutes": 5}
    with pytest.raises(ValueError, match="unknown fields"):
        LeavePolicy.from_config({"LEAVE_OFFICE_OVERRIDES": {"O1": {"max_dayz": 3}}})
    with pytest.raises(ValueError):
        LeavePolicy.from_config({"LEAVE_OFFICE_OVERRIDES": {"O1": {"office_max_days": 40}}})
