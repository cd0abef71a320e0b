"""Check-ins: the location rules a check-in is judged by, listing and reading them, and the officer review of
unclear ones. Recording one is the pipeline in supervision/checkin_pipeline.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.blobs import BlobStore
from storage.enums import CheckinStatus, LeaveStatus, Reason, ReviewDecision
from storage.models import Checkin, LeaveRequest, Person
from supervision import alerts
from supervision.actors import Actor
from supervision.audit import AuditAction, record_event
from supervision.checkin_judge import CheckinPolicy
from supervision.errors import Conflict, NotFound, ValidationFailed
from supervision.evidence import EvidencePurged, EvidenceSubject, view_evidence
from supervision.geo import Area, locate
from supervision.paging import keyset
from supervision.scope import get_in_scope, office_condition

REVIEWABLE = (CheckinStatus.NEEDS_REVIEW, CheckinStatus.REJECTED)


@dataclass(frozen=True)
class Fix:
    """Where the phone says it was, and how sure it is (metres)."""

    latitude: float
    longitude: float
    accuracy_m: float


@dataclass(frozen=True)
class LocationCheck:
    """Where a check-in was relative to the areas its rule allows (stored as the check-in's location), and the
    reasons it gives."""

    location: dict[str, Any]
    reasons: tuple[str, ...] = ()


# A check-in's location rule: (session, person, fix, capture time, policy) -> where it was and the reasons.
LocationRule = Callable[[Session, Person, Fix, datetime, CheckinPolicy], LocationCheck]


def leave_areas(session: Session, person_id: int, at: datetime) -> list[Area]:
    """Destinations of approved leave that covers the moment at."""
    stmt = select(LeaveRequest).where(
        LeaveRequest.person_id == person_id,
        LeaveRequest.status.in_((LeaveStatus.APPROVED, LeaveStatus.ACTIVE)),
        LeaveRequest.start_at <= at,
        LeaveRequest.end_at >= at,
        LeaveRequest.dest_lat.is_not(None),
    )
    return [
        Area("leave", leave.dest_lat, leave.dest_lon, leave.dest_radius_m or 5000.0, leave.id)  # type: ignore[arg-type]
        for leave in session.scalars(stmt)
    ]


def home_area(person: Person) -> Area | None:
    """The person's home area, when one is registered."""
    if person.home_lat is None or person.home_lon is None or person.home_radius_m is None:
        return None
    return Area("home", person.home_lat, person.home_lon, person.home_radius_m)


def place_reasons(inside: bool, fix: Fix, policy: CheckinPolicy) -> tuple[str, ...]:
    """outside_area, or location_inaccurate for a fix too coarse to show the person inside, or nothing."""
    if not inside:
        return (Reason.OUTSIDE_AREA,)
    if fix.accuracy_m > policy.max_accuracy_m:
        return (Reason.LOCATION_INACCURATE,)
    return ()


def within_areas(areas: list[Area], fix: Fix, policy: CheckinPolicy) -> LocationCheck:
    """Where the fix lies relative to these areas (none registered: not checked, no reason)."""
    if not areas:
        return LocationCheck({"inside_area": None, "checked": False})
    area, home_distance = locate(fix.latitude, fix.longitude, min(fix.accuracy_m, policy.max_accuracy_m), areas)
    location: dict[str, Any] = {
        "inside_area": area is not None,
        "area": area.kind if area else None,
        "leave_request_id": area.ref_id if area and area.kind == "leave" else None,
        "home_distance_m": round(home_distance, 1) if home_distance is not None else None,
        "accuracy_m": fix.accuracy_m,
    }
    return LocationCheck(location, place_reasons(area is not None, fix, policy))


def at_home_or_on_leave(session: Session, person: Person, fix: Fix, at: datetime,
                        policy: CheckinPolicy) -> LocationCheck:
    """The usual rule: inside the home area, or at the destination of approved leave that covers the moment."""
    home = home_area(person)
    return within_areas(([home] if home else []) + leave_areas(session, person.id, at), fix, policy)


def at_home(session: Session, person: Person, fix: Fix, at: datetime, policy: CheckinPolicy) -> LocationCheck:
    """The leave return's rule: back inside the home area (the leave destination does not count)."""
    home = home_area(person)
    return within_areas([home] if home else [], fix, policy)


def list_person_checkins(*, session: Session, person_id: int, after_id: int | None, limit: int) -> list[Checkin]:
    """A person's own check-ins and attempts, newest first."""
    stmt = select(Checkin).where(Checkin.person_id == person_id)
    return keyset(session, stmt, Checkin.id, after_id=after_id, limit=limit)


def list_checkins(*, session: Session, actor: Actor, status: str | None, person_id: int | None,
                  after_id: int | None, limit: int) -> list[Checkin]:
    """Check-ins in the actor's scope; the review queue (needs_review) is oldest first, history newest first."""
    stmt = select(Checkin).where(office_condition(actor, Checkin.office_id))
    if status:
        stmt = stmt.where(Checkin.status == status)
    if person_id is not None:
        stmt = stmt.where(Checkin.person_id == person_id)
    return keyset(session, stmt, Checkin.id, after_id=after_id, limit=limit,
                  oldest_first=status == CheckinStatus.NEEDS_REVIEW)


def get_checkin(*, session: Session, actor: Actor, checkin_id: int) -> Checkin:
    """One check-in the actor may see (persons: their own), else NotFound."""
    return get_in_scope(session, actor, Checkin, checkin_id, what="check-in")


def view_checkin(*, session: Session, actor: Actor, checkin_id: int, now: datetime) -> Checkin:
    """A check-in with its verification evidence for an officer; the access is audit-logged."""
    checkin = get_checkin(session=session, actor=actor, checkin_id=checkin_id)
    record_event(session=session, actor=actor, action=AuditAction.CHECKIN_VIEWED, at=now,
                 person_id=checkin.person_id, office_id=checkin.office_id, target_type="checkin",
                 target_id=checkin.id)
    return checkin


def read_checkin_photo(*, session: Session, blobs: BlobStore, actor: Actor, checkin_id: int,
                       now: datetime) -> tuple[bytes, str]:
    """The selfie bytes of a check-in; every access is audit-logged (a missing or altered file raises EvidenceError)."""
    checkin = get_checkin(session=session, actor=actor, checkin_id=checkin_id)
    if checkin.purged_at is not None:
        raise EvidencePurged("This photo was deleted at the end of its retention period.")
    if not checkin.photo_blob_key:
        raise NotFound("This attempt has no stored photo.")
    subject = EvidenceSubject(person_id=checkin.person_id, office_id=checkin.office_id, target_type="checkin",
                              target_id=checkin.id)
    data = view_evidence(session=session, blobs=blobs, actor=actor, key=checkin.photo_blob_key, subject=subject,
                         action=AuditAction.CHECKIN_PHOTO_VIEWED, now=now)
    return data, checkin.photo_content_type or "application/octet-stream"


def review_checkin(*, session: Session, actor: Actor, checkin_id: int, decision: str, note: str | None,
                   now: datetime) -> Checkin:
    """Record an officer's decision on an unclear or rejected check-in; a second review is a conflict."""
    checkin = get_checkin(session=session, actor=actor, checkin_id=checkin_id)
    if decision == ReviewDecision.REJECT and not (note and note.strip()):
        raise ValidationFailed({"note": ["A note is required to reject a check-in."]})
    # What the decision replaces, so the same officer can undo it for a short while (supervision/reviews.py).
    previous = {"status": checkin.status, "review_decision": checkin.review_decision,
                "review_note": checkin.review_note, "reviewed_by_id": checkin.reviewed_by_id}
    new_status = CheckinStatus.ACCEPTED if decision == ReviewDecision.ACCEPT else CheckinStatus.CONFIRMED_VIOLATION
    # A conditional update, so two officers deciding at once cannot both win.
    result = session.execute(
        update(Checkin)
        .where(Checkin.id == checkin.id, Checkin.status.in_(REVIEWABLE), Checkin.reviewed_at.is_(None))
        .values(status=new_status, review_decision=decision, review_note=note, reviewed_by_id=actor.id,
                reviewed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This check-in was already reviewed or needs no review.", code="already_reviewed")
    session.refresh(checkin)
    raised = alerts.on_checkin_reviewed(session=session, checkin=checkin, actor=actor, now=now)
    session.flush()
    record_event(session=session, actor=actor, action=AuditAction.CHECKIN_REVIEWED, at=now,
                 person_id=checkin.person_id, office_id=checkin.office_id, target_type="checkin",
                 target_id=checkin.id, details={"decision": decision, "note": note, "status": new_status,
                                                "previous": previous,
                                                "raised_alert_ids": [alert.id for alert in raised]})
    return checkin
