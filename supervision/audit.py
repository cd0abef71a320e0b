"""Audit log: who did what, when and from where; every officer access to biometric data is recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEvent
from supervision.actors import Actor
from supervision.paging import keyset
from supervision.scope import office_condition


class AuditAction:
    PERSON_CREATED = "person.created"
    PERSON_UPDATED = "person.updated"
    PERSON_VIEWED = "person.viewed"
    FACE_ENROLLED = "face.enrolled"
    FACE_ENROL_REFUSED = "face.enrol_refused"
    FACE_DELETED = "face.deleted"
    FACE_PHOTO_VIEWED = "face.photo_viewed"
    FACES_REENCODED = "face.reencoded"
    CHECKIN_VIEWED = "checkin.viewed"
    CHECKIN_PHOTO_VIEWED = "checkin.photo_viewed"
    CHECKIN_REVIEWED = "checkin.reviewed"
    CHECKIN_REVIEW_UNDONE = "checkin.review_undone"
    LEAVE_DECIDED = "leave.decided"
    LEAVE_ATTACHMENT_VIEWED = "leave.attachment_viewed"
    LEVEL_CHANGED = "person.level_changed"
    ALERT_RESOLVED = "alert.resolved"
    ALERT_RESOLUTION_UNDONE = "alert.resolution_undone"
    SANCTION_RECORDED = "sanction.recorded"
    TASK_CREATED = "task.created"
    VIDEO_VIEWED = "video.viewed"
    VIDEO_REVIEWED = "video.reviewed"
    EVIDENCE_UNAVAILABLE = "evidence.unavailable"
    EVIDENCE_TAMPERED = "evidence.tampered"
    TRACKING_STARTED = "tracking.started"
    TRACKING_STOPPED = "tracking.stopped"
    ZONE_CREATED = "zone.created"
    ZONE_DELETED = "zone.deleted"
    TRAIL_VIEWED = "trail.viewed"
    LOCATION_PURGED = "location.purged"
    ACTIVITY_CREATED = "activity.created"
    ATTENDANCE_RECORDED = "attendance.recorded"
    ATTENDANCE_REVIEWED = "attendance.reviewed"
    TALK_RECORDED = "talk.recorded"
    TALK_NOTE_VIEWED = "talk.note_viewed"
    MESSAGE_SENT = "message.sent"
    DATA_PURGED = "retention.purged"
    PURGE_PLANNED = "retention.purge_planned"
    KEYS_ROTATED = "keys.rotated"
    PERSON_EXPORTED = "person.exported"
    BLOBS_CHECKED = "blobs.checked"


# How long after a decision the officer who took it may still take it back (a key pressed or a box ticked by
# mistake); the undo is audited like the decision.
UNDO_WINDOW = timedelta(minutes=2)


def record_event(*, session: Session, actor: Actor, action: str, at: datetime, person_id: int | None = None,
                 office_id: int | None = None, target_type: str | None = None, target_id: Any = None,
                 details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one audit event."""
    event = AuditEvent(
        at=at,
        actor_role=actor.role,
        actor_id=actor.id,
        actor_name=actor.name,
        action=action,
        person_id=person_id,
        office_id=office_id,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=actor.ip,
        details=details or {},
    )
    session.add(event)
    session.flush()
    return event


def list_events(*, session: Session, actor: Actor, person_id: int | None = None, action: str | None = None,
                after_id: int | None = None, limit: int = 50, actor_id: int | None = None,
                since: datetime | None = None, until: datetime | None = None) -> list[AuditEvent]:
    """Audit events visible to actor, newest first (keyset by id), filtered by person, action, who and period."""
    stmt = select(AuditEvent).where(office_condition(actor, AuditEvent.office_id))
    if person_id is not None:
        stmt = stmt.where(AuditEvent.person_id == person_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    return keyset(session, stmt, AuditEvent.id, after_id=after_id, limit=limit)


# Views of one record by one officer within this span read as one line of the log (every event stays stored).
REPEAT_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class AuditLine:
    """One line of the log as shown: an event, and how many identical ones it stands for since `first_at`."""

    event: AuditEvent
    count: int
    first_at: datetime


def collapse_repeats(events: Sequence[AuditEvent], window: timedelta = REPEAT_WINDOW) -> list[AuditLine]:
    """Merge runs of the same view (actor, action, target) within `window` of each other, newest first."""
    lines: list[AuditLine] = []
    for event in events:
        last = lines[-1] if lines else None
        if (last is not None and is_view(event.action) and _same(last.event, event)
                and last.first_at - event.at <= window):
            lines[-1] = AuditLine(event=last.event, count=last.count + 1, first_at=event.at)
        else:
            lines.append(AuditLine(event=event, count=1, first_at=event.at))
    return lines


def is_view(action: str) -> bool:
    """Whether an action only looked at a record ("checkin.viewed", "face.photo_viewed"; not "checkin.reviewed")."""
    verb = action.rsplit(".", 1)[-1]
    return verb == "viewed" or verb.endswith("_viewed")


def _same(a: AuditEvent, b: AuditEvent) -> bool:
    return (a.actor_role, a.actor_id, a.action, a.target_type, a.target_id, a.person_id) == (
        b.actor_role, b.actor_id, b.action, b.target_type, b.target_id, b.person_id)
