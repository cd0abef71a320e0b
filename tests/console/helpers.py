"""Rows the console tests build directly (no face engine): check-ins with stored photos, references, leave, alerts."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Alert, AuditEvent, Checkin, LeaveRequest, ReferenceFace, Task

FAKE_JPEG = b"\xff\xd8\xff\xe0 console test photo \xff\xd9"
HOME = (31.2304, 121.4737)  # the factories' home area (3 km radius)
AWAY = (31.3200, 121.5800)  # about 14 km from HOME


def make_reference(session: Session, blobs: Any, person: Any, officer: Any, at: datetime) -> ReferenceFace:
    stored = blobs.put(FAKE_JPEG + secrets.token_bytes(4), content_type="image/jpeg")
    reference = ReferenceFace(person_id=person.id, blob_key=stored.key, content_type="image/jpeg", size=stored.size,
                              sha256=stored.sha256, encoding=b"\x00" * 1024, engine_version="test",
                              quality={"face_px": 120, "brightness": 140.0, "blur": 90.0},
                              created_by_id=officer.id, created_at=at)
    session.add(reference)
    session.commit()
    return reference


def make_checkin(session: Session, blobs: Any, person: Any, at: datetime, *, status: str = "needs_review",
                 reasons: tuple[str, ...] = ("outside_area",), reference: ReferenceFace | None = None,
                 where: tuple[float, float] = AWAY, distance: float = 0.36) -> Checkin:
    photo = FAKE_JPEG + secrets.token_bytes(8)
    stored = blobs.put(photo, content_type="image/jpeg")
    checkin = Checkin(
        person_id=person.id, office_id=person.office_id, kind="scheduled", device_id="phone-1", device_bound=True,
        received_at=at, captured_at=at - timedelta(minutes=1), latitude=where[0], longitude=where[1], accuracy_m=25.0,
        photo_blob_key=stored.key, photo_content_type="image/jpeg", photo_size=stored.size,
        photo_sha256=hashlib.sha256(photo).hexdigest(), status=status, reasons=list(reasons), flags=[],
        match={"distance": distance, "band": "verified", "verify_threshold": 0.39, "reject_threshold": 0.52},
        quality={"face_px": 110, "brightness": 141.5, "blur": 92.1, "yaw": 3.0},
        location={"inside_area": False, "area": None, "home_distance_m": 14000.0},
        best_reference_id=reference.id if reference else None, engine_version="test",
    )
    session.add(checkin)
    session.commit()
    return checkin


def make_leave(session: Session, person: Any, at: datetime, *, days: int = 3, level: str = "office",
               status: str = "pending") -> LeaveRequest:
    leave = LeaveRequest(person_id=person.id, office_id=person.office_id, start_at=at + timedelta(days=4),
                         end_at=at + timedelta(days=4 + days), destination="北京市海淀区", dest_lat=39.9042,
                         dest_lon=116.4074, dest_radius_m=5000.0, reason="探望住院的母亲", status=status,
                         approval_level=level, created_at=at)
    session.add(leave)
    session.commit()
    return leave


def make_alert(session: Session, person: Any, at: datetime, *, alert_type: str = "missed_checkin",
               key: str | None = None) -> Alert:
    alert = Alert(person_id=person.id, office_id=person.office_id, type=alert_type, status="open",
                  dedupe_key=key or f"test:{secrets.token_hex(6)}", occurred_at=at - timedelta(days=2),
                  created_at=at - timedelta(days=2), evidence={"window": "2026-03-01"})
    session.add(alert)
    session.commit()
    return alert


def audit_actions(session: Session, **filters: Any) -> list[tuple[str, str | None, int | None]]:
    """(action, target_id, actor_id) of the committed audit events matching filters, oldest first."""
    session.rollback()
    stmt = select(AuditEvent.action, AuditEvent.target_id, AuditEvent.actor_id).filter_by(**filters)
    return [tuple(row) for row in session.execute(stmt.order_by(AuditEvent.id))]  # type: ignore[misc]


def count(session: Session, model: type, *conditions: Any) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def make_processed_inspection(db_session: Any, blobs: Any, world: Any, at: Any) -> Task:
    """A video inspection answered and processed (frames of another person), waiting for the officer."""
    frame = blobs.put(FAKE_JPEG, content_type="image/jpeg")
    task = Task(person_id=world.person.id, office_id=world.office.id, kind="video_inspection", status="completed",
                created_by_id=world.officer.id, created_at=at - timedelta(minutes=30), due_at=at,
                completed_at=at, result={
                    "band": "rejected", "reasons": ["other_person_seen"], "frames_sampled": 28,
                    "frames_matching": 3, "frames_other_person": 12, "best_distance": 0.41, "late": False,
                    "key_frames": [{"n": 0, "frame": 40, "time_s": 1.3, "reason": "other_person",
                                    "blob_key": frame.key, "sha256": frame.sha256, "size": frame.size}]})
    db_session.add(task)
    db_session.commit()
    return task
