"""Sanctions (考核奖惩): officers record decisions; the system only suggests the next step from the history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.enums import SanctionKind, SupervisionLevel
from storage.models import Checkin, Person, Sanction
from supervision import duties, persons
from supervision.actors import Actor
from supervision.audit import AuditAction, record_event
from supervision.errors import Forbidden, NotFound, ValidationFailed
from supervision.paging import keyset
from supervision.scope import get_in_scope, office_condition

# The rising order of DOMAIN.md; a sanction of a rank covers the suggestions of that rank and below.
RANK: dict[str, int] = {
    SanctionKind.ADMONITION: 1,
    SanctionKind.WARNING: 2,
    SanctionKind.POLICE_PENALTY_REQUEST: 3,
    SanctionKind.REVOCATION_REQUEST: 4,
    SanctionKind.RETURN_TO_PRISON: 5,
}
# Local guidance on absence (脱管); "a month" is taken as 30 days.
ABSENCE_WARNING_AFTER = timedelta(days=10)
ABSENCE_REVOCATION_AFTER = timedelta(days=30)
# How far back the absence is looked for: beyond a month the suggestion no longer changes.
ABSENCE_LOOKBACK_DAYS = 45
SANCTION_CORRECTED = "sanction.corrected"


class SanctionFact(Protocol):
    """What the rules need of a recorded sanction (a Sanction row fits)."""

    @property
    def kind(self) -> str: ...

    @property
    def decided_at(self) -> datetime: ...

    @property
    def corrected_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Absence:
    """The person has not reported since the first missed check-in window after their last check-in."""

    since: datetime
    missed_windows: int

    def duration(self, now: datetime) -> timedelta:
        """How long the person has been out of contact at now."""
        return now - self.since

    def as_dict(self, now: datetime) -> dict[str, Any]:
        """The absence for an API answer."""
        return {"since": self.since.isoformat(), "missed_windows": self.missed_windows,
                "days": round(self.duration(now) / timedelta(days=1), 2)}


@dataclass(frozen=True)
class Suggestion:
    """The next step the rules point to; an officer decides.

    `reason` is the English sentence (API answers, the audit trail); pages translate the rule code with `params`
    (days out of contact, or the number of sanctions not corrected) instead.
    """

    kind: str
    rule: str
    reason: str
    since: datetime
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The suggestion for an API answer."""
        return {"kind": self.kind, "rule": self.rule, "reason": self.reason, "since": self.since.isoformat()}


def _covered(kind: str, since: datetime, history: Sequence[SanctionFact]) -> bool:
    # The step was already taken (or a stronger one) after the facts that call for it.
    return any(RANK.get(s.kind, 0) >= RANK[kind] and s.decided_at >= since for s in history)


def suggest_sanction(*, absence: Absence | None, history: Sequence[SanctionFact], now: datetime) -> Suggestion | None:
    """The strongest step the local guidance calls for that has not been taken yet, or None."""
    candidates: list[Suggestion] = []
    if absence is not None:
        absent_for = absence.duration(now)
        days = absent_for / timedelta(days=1)
        if absent_for > ABSENCE_REVOCATION_AFTER:
            candidates.append(Suggestion(SanctionKind.REVOCATION_REQUEST, "absent_over_1_month",
                                         f"Out of contact for {days:.1f} days (over a month).", absence.since,
                                         {"days": round(days, 1)}))
        elif absent_for > ABSENCE_WARNING_AFTER:
            candidates.append(Suggestion(SanctionKind.WARNING, "absent_over_10_days",
                                         f"Out of contact for {days:.1f} days (over 10 days).", absence.since,
                                         {"days": round(days, 1)}))
        elif absent_for > timedelta(0):
            candidates.append(Suggestion(SanctionKind.ADMONITION, "absent_up_to_10_days",
                                         f"Out of contact for {days:.1f} days.", absence.since,
                                         {"days": round(days, 1)}))
    uncorrected = sorted((s for s in history if s.corrected_at is None), key=lambda s: s.decided_at)
    warnings = [s for s in uncorrected if s.kind == SanctionKind.WARNING]
    admonitions = [s for s in uncorrected if s.kind == SanctionKind.ADMONITION]
    if len(warnings) >= 2:
        candidates.append(Suggestion(SanctionKind.REVOCATION_REQUEST, "two_uncorrected_warnings",
                                     f"{len(warnings)} warnings not corrected.", warnings[1].decided_at,
                                     {"count": len(warnings)}))
    if len(admonitions) >= 2:
        candidates.append(Suggestion(SanctionKind.WARNING, "two_uncorrected_admonitions",
                                     f"{len(admonitions)} admonitions not corrected.", admonitions[1].decided_at,
                                     {"count": len(admonitions)}))
    open_steps = [c for c in candidates if not _covered(c.kind, c.since, history)]
    if not open_steps:
        return None
    return max(open_steps, key=lambda c: RANK[c.kind])


