"""Alerts: raised once per event (a dedupe key makes raising idempotent) and resolved by an officer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.enums import AlertStatus
from storage.models import Alert


def raise_alert(*, session: Session, person_id: int, office_id: int, alert_type: str, dedupe_key: str,
                occurred_at: datetime, now: datetime, evidence: dict[str, Any] | None = None) -> Alert | None:
    """Open an alert unless one with the same dedupe key exists; returns the new alert or None."""
    if session.scalar(select(Alert.id).where(Alert.dedupe_key == dedupe_key)) is not None:
        return None
    alert = Alert(person_id=person_id, office_id=office_id, type=alert_type, status=AlertStatus.OPEN,
                  dedupe_key=dedupe_key, occurred_at=occurred_at, created_at=now, evidence=evidence or {})
    try:
        # A savepoint, so losing a race with a concurrent sweep does not undo the caller's other work.
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        return None
    return alert
