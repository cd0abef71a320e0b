"""Fixtures for the leave tests: the leave blueprints, a fixed clock, offices, staff, a person and API helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import World, make_world

# Monday 2 March 2026, 10:00 in Shanghai (the offices' timezone).
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
LEAVE = "/api/v1/leave-requests"
OFFICER_LEAVE = "/api/v1/officer/leave-requests"
HOME = (31.2304, 121.4737)  # the factories' home area (radius 3 km)
BEIJING = (39.9042, 116.4074)
# A password of these tests only, so its (cheap) hash is not shared with other test packages' cache entries.
PASSWORD = "leave-tests-pw-1"


@pytest.fixture(autouse=True)
def _fixed_clock(request: pytest.FixtureRequest) -> None:
    if "clock" in request.fixturenames:
        request.getfixturevalue("clock").at = NOW


@pytest.fixture
def world(db_session: Any) -> World:
    return make_world(db_session, PASSWORD)


@pytest.fixture
def person_headers(auth: Any, world: World) -> dict[str, str]:
    return auth.person("P001", password=PASSWORD)


@pytest.fixture
def officer_headers(auth: Any, world: World) -> dict[str, str]:
    return auth.headers("officer1", PASSWORD)


@pytest.fixture
def admin_headers(auth: Any, world: World) -> dict[str, str]:
    return auth.headers("admin1", PASSWORD)


def iso(value: datetime) -> str:
    return value.isoformat()


def leave_body(start: datetime | None = None, days: float = 3, **extra: Any) -> dict[str, Any]:
    """A valid request body: by default 5 days ahead (08:00 Shanghai) for 3 days, to Beijing."""
    start = start or datetime(2026, 3, 7, 0, 0, tzinfo=UTC)
    body: dict[str, Any] = {
        "start_at": iso(start),
        "end_at": iso(start + timedelta(days=days)),
        "destination": "北京市朝阳区 (family visit)",
        "reason": "Visit my mother in hospital",
    }
    body.update(extra)
    return body


def create(client: Any, headers: dict[str, str], **kwargs: Any) -> Any:
    return client.post(LEAVE, json=leave_body(**kwargs), headers=headers)


def created(client: Any, headers: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    response = create(client, headers, **kwargs)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def decide(client: Any, headers: dict[str, str], leave_id: int, decision: str = "approve",
           note: str | None = None) -> Any:
    body: dict[str, Any] = {"decision": decision}
    if note is not None:
        body["note"] = note
    return client.post(f"{OFFICER_LEAVE}/{leave_id}/decision", json=body, headers=headers)
