"""Leave and check-ins with the real face engine: check-ins at the destination, and reporting back (销假)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from storage.models import Alert, Checkin
from supervision.leave import LeavePolicy, sweep_leave
from tests.leave.conftest import BEIJING, HOME, LEAVE, created, decide

pytestmark = pytest.mark.faces

IDENTITY = "Hu_Jintao"
REFERENCES = (1, 3, 4)  # pass the enrolment quality gate
# 2, 5, 6, 7 and 8 verify against those references as check-in probes.
GUANGZHOU = (23.1291, 113.2644)
START = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)
END = START + timedelta(days=3)


@pytest.fixture
def enrolled(client: Any, world: Any, officer_headers: dict[str, str], faces_dir: Path) -> Path:
    """The person's three reference photos, enrolled through the officer API; returns the identity's folder."""
    folder = faces_dir / "people" / IDENTITY
    for number in REFERENCES:
        response = client.post(f"/api/v1/officer/persons/{world.person.id}/faces", headers=officer_headers,
                               data={"photo": (io.BytesIO((folder / f"{number}.jpg").read_bytes()), "ref.jpg")})
        assert response.status_code == 201, response.get_json()
    return folder


def form(photo: Path, where: tuple[float, float], captured_at: datetime) -> dict[str, Any]:
    return {"photo": (io.BytesIO(photo.read_bytes()), photo.name), "latitude": str(where[0]),
            "longitude": str(where[1]), "accuracy_m": "20", "captured_at": captured_at.isoformat()}


def approved_to_beijing(client: Any, person: dict[str, str], officer: dict[str, str]) -> int:
    leave_id = created(client, person, start=START, days=3, destination="Beijing", dest_lat=BEIJING[0],
                       dest_lon=BEIJING[1], dest_radius_m=5000)["id"]
    assert decide(client, officer, leave_id).status_code == 200
    return leave_id


def report_return(client: Any, headers: dict[str, str], leave_id: int, photo: Path, where: tuple[float, float],
                  captured_at: datetime) -> Any:
    return client.post(f"{LEAVE}/{leave_id}/return", data=form(photo, where, captured_at), headers=headers)


def test_checkins_at_the_destination_count_as_inside_during_approved_leave(
        client: Any, clock: Any, enrolled: Path, person_headers: dict[str, str],
        officer_headers: dict[str, str]) -> None:
    approved_to_beijing(client, person_headers, officer_headers)

    before = client.post("/api/v1/checkins", data=form(enrolled / "2.jpg", BEIJING, clock.at), headers=person_headers)
    assert before.status_code == 201, before.get_json()
    assert before.get_json()["location"]["inside_area"] is False
    assert "outside_area" in before.get_json()["reasons"]

    clock.at = START + timedelta(days=1)
    there = client.post("/api/v1/checkins", data=form(enrolled / "5.jpg", BEIJING, clock.at), headers=person_headers)
    assert there.status_code == 201, there.get_json()
    assert there.get_json()["status"] == "verified", there.get_json()
    assert there.get_json()["location"]["inside_area"] is True

    elsewhere = client.post("/api/v1/checkins", data=form(enrolled / "6.jpg", GUANGZHOU, clock.at),
                            headers=person_headers)
    assert elsewhere.status_code == 201
    assert elsewhere.get_json()["status"] == "needs_review"
    assert elsewhere.get_json()["reasons"] == ["outside_area"]
    assert elsewhere.get_json()["location"]["inside_area"] is False


def test_reporting_back_needs_a_usable_selfie_from_home(client: Any, clock: Any, db_session: Any, enrolled: Path,
                                                       faces_dir: Path, person_headers: dict[str, str],
                                                       officer_headers: dict[str, str]) -> None:
    leave_id = approved_to_beijing(client, person_headers, officer_headers)
    early = report_return(client, person_headers, leave_id, enrolled / "7.jpg", HOME, clock.at)
    assert early.status_code == 409
    assert early.get_json()["code"] == "invalid_transition"

    clock.at = START + timedelta(days=2)  # the sweep has not run: the return starts the leave itself
    failed = report_return(client, person_headers, leave_id, faces_dir / "edge" / "no_face_rocket.jpg", HOME,
                           clock.at)
    assert failed.status_code == 422
    assert failed.get_json()["code"] == "no_face"
    assert failed.get_json()["leave_status"] == "active"
    attempt = db_session.get(Checkin, failed.get_json()["checkin_id"])
    assert (attempt.status, attempt.kind, attempt.leave_request_id) == ("failed", "leave_return", leave_id)

    # At the destination is not back home: recorded, but the leave stays open.
    away = report_return(client, person_headers, leave_id, enrolled / "7.jpg", BEIJING, clock.at)
    assert away.status_code == 201, away.get_json()
    assert away.get_json()["returned"] is False
    assert away.get_json()["checkin"]["reasons"] == ["outside_area"]
    assert away.get_json()["leave_request"]["status"] == "active"

    home = report_return(client, person_headers, leave_id, enrolled / "8.jpg", HOME, clock.at)
    assert home.status_code == 201, home.get_json()
    body = home.get_json()
    assert body["returned"] is True
    assert body["checkin"]["status"] == "verified"
    assert body["checkin"]["kind"] == "leave_return"
    assert body["leave_request"]["status"] == "returned"
    assert body["leave_request"]["return_checkin_id"] == body["checkin"]["id"]
    assert datetime.fromisoformat(body["leave_request"]["returned_at"]) == clock.at
    review = client.get(f"/api/v1/officer/checkins/{body['checkin']['id']}", headers=officer_headers).get_json()
    assert review["leave_request_id"] == leave_id

    again = report_return(client, person_headers, leave_id, enrolled / "5.jpg", HOME, clock.at)
    assert again.status_code == 409
    assert again.get_json()["code"] == "invalid_transition"
    # Back early: no overdue later, and only the 2 days actually away count towards the year's 60.
    assert sweep_leave(session=db_session, now=END + timedelta(days=5), policy=LeavePolicy())["overdue"] == 0
    db_session.commit()
    created(client, person_headers, start=datetime(2026, 4, 1, tzinfo=UTC), days=30)
    created(client, person_headers, start=datetime(2026, 5, 1, tzinfo=UTC), days=28)


def test_a_late_return_after_overdue(client: Any, clock: Any, db_session: Any, enrolled: Path, faces_dir: Path,
                                     person_headers: dict[str, str], officer_headers: dict[str, str]) -> None:
    leave_id = approved_to_beijing(client, person_headers, officer_headers)
    clock.at = END + timedelta(hours=30)
    sweep_leave(session=db_session, now=clock.at, policy=LeavePolicy())
    db_session.commit()
    assert client.get(f"{LEAVE}/{leave_id}", headers=person_headers).get_json()["status"] == "overdue"

    stranger = report_return(client, person_headers, leave_id, faces_dir / "people" / "Colin_Powell" / "1.jpg",
                             HOME, clock.at)
    assert stranger.status_code == 201, stranger.get_json()
    assert stranger.get_json()["returned"] is False
    assert stranger.get_json()["checkin"]["status"] == "rejected"
    assert "face_mismatch" in stranger.get_json()["checkin"]["reasons"]
    assert stranger.get_json()["leave_request"]["status"] == "overdue"

    # Taken 20 minutes ago: late, so the check-in waits for an officer, but the person is back.
    late = report_return(client, person_headers, leave_id, enrolled / "5.jpg", HOME, clock.at - timedelta(minutes=20))
    assert late.status_code == 201, late.get_json()
    assert late.get_json()["returned"] is True
    assert late.get_json()["checkin"]["status"] == "needs_review"
    assert late.get_json()["checkin"]["reasons"] == ["late"]
    assert late.get_json()["leave_request"]["status"] == "returned"
    queue = client.get("/api/v1/officer/checkins?status=needs_review", headers=officer_headers).get_json()
    assert [item["id"] for item in queue["items"]] == [late.get_json()["checkin"]["id"]]
    # The overdue alert stays for the officer to resolve.
    assert db_session.scalar(select(Alert.status)) == "open"
