"""Alerts: raised once per event (a dedupe key makes raising idempotent) and resolved by an officer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.enums import AlertStatus, AlertType, CheckinKind, CheckinStatus, LocationSignal, Reason, SanctionKind
from storage.models import Alert, Checkin, Person, Sanction
from supervision import sanctions
from supervision.actors import Actor
from supervision.audit import UNDO_WINDOW, AuditAction, record_event
from supervision.duties import DutyPolicy
from supervision.errors import Conflict, Forbidden, ValidationFailed
from supervision.paging import keyset
from supervision.scope import get_in_scope, office_condition

DISMISS = "dismiss"
RESOLUTION_ACTIONS = (DISMISS, *(kind.value for kind in SanctionKind))


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


def list_alerts(*, session: Session, actor: Actor, status: str | None = None, alert_type: str | None = None,
                person_id: int | None = None, after_id: int | None = None, limit: int = 50) -> list[Alert]:
    """Alerts in the actor's scope, newest first."""
    stmt = select(Alert).where(office_condition(actor, Alert.office_id))
    if status:
        stmt = stmt.where(Alert.status == status)
    if alert_type:
        stmt = stmt.where(Alert.type == alert_type)
    if person_id is not None:
        stmt = stmt.where(Alert.person_id == person_id)
    return keyset(session, stmt, Alert.id, after_id=after_id, limit=limit)


def get_alert(*, session: Session, actor: Actor, alert_id: int) -> Alert:
    """One alert in the actor's scope, else NotFound (never Forbidden)."""
    return get_in_scope(session, actor, Alert, alert_id, what="alert", persons_see_own=False)


@dataclass
class Resolution:
    alert: Alert
    sanction: Sanction | None


def resolve_alert(*, session: Session, actor: Actor, alert_id: int, action: str, note: str | None, now: datetime,
                  policy: DutyPolicy | None = None) -> Resolution:
    """Close an alert by dismissing it or recording a sanction; the note is required, a second resolve conflicts."""
    alert = get_alert(session=session, actor=actor, alert_id=alert_id)
    if action not in RESOLUTION_ACTIONS:
        raise ValidationFailed({"action": [f"Use one of {', '.join(RESOLUTION_ACTIONS)}."]})
    if not (note and note.strip()):
        raise ValidationFailed({"note": ["A note is required to resolve an alert."]})
    # A conditional update, so two officers resolving at once cannot both win.
    result = session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.status == AlertStatus.OPEN)
        .values(status=AlertStatus.RESOLVED, resolved_at=now, resolved_by_id=actor.id, resolution=action,
                resolution_note=note)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This alert is already resolved.", code="already_resolved")
    session.refresh(alert)
    sanction = None
    if action != DISMISS:
        person = session.get(Person, alert.person_id)
        assert person is not None
        sanction = sanctions.record_sanction(
            session=session, actor=actor, person=person, kind=action, note=note, now=now, alert_id=alert.id,
            policy=policy,
            evidence={"alert": {"id": alert.id, "type": alert.type, "occurred_at": alert.occurred_at.isoformat(),
                                "evidence": alert.evidence}})
    record_event(session=session, actor=actor, action=AuditAction.ALERT_RESOLVED, at=now, person_id=alert.person_id,
                 office_id=alert.office_id, target_type="alert", target_id=alert.id,
                 details={"type": alert.type, "action": action, "note": note,
                          "sanction_id": sanction.id if sanction else None})
    return Resolution(alert, sanction)


# One note may close at most this many alerts at once (a page of the inbox).
MAX_BULK = 100


def dismiss_alerts(*, session: Session, actor: Actor, alert_ids: Sequence[int], note: str | None,
                   now: datetime) -> tuple[list[int], list[int]]:
    """Dismiss several alerts with one note (each audited as if dismissed alone); returns (dismissed, skipped).

    Alerts outside the actor's scope are refused as not found, all or nothing; ones already resolved (by a
    colleague meanwhile) are skipped, not an error.
    """
    ids = sorted(set(alert_ids))
    if not ids or len(ids) > MAX_BULK:
        raise ValidationFailed({"alert_ids": [f"Choose 1 to {MAX_BULK} alerts."]})
    if not (note and note.strip()):
        raise ValidationFailed({"note": ["A note is required to resolve an alert."]})
    for alert_id in ids:
        get_alert(session=session, actor=actor, alert_id=alert_id)  # scope first: nothing changes on a refusal
    dismissed: list[int] = []
    skipped: list[int] = []
    for alert_id in ids:
        try:
            resolve_alert(session=session, actor=actor, alert_id=alert_id, action=DISMISS, note=note, now=now)
        except Conflict:
            skipped.append(alert_id)
        else:
            dismissed.append(alert_id)
    return dismissed, skipped


