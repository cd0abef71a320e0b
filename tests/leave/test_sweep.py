"""The leave sweep: approved leave starts, leave not reported back by end + grace becomes overdue with an alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from storage.models import Alert
from supervision.leave import LeavePolicy, sweep_leave
from tests.factories import make_person
from tests.leave.conftest import LEAVE, OFFICER_LEAVE, PASSWORD, created, decide

START = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)
END = START + timedelta(days=3)
NOTHING = {"activated": 0, "overdue": 0, "alerts": 0}


def approved(client: Any, person: dict[str, str], officer: dict[str, str], **kwargs: Any) -> int:
    leave_id = created(client, person, **kwargs)["id"]
    assert decide(client, officer, leave_id).status_code == 200
    return leave_id


def sweep(db_session: Any, now: datetime, policy: LeavePolicy | None = None) -> dict[str, int]:
    result = sweep_leave(session=db_session, now=now, policy=policy or LeavePolicy())
    db_session.commit()
    return result


def status(client: Any, headers: dict[str, str], leave_id: int) -> str:
    return client.get(f"{LEAVE}/{leave_id}", headers=headers).get_json()["status"]


def overdue_ids(client: Any, headers: dict[str, str]) -> list[int]:
    response = client.get(f"{OFFICER_LEAVE}/overdue", headers=headers)
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def test_leave_starts_then_becomes_overdue_once(client: Any, clock: Any, db_session: Any, auth: Any, world: Any,
                                                person_headers: dict[str, str],
                                                officer_headers: dict[str, str]) -> None:
    leave_id = approved(client, person_headers, officer_headers)
    assert sweep(db_session, clock.at) == NOTHING

    clock.at = START + timedelta(hours=1)
    assert sweep(db_session, clock.at) == {"activated": 1, "overdue": 0, "alerts": 0}
    assert status(client, person_headers, leave_id) == "active"

    clock.at = END + timedelta(hours=23)  # inside the 24-hour grace period
    assert sweep(db_session, clock.at) == NOTHING
    assert overdue_ids(client, officer_headers) == []

    clock.at = END + timedelta(hours=25)
    # Listed as overdue as soon as the deadline passes, before any sweep.
    assert overdue_ids(client, officer_headers) == [leave_id]
    assert sweep(db_session, clock.at) == {"activated": 0, "overdue": 1, "alerts": 1}
    assert status(client, person_headers, leave_id) == "overdue"
    alert = db_session.scalar(select(Alert))
    assert alert.type == "leave_overdue"
    assert alert.dedupe_key == f"leave_overdue:{leave_id}"
    assert alert.person_id == world.person.id
    assert alert.office_id == world.office.id
    assert alert.occurred_at == END + timedelta(hours=24)
    assert alert.evidence["leave_request_id"] == leave_id

    # Running again (or later) changes nothing and raises nothing new.
    assert sweep(db_session, clock.at) == NOTHING
    assert sweep(db_session, clock.at + timedelta(days=3)) == NOTHING
    assert db_session.scalar(select(func.count(Alert.id))) == 1
    assert overdue_ids(client, officer_headers) == [leave_id]
    assert overdue_ids(client, auth.headers("officer2", PASSWORD)) == []
    # An overdue leave can no longer be cancelled.
    assert client.post(f"{LEAVE}/{leave_id}/cancel", headers=person_headers).status_code == 409


def test_one_late_sweep_starts_and_marks_overdue(client: Any, clock: Any, db_session: Any,
                                                 person_headers: dict[str, str],
                                                 officer_headers: dict[str, str]) -> None:
    leave_id = approved(client, person_headers, officer_headers)
    assert sweep(db_session, END + timedelta(days=2)) == {"activated": 1, "overdue": 1, "alerts": 1}
    assert status(client, person_headers, leave_id) == "overdue"


def test_only_approved_leave_is_swept(client: Any, clock: Any, db_session: Any, person_headers: dict[str, str],
                                      officer_headers: dict[str, str]) -> None:
    pending = created(client, person_headers)["id"]
    cancelled = created(client, person_headers, start=START + timedelta(days=10))["id"]
    client.post(f"{LEAVE}/{cancelled}/cancel", headers=person_headers)
    rejected = created(client, person_headers, start=START + timedelta(days=20))["id"]
    decide(client, officer_headers, rejected, "reject", note="no")
    assert sweep(db_session, START + timedelta(days=60)) == NOTHING
    assert [status(client, person_headers, i) for i in (pending, cancelled, rejected)] == [
        "pending", "cancelled", "rejected"]
    assert db_session.scalar(select(func.count(Alert.id))) == 0


def test_grace_can_differ_per_office(client: Any, clock: Any, db_session: Any, auth: Any, world: Any,
                                     person_headers: dict[str, str], officer_headers: dict[str, str]) -> None:
    make_person(db_session, world.other_office, "P002", password=PASSWORD)
    here = approved(client, person_headers, officer_headers)
    there = approved(client, auth.person("P002", password=PASSWORD), auth.headers("officer2", PASSWORD))
    policy = LeavePolicy(office_overrides={"O1": {"return_grace_hours": 1}})
    result = sweep(db_session, END + timedelta(hours=2), policy)
    assert result == {"activated": 2, "overdue": 1, "alerts": 1}
    assert db_session.scalar(select(Alert.dedupe_key)) == f"leave_overdue:{here}"
    assert sweep(db_session, END + timedelta(hours=25), policy) == {"activated": 0, "overdue": 1, "alerts": 1}
    assert db_session.scalar(select(func.count(Alert.id))) == 2
    assert there != here