def find_absence(*, session: Session, person: Person, now: datetime, policy: duties.DutyPolicy,
                 lookback_days: int = ABSENCE_LOOKBACK_DAYS) -> Absence | None:
    """Missed windows since the person's last verified or accepted check-in (or awaiting review), if any."""
    summary = duties.compliance(session=session, person=person, now=now, policy=policy, days=lookback_days)
    last_contact = session.scalar(
        select(Checkin.captured_at)
        .where(Checkin.person_id == person.id, Checkin.status.in_((*duties.FULFILLING, *duties.PENDING)))
        .order_by(Checkin.captured_at.desc())
        .limit(1)
    )
    missed = [w for w in summary.missed_windows if last_contact is None or w.start > last_contact]
    if not missed:
        return None
    return Absence(since=missed[0].start, missed_windows=len(missed))


def person_sanctions(*, session: Session, person_id: int) -> list[Sanction]:
    """Every sanction recorded for a person, newest first."""
    stmt = select(Sanction).where(Sanction.person_id == person_id)
    return list(session.scalars(stmt.order_by(Sanction.decided_at.desc(), Sanction.id.desc())))


def suggest_next_step(*, session: Session, person: Person, now: datetime,
                      policy: duties.DutyPolicy) -> Suggestion | None:
    """The suggestion for a person from their absences and sanction history."""
    absence = find_absence(session=session, person=person, now=now, policy=policy)
    return suggest_sanction(absence=absence, history=person_sanctions(session=session, person_id=person.id), now=now)


def list_sanctions(*, session: Session, actor: Actor, person_id: int, after_id: int | None = None,
                   limit: int = 50) -> list[Sanction]:
    """A person's sanctions in the actor's scope, newest first."""
    stmt = select(Sanction).where(Sanction.person_id == person_id, office_condition(actor, Sanction.office_id))
    return keyset(session, stmt, Sanction.id, after_id=after_id, limit=limit)


def record_sanction(*, session: Session, actor: Actor, person: Person, kind: str, note: str | None, now: datetime,
                    alert_id: int | None = None, evidence: dict[str, Any] | None = None,
                    policy: duties.DutyPolicy | None = None) -> Sanction:
    """Record an officer's decision with who, when and why; a warning or a second admonition makes the level strict."""
    if kind not in RANK:
        raise ValidationFailed({"kind": [f"Use one of {', '.join(RANK)}."]})
    if not (note and note.strip()):
        raise ValidationFailed({"note": ["A note is required: the decision may become evidence."]})
    if not actor.is_staff or actor.id is None:
        raise Forbidden("Only an officer can decide a sanction.")
    # What the system suggested is kept beside what the officer decided.
    suggestion = suggest_next_step(session=session, person=person, now=now, policy=policy) if policy else None
    sanction = Sanction(person_id=person.id, office_id=person.office_id, kind=kind, alert_id=alert_id,
                        decided_by_id=actor.id, decided_at=now, note=note, evidence=evidence or {})
    session.add(sanction)
    session.flush()
    record_event(session=session, actor=actor, action=AuditAction.SANCTION_RECORDED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="sanction", target_id=sanction.id,
                 details={"kind": kind, "note": note, "alert_id": alert_id,
                          "suggested": suggestion.as_dict() if suggestion else None})
    admonitions = session.scalars(select(Sanction.id).where(
        Sanction.person_id == person.id, Sanction.kind == SanctionKind.ADMONITION, Sanction.corrected_at.is_(None)
    )).all()
    # Classified management (DOMAIN.md): strict after any warning or two admonitions.
    if person.supervision_level != SupervisionLevel.STRICT and (
            kind == SanctionKind.WARNING or (kind == SanctionKind.ADMONITION and len(admonitions) >= 2)):
        persons.update_person(session=session, actor=actor, person=person,
                              changes={"supervision_level": SupervisionLevel.STRICT.value}, now=now)
    return sanction


def correct_sanction(*, session: Session, actor: Actor, person_id: int, sanction_id: int, note: str | None,
                     now: datetime) -> Sanction:
    """Record that the person corrected the behaviour behind an admonition or warning, so it stops escalating."""
    sanction = get_in_scope(session, actor, Sanction, sanction_id, what="sanction", persons_see_own=False)
    if sanction.person_id != person_id:
        raise NotFound("No such sanction.")
    if not (note and note.strip()):
        raise ValidationFailed({"note": ["A note is required."]})
    if sanction.corrected_at is None:
        sanction.corrected_at = now
        record_event(session=session, actor=actor, action=SANCTION_CORRECTED, at=now, person_id=sanction.person_id,
                     office_id=sanction.office_id, target_type="sanction", target_id=sanction.id,
                     details={"kind": sanction.kind, "note": note})
        session.flush()
    return sanction
