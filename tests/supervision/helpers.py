"""Small factories and queries for the supervision tests."""

from __future__ import annotations

import hashlib
from datetime import datetime
from itertools import count
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Alert, Checkin, Person, Task

_photo_numbers = count(1)


def add_checkin(session: Session, person: Person, at: datetime, status: str = "verified", *,
                received_at: datetime | None = None, reasons: list[str] | None = None, **fields: Any) -> Checkin:
    """A check-in row captured at `at`, inserted directly (no photo, no face engine)."""
    checkin = Checkin(
        person_id=person.id,
        office_id=person.office_id,
        kind=fields.pop("kind", "scheduled"),
        received_at=received_at or at,
        captured_at=at,
        latitude=person.home_lat or 31.23,
        longitude=person.home_lon or 121.47,
        accuracy_m=15.0,
        photo_sha256=hashlib.sha256(f"photo-{next(_photo_numbers)}".encode()).hexdigest(),
        status=status,
        reasons=reasons or [],
        flags=[],
        **fields,
    )
    session.add(checkin)
    session.commit()
    return checkin


def alerts_of(session: Session, person_id: int | None = None, alert_type: str | None = None) -> list[Alert]:
    """Alerts as committed now (the session's snapshot and loaded rows are dropped first)."""
    session.rollback()
    session.expire_all()
    stmt = select(Alert)
    if person_id is not None:
        stmt = stmt.where(Alert.person_id == person_id)
    if alert_type is not None:
        stmt = stmt.where(Alert.type == alert_type)
    return list(session.scalars(stmt.order_by(Alert.id)))


def task_status(session: Session, task_id: int) -> str:
    """A task's status as committed now."""
    session.rollback()
    session.expire_all()
    task = session.get(Task, task_id)
    assert task is not None
    return task.status
