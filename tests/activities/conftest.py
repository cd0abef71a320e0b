"""Fixtures for the activity, attendance, talk and inbox tests: a fixed clock in November 2026 (Shanghai time),
an office with staff in two offices, and helpers to schedule sessions and check in at their venue."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import World, make_person, make_world

# Tuesday 10 November 2026, 09:00 in Shanghai.
NOV_10_9AM = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)
# Registered before November began, so the month's hours are owed.
REGISTERED = datetime(2026, 10, 1, tzinfo=UTC)
VENUE = {"name": "城关社区服务中心", "lat": 31.2400, "lon": 121.4800, "radius_m": 200.0}
AT_VENUE = (31.2401, 121.4801)
# About 3 km north of the venue.
THREE_KM_AWAY = (31.2670, 121.4800)
ACTIVITIES = "/api/v1/officer/activities"
PHONE_ACTIVITIES = "/api/v1/activities"


@pytest.fixture
def world(db_session: Any, clock: Any) -> World:
    clock.at = NOV_10_9AM
    return make_world(db_session)


def add_person(db_session: Any, world: World, code: str, level: str = "strict", **fields: Any) -> Any:
    """A person of O1 registered in October, of the given level."""
    return make_person(db_session, world.office, code, supervision_level=level, created_at=REGISTERED, **fields)


def schedule(client: Any, headers: dict[str, str], *, start: datetime, hours: float = 3.0,
             kind: str = "community_service", person_ids: list[int] | None = None,
             levels: list[str] | None = None, venue: dict[str, Any] | None = None) -> dict[str, Any]:
    """Schedule a session through the officer API and hand back its body."""
    body: dict[str, Any] = {"kind": kind, "title": "社区公益劳动", "venue": venue or VENUE,
                            "start_at": start.isoformat(), "end_at": (start + timedelta(hours=hours)).isoformat()}
    if person_ids is not None:
        body["person_ids"] = person_ids
    if levels is not None:
        body["levels"] = levels
    response = client.post(ACTIVITIES, headers=headers, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def attend(client: Any, headers: dict[str, str], activity_id: int, phase: str, photo: bytes, *,
           captured_at: datetime, at: tuple[float, float] = AT_VENUE, accuracy_m: float = 15.0) -> Any:
    """Check in ("in") or out ("out") of a session with a selfie through the phone API."""
    return client.post(f"{PHONE_ACTIVITIES}/{activity_id}/attendance/check-{phase}", headers=headers,
                       content_type="multipart/form-data",
                       data={"photo": (io.BytesIO(photo), "selfie.jpg"), "latitude": str(at[0]),
                             "longitude": str(at[1]), "accuracy_m": str(accuracy_m),
                             "captured_at": captured_at.isoformat()})


def inbox(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    """The caller's inbox (first page)."""
    response = client.get("/api/v1/messages?limit=200", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def kinds(box: dict[str, Any]) -> list[str]:
    """The kinds of the messages of an inbox page, oldest first."""
    return [item["kind"] for item in reversed(box["items"])]


def sweep(app: Any, db_session: Any, now: datetime) -> dict[str, int]:
    """Run the sweep at now, as `checkin sweep` would, and commit."""
    from supervision.sweep import run_sweep

    db_session.rollback()  # a fresh snapshot: the API committed in other sessions
    counts = run_sweep(session=db_session, now=now, settings=app.config["CHECKIN"])
    db_session.commit()
    return counts