def undo_dismissals(*, session: Session, actor: Actor, alert_ids: Sequence[int], now: datetime,
                    window: timedelta = UNDO_WINDOW) -> list[int]:
    """Open again alerts the actor dismissed less than `window` ago (one or a bulk dismissal), all or nothing.

    Refused when an alert is not resolved (nothing_to_undo), was resolved by someone else (undo_not_yours), too long
    ago (undo_expired) or with a sanction (undo_sanction: the sanction is on file and is corrected, not undone).
    Each alert is back exactly as it was before (open, no resolution); each undo is audited.
    """
    ids = sorted(set(alert_ids))
    if not ids or len(ids) > MAX_BULK:
        raise ValidationFailed({"alert_ids": [f"Choose 1 to {MAX_BULK} alerts."]})
    found = [get_alert(session=session, actor=actor, alert_id=alert_id) for alert_id in ids]
    for alert in found:
        if alert.status != AlertStatus.RESOLVED or alert.resolved_at is None:
            raise Conflict("The alert is not resolved: there is nothing to undo.", code="nothing_to_undo")
        if alert.resolved_by_id != actor.id:
            raise Forbidden("Only the officer who resolved the alert may undo it.", code="undo_not_yours")
        if now - alert.resolved_at > window:
            raise Conflict(f"A decision can be undone within {int(window.total_seconds())} seconds only.",
                           code="undo_expired")
        if alert.resolution != DISMISS:
            raise Conflict("A sanction was recorded with this resolution: it stays on file.", code="undo_sanction")
    for alert in found:
        undone = {"resolution": alert.resolution, "note": alert.resolution_note,
                  "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None}
        result = session.execute(
            update(Alert)
            .where(Alert.id == alert.id, Alert.status == AlertStatus.RESOLVED, Alert.resolved_by_id == actor.id,
                   Alert.resolution == DISMISS)
            .values(status=AlertStatus.OPEN, resolved_at=None, resolved_by_id=None, resolution=None,
                    resolution_note=None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("The alert is not resolved: there is nothing to undo.", code="nothing_to_undo")
        session.refresh(alert)
        record_event(session=session, actor=actor, action=AuditAction.ALERT_RESOLUTION_UNDONE, at=now,
                     person_id=alert.person_id, office_id=alert.office_id, target_type="alert", target_id=alert.id,
                     details={"type": alert.type, "undone": undone})
    return ids


def count_open_alerts(*, session: Session, person_id: int) -> dict[str, int]:
    """Open alerts of a person by type."""
    stmt = (select(Alert.type, func.count(Alert.id))
            .where(Alert.person_id == person_id, Alert.status == AlertStatus.OPEN)
            .group_by(Alert.type))
    return {alert_type: count for alert_type, count in session.execute(stmt)}


def _checkin_evidence(checkin: Checkin) -> dict[str, Any]:
    return {"checkin_id": checkin.id, "status": checkin.status, "reasons": list(checkin.reasons or []),
            "captured_at": checkin.captured_at.isoformat(), "received_at": checkin.received_at.isoformat()}


def on_checkin_recorded(*, session: Session, checkin: Checkin, person: Person, now: datetime) -> list[Alert]:
    """Raise the alerts a new check-in calls for: rejected face, outside the area, new device, late spot check."""
    reasons = set(checkin.reasons or [])
    evidence = _checkin_evidence(checkin)
    wanted: list[tuple[str, str, dict[str, Any]]] = []
    if checkin.status == CheckinStatus.REJECTED:
        wanted.append((AlertType.FACE_MISMATCH, f"face_mismatch:checkin:{checkin.id}",
                       {**evidence, "match": checkin.match}))
    if checkin.kind == CheckinKind.SPOT_CHECK and Reason.FACE_MISMATCH in reasons:
        # 人机分离: the phone answered the spot check, but with somebody else's face.
        wanted.append((AlertType.PERSON_PHONE_SEPARATION, f"person_phone_separation:checkin:{checkin.id}",
                       {**evidence, "match": checkin.match, "signal": LocationSignal.SPOT_CHECK_FACE_MISMATCH.value,
                        "explanation": f"Spot check #{checkin.task_id} was answered from the person's phone with a "
                                       "face that does not match the references: the phone may not be with them."}))
    if Reason.OUTSIDE_AREA in reasons:
        wanted.append((AlertType.OUTSIDE_AREA, f"outside_area:checkin:{checkin.id}",
                       {**evidence, "latitude": checkin.latitude, "longitude": checkin.longitude,
                        "accuracy_m": checkin.accuracy_m, "location": checkin.location}))
    if Reason.DEVICE_NOT_BOUND in reasons:
        # One alert per unknown phone, not one per check-in made with it.
        device = checkin.device_id or "unknown"
        wanted.append((AlertType.DEVICE_CHANGED, f"device_changed:{person.id}:{device}",
                       {**evidence, "device_id": checkin.device_id}))
    if Reason.TASK_LATE in reasons and checkin.task_id is not None:
        # Same key as the sweep's, so a task answered late and a task never answered give one alert each.
        wanted.append((AlertType.SPOT_CHECK_MISSED, f"spot_check_missed:{checkin.task_id}",
                       {**evidence, "task_id": checkin.task_id, "answered": "late"}))
    raised = []
    for alert_type, key, details in wanted:
        alert = raise_alert(session=session, person_id=person.id, office_id=person.office_id, alert_type=alert_type,
                            dedupe_key=key, occurred_at=checkin.captured_at, now=now, evidence=details)
        if alert is not None:
            raised.append(alert)
    return raised


def on_checkin_reviewed(*, session: Session, checkin: Checkin, actor: Actor, now: datetime) -> list[Alert]:
    """Raise face_mismatch when an officer confirms a check-in as a violation (once per check-in)."""
    if checkin.status != CheckinStatus.CONFIRMED_VIOLATION:
        return []
    evidence = {**_checkin_evidence(checkin), "match": checkin.match, "review_note": checkin.review_note,
                "reviewed_by_id": actor.id}
    alert = raise_alert(session=session, person_id=checkin.person_id, office_id=checkin.office_id,
                        alert_type=AlertType.FACE_MISMATCH, dedupe_key=f"face_mismatch:checkin:{checkin.id}",
                        occurred_at=checkin.captured_at, now=now, evidence=evidence)
    return [alert] if alert is not None else []
