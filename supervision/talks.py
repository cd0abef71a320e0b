"""Individual talks (个别谈话) and counselling sessions (心理辅导) recorded by officers; the note is confidential:
visible only to staff in scope, and every read of it is audit-logged."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Person, Talk
from supervision.actors import Actor
from supervision.audit import AuditAction, record_event
from supervision.errors import NotFound, ValidationFailed
from supervision.paging import keyset
from supervision.scope import get_in_scope

TALK_RECORDED = AuditAction.TALK_RECORDED
TALK_NOTE_VIEWED = AuditAction.TALK_NOTE_VIEWED
FUTURE_TOLERANCE = timedelta(minutes=5)


def record_talk(*, session: Session, actor: Actor, person: Person, kind: str, at: datetime, minutes: int, note: str,
                now: datetime) -> Talk:
    """Record a talk or counselling session with a person in scope; audit-logged (without the note's text)."""
    if not actor.is_staff:
        raise NotFound("No such person.")
    if at > now + FUTURE_TOLERANCE:
        raise ValidationFailed({"at": ["A talk is recorded after it took place."]})
    if not note.strip():
        raise ValidationFailed({"note": ["Write what was discussed."]})
    talk = Talk(person_id=person.id, office_id=person.office_id, kind=kind, at=at, minutes=minutes, note=note,
                recorded_by_id=actor.id, created_at=now)
    session.add(talk)
    session.flush()
    record_event(session=session, actor=actor, action=TALK_RECORDED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="talk", target_id=talk.id,
                 details={"kind": kind, "minutes": minutes, "at": at.isoformat()})
    return talk


def list_talks(*, session: Session, person_id: int, after_id: int | None = None, limit: int = 50) -> list[Talk]:
    """A person's talks, newest first (callers show them without the note)."""
    stmt = select(Talk).where(Talk.person_id == person_id)
    return keyset(session, stmt, Talk.id, after_id=after_id, limit=limit)


def read_talk(*, session: Session, actor: Actor, talk_id: int, now: datetime) -> Talk:
    """One talk with its confidential note, for staff in scope; the read is audit-logged."""
    talk = get_in_scope(session, actor, Talk, talk_id, what="talk", persons_see_own=False)
    record_event(session=session, actor=actor, action=TALK_NOTE_VIEWED, at=now, person_id=talk.person_id,
                 office_id=talk.office_id, target_type="talk", target_id=talk.id)
    return talk
