"""Undoing a review decision: the officer who decided may take it back for a short while (a key pressed by mistake).

The decision's audit event holds what it replaced (supervision.checkins.review_checkin), so the undo restores the
check-in exactly: its status before the review and empty review fields; an alert the decision raised is withdrawn
while nobody has handled it yet. The undo itself is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.enums import AlertStatus
from storage.models import Alert, AuditEvent, Checkin
from supervision.actors import Actor
from supervision.audit import UNDO_WINDOW, AuditAction, record_event
from supervision.checkins import REVIEWABLE, get_checkin
from supervision.errors import Conflict, Forbidden


def last_review_event(session: Session, checkin_id: int) -> AuditEvent | None:
    """The audit event of the check-in's latest review decision."""
    return session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == AuditAction.CHECKIN_REVIEWED, AuditEvent.target_type == "checkin",
               AuditEvent.target_id == str(checkin_id))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


def undo_deadline(checkin: Checkin, window: timedelta = UNDO_WINDOW) -> datetime | None:
    """Until when the decision on the check-in may be undone (None when it has no decision)."""
    return None if checkin.reviewed_at is None else checkin.reviewed_at + window


def undo_review(*, session: Session, actor: Actor, checkin_id: int, now: datetime,
                window: timedelta = UNDO_WINDOW) -> Checkin:
    """Take back the actor's own review decision made less than `window` ago; the check-in is reviewable again.

    Refused with a Conflict when there is no decision to undo (code nothing_to_undo), when the window has passed
    (undo_expired) or when an alert the decision raised was handled meanwhile (undo_superseded); with Forbidden
    (undo_not_yours) when another officer decided.
    """
    checkin = get_checkin(session=session, actor=actor, checkin_id=checkin_id)
    event = last_review_event(session, checkin.id)
    previous = (event.details or {}).get("previous") if event is not None else None
    if (checkin.reviewed_at is None or event is None or not isinstance(previous, dict)
            or previous.get("status") not in REVIEWABLE):
        raise Conflict("This check-in has no review decision to undo.", code="nothing_to_undo")
    if checkin.reviewed_by_id != actor.id or event.actor_id != actor.id:
        raise Forbidden("Only the officer who decided may undo the decision.", code="undo_not_yours")
    if now - checkin.reviewed_at > window:
        raise Conflict(f"A decision can be undone within {int(window.total_seconds())} seconds only.",
                       code="undo_expired")
    raised = [int(i) for i in (event.details or {}).get("raised_alert_ids") or []]
    if raised and session.scalar(select(Alert.id).where(Alert.id.in_(raised),
                                                        Alert.status != AlertStatus.OPEN).limit(1)) is not None:
        raise Conflict("The alert this decision raised was handled already.", code="undo_superseded")
    decided = {"status": checkin.status, "review_decision": checkin.review_decision,
               "review_note": checkin.review_note, "reviewed_at": checkin.reviewed_at.isoformat()}
    # Conditional, so an undo and anything else acting on the decision at once cannot both win.
    result = session.execute(
        update(Checkin)
        .where(Checkin.id == checkin.id, Checkin.status == checkin.status, Checkin.reviewed_at == checkin.reviewed_at,
               Checkin.reviewed_by_id == actor.id)
        .values(status=previous["status"], review_decision=previous.get("review_decision"),
                review_note=previous.get("review_note"), reviewed_by_id=previous.get("reviewed_by_id"),
                reviewed_at=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This check-in has no review decision to undo.", code="nothing_to_undo")
    withdrawn: list[int] = []
    if raised:
        withdrawn = list(session.scalars(select(Alert.id).where(Alert.id.in_(raised),
                                                                Alert.status == AlertStatus.OPEN)))
        session.execute(delete(Alert).where(Alert.id.in_(withdrawn)).execution_options(synchronize_session="fetch"))
    session.refresh(checkin)
    record_event(session=session, actor=actor, action=AuditAction.CHECKIN_REVIEW_UNDONE, at=now,
                 person_id=checkin.person_id, office_id=checkin.office_id, target_type="checkin",
                 target_id=checkin.id, details={"undone": decided, "undone_event_id": event.id,
                                                "restored": previous, "withdrawn_alert_ids": withdrawn})
    return checkin
