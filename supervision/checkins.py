"""Selfie check-ins: verify face, place and time, record the evidence, and the officer review of unclear ones."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.blobs import BlobStore
from storage.db import on_rollback
from storage.enums import CheckinKind, CheckinStatus, LeaveStatus, Reason, ReviewDecision, TaskKind, TaskStatus
from storage.models import Checkin, LeaveRequest, Person, Task
from supervision import alerts
from supervision.actors import Actor
from supervision.audit import AuditAction, record_event
from supervision.errors import Conflict, NotFound, UnusableImage, ValidationFailed
from supervision.evidence import EvidencePurged, EvidenceSubject, view_evidence
from supervision.faces import IMAGE_ERROR_STATUS, ReferenceSet, load_reference_set, unusable
from supervision.geo import Area, locate
from supervision.paging import keyset
from supervision.passive import passive_flags
from supervision.scope import get_in_scope, office_condition
from verification.decode import sniff_content_type
from verification.engine import FaceEngine
from verification.errors import ImageError, QualityError
from verification.matching import MatchResult

REVIEWABLE = (CheckinStatus.NEEDS_REVIEW, CheckinStatus.REJECTED)


@dataclass(frozen=True)
class CheckinPolicy:
    late_after: timedelta = timedelta(minutes=10)
    future_tolerance: timedelta = timedelta(minutes=5)
    max_accuracy_m: float = 500.0
    # Fewer references than this cannot auto-verify: the calibration assumed at least this many.
    min_references: int = 3


@dataclass
class CheckinOutcome:
    checkin: Checkin
    # Set when the photo was unusable: the attempt is recorded, and the client is answered with this error.
    error: UnusableImage | None = None


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


def check_location(*, session: Session, person: Person, latitude: float, longitude: float, accuracy_m: float,
                   at: datetime, policy: CheckinPolicy, include_leave: bool = True) -> tuple[dict[str, Any], list[str]]:
    """Where the check-in was relative to home and approved leave destinations, and the reasons it gives."""
    home = home_area(person)
    areas = ([home] if home else []) + (leave_areas(session, person.id, at) if include_leave else [])
    if not areas:
        return {"inside_area": None, "checked": False}, []
    area, home_distance = locate(latitude, longitude, min(accuracy_m, policy.max_accuracy_m), areas)
    location: dict[str, Any] = {
        "inside_area": area is not None,
        "area": area.kind if area else None,
        "leave_request_id": area.ref_id if area and area.kind == "leave" else None,
        "home_distance_m": round(home_distance, 1) if home_distance is not None else None,
        "accuracy_m": accuracy_m,
    }
    reasons: list[str] = []
    if area is None:
        reasons.append(Reason.OUTSIDE_AREA)
    elif accuracy_m > policy.max_accuracy_m:
        # A fix this coarse cannot show the person is inside the area.
        reasons.append(Reason.LOCATION_INACCURATE)
    return location, reasons


def _open_task(session: Session, person: Person, task_id: int) -> Task:
    task = session.get(Task, task_id, with_for_update=True)
    if task is None or task.person_id != person.id or task.kind != TaskKind.SPOT_CHECK:
        raise NotFound("No such task.")
    # A spot check the sweep already marked missed can still be answered: the late answer is evidence too.
    if task.status not in (TaskStatus.OPEN, TaskStatus.MISSED):
        raise Conflict("This task is already answered or closed.", code="task_closed")
    return task


def _best_match(engine: FaceEngine, faces: list[Any], refs: ReferenceSet) -> MatchResult:
    # Every significant face in the photo is compared; the one closest to the person decides.
    results = [engine.decide(face.templates, refs.templates) for face in faces]
    return min(results, key=lambda r: float("inf") if r.distance is None else r.distance)


def record_checkin(*, session: Session, blobs: BlobStore, engine: FaceEngine, person: Person, actor: Actor,
                   photo: bytes, latitude: float, longitude: float, accuracy_m: float, captured_at: datetime,
                   now: datetime, policy: CheckinPolicy, device_bound: bool, task_id: int | None = None,
                   kind: str = CheckinKind.SCHEDULED, leave_request_id: int | None = None,
                   location_override: tuple[dict[str, Any], list[str]] | None = None,
                   liveness: dict[str, Any] | None = None) -> CheckinOutcome:
    """Verify a selfie check-in and record it with its evidence; unusable photos are recorded as failed attempts."""
    if captured_at > now + policy.future_tolerance:
        raise ValidationFailed({"captured_at": ["The capture time is in the future."]})
    task = _open_task(session, person, task_id) if task_id is not None else None
    if task is not None:
        kind = CheckinKind.SPOT_CHECK
    sha256 = hashlib.sha256(photo).hexdigest()
    checkin = Checkin(
        person_id=person.id,
        office_id=person.office_id,
        kind=kind,
        task_id=task.id if task else None,
        leave_request_id=leave_request_id,
        device_id=actor.device_id,
        device_bound=device_bound,
        received_at=now,
        captured_at=captured_at,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=accuracy_m,
        photo_sha256=sha256,
        reasons=[],
        flags=[],
        liveness=liveness,
    )

    replayed = session.scalar(
        # Failed attempts do not count: resending an unusable photo must get the same refusal again.
        select(Checkin.id).where(Checkin.person_id == person.id, Checkin.photo_sha256 == sha256,
                                 Checkin.status != CheckinStatus.FAILED).limit(1)
    )
    analysis = None
    error: UnusableImage | None = None
    if replayed is None:
        try:
            analysis = engine.analyze(photo, purpose="checkin")
        except (ImageError, QualityError) as exc:
            error = unusable(exc)

    # Photos that decoded are kept as evidence (failed attempts included); bytes that are no image are not.
    if error is None or error.code not in IMAGE_ERROR_STATUS:
        content_type = analysis.content_type if analysis else (sniff_content_type(photo) or "application/octet-stream")
        stored = blobs.put(photo, content_type=content_type)
        on_rollback(session, lambda: blobs.delete(stored.key))
        checkin.photo_blob_key = stored.key
        checkin.photo_content_type = stored.content_type
        checkin.photo_size = stored.size

    reasons: list[str] = []
    if error is not None:
        checkin.status = CheckinStatus.FAILED
        checkin.failure_code = error.code
        checkin.quality = error.extra.get("quality")
        checkin.engine_version = engine.version
    elif replayed is not None:
        checkin.status = CheckinStatus.REJECTED
        reasons.append(Reason.DUPLICATE_IMAGE)
        checkin.match = {"duplicate_of": replayed}
    else:
        assert analysis is not None
        checkin.quality = analysis.quality
        checkin.flags = [*analysis.flags, *passive_flags(session=session, person=person, device_id=actor.device_id,
                                                         exif=analysis.exif, captured_at=captured_at)]
        checkin.exif = analysis.exif or None
        checkin.engine_version = engine.version
        refs = load_reference_set(session=session, blobs=blobs, engine=engine, person_id=person.id, now=now)
        result = _best_match(engine, analysis.faces, refs)
        checkin.match = result.as_dict()
        if refs.unusable or refs.encoded_now:
            checkin.match["references"] = {"active": refs.active, "used": len(refs.references),
                                           "encoded_now": refs.encoded_now, "unusable": refs.unusable}
        if result.best_index is not None:
            checkin.best_reference_id = refs.references[result.best_index].id
        if not refs.active:
            reasons.append(Reason.NO_REFERENCES)
        elif not refs.references:
            # References exist, but none carries this engine's template and none could be templated from its photo.
            reasons.append(Reason.REFERENCES_NOT_ENCODED)
        elif len(refs.references) < policy.min_references and result.band == "verified":
            reasons.append(Reason.TOO_FEW_REFERENCES)
        elif result.band == "rejected":
            reasons.append(Reason.FACE_MISMATCH)
        elif result.band == "needs_review":
            reasons.append(Reason.FACE_INCONCLUSIVE)
        if len(analysis.faces) > 1:
            reasons.append(Reason.MULTIPLE_FACES)
        location, location_reasons = location_override or check_location(
            session=session, person=person, latitude=latitude, longitude=longitude, accuracy_m=accuracy_m,
            at=captured_at, policy=policy)
        checkin.location = location
        reasons.extend(location_reasons)
        if now - captured_at > policy.late_after:
            reasons.append(Reason.LATE)
        if task is not None and captured_at > task.due_at:
            reasons.append(Reason.TASK_LATE)
        if not device_bound:
            reasons.append(Reason.DEVICE_NOT_BOUND)
        if liveness is not None and not liveness.get("passed"):
            reasons.append(Reason.LIVENESS_FAILED)
        if result.band == "rejected" or (liveness or {}).get("different_person"):
            checkin.status = CheckinStatus.REJECTED
        elif reasons:
            checkin.status = CheckinStatus.NEEDS_REVIEW
        else:
            checkin.status = CheckinStatus.VERIFIED
    checkin.reasons = reasons
    session.add(checkin)
    session.flush()

    if task is not None and checkin.status != CheckinStatus.FAILED:
        task.status = TaskStatus.COMPLETED
        task.completed_at = now
        task.checkin_id = checkin.id
    alerts.on_checkin_recorded(session=session, checkin=checkin, person=person, now=now)
    return CheckinOutcome(checkin, error)


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
