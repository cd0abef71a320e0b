"""Uploads, sweeps and alert queries for the location tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from storage.models import Alert
from supervision.sweep import run_sweep

LOCATION_TYPES = ("outside_area", "left_county_without_leave", "exclusion_zone_entered", "curfew_breach",
                  "location_gap", "location_spoof_suspected", "person_phone_separation")


def upload(client: Any, headers: dict[str, str], fixes: list[dict], status: int = 202) -> dict[str, Any]:
    """POST the fixes in one batch and check the status."""
    response = client.post("/api/v1/locations", headers=headers, json={"fixes": fixes})
    assert response.status_code == status, response.get_json()
    return response.get_json()


def upload_all(client: Any, headers: dict[str, str], fixes: list[dict], batch: int = 50) -> None:
    """POST the fixes in batches."""
    for first in range(0, len(fixes), batch):
        upload(client, headers, fixes[first:first + batch])


def sweep(app: Any, at: datetime) -> dict[str, int]:
    """Run the sweep as the CLI does, committed."""
    with app.extensions["checkin.db"].transaction() as session:
        return run_sweep(session=session, now=at, settings=app.config["CHECKIN"])


def location_alerts(session: Any, person_id: int) -> list[Alert]:
    """The person's location alerts as committed now, oldest first."""
    session.rollback()
    session.expire_all()
    stmt = select(Alert).where(Alert.person_id == person_id, Alert.type.in_(LOCATION_TYPES)).order_by(Alert.id)
    return list(session.scalars(stmt))


def types_of(alerts: list[Alert]) -> list[str]:
    """Alert types, sorted."""
    return sorted(alert.type for alert in alerts)
