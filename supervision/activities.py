"""Education and community-service sessions (集中教育, 公益活动): scheduling, invitations, attendance proven by a
selfie check-in at the venue at the start and the end, officer review, monthly hours by level and the shortfall."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, case, cast, exists, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.enums import (
    ActivityKind,
    ActivityStatus,
    AlertStatus,
    AlertType,
    AttendanceDecision,
    AttendanceSource,
    AttendanceStatus,
    CheckinKind,
    CheckinStatus,
    MessageKind,
    PersonStatus,
    Reason,
    SupervisionLevel,
)
from storage.models import Activity, ActivityInvitation, Alert, Attendance, Message, Office, Person
from supervision import messages
from supervision.actors import Actor
from supervision.audit import AuditAction, record_event
from supervision.checkin_judge import CheckinPolicy
from supervision.checkin_pipeline import CheckinContext, CheckinOutcome, Purpose, Submission, submit_checkin
from supervision.checkins import Fix, LocationCheck, LocationRule, place_reasons
from supervision.duties import DutyPolicy, check_timezone
from supervision.errors import Conflict, NotFound, ValidationFailed
from supervision.geo import Area, haversine_m, locate
from supervision.locks import lock_person
from supervision.paging import keyset
from supervision.scope import can_see_office, get_person, office_condition

ACTIVITY_CREATED = AuditAction.ACTIVITY_CREATED
ATTENDANCE_RECORDED = AuditAction.ATTENDANCE_RECORDED
ATTENDANCE_REVIEWED = AuditAction.ATTENDANCE_REVIEWED
# The hours of these statuses count towards the month.
COUNTED = (AttendanceStatus.VERIFIED, AttendanceStatus.CONFIRMED)
CATEGORIES = ("study", "service")
MAX_SESSION = timedelta(hours=12)


def category(kind: str) -> str:
    """study or service: community service counts as service, every other session as study."""
    return "service" if kind == ActivityKind.COMMUNITY_SERVICE else "study"


# ------------------------------------------------------------------------------------------------ rules


def _default_hours() -> dict[str, dict[str, float]]:
    # One post-2020 provincial rule: 严管 12 hours of study and 12 of community service a month; others set 8.
    return {SupervisionLevel.STRICT: {"study": 12.0, "service": 12.0},
            SupervisionLevel.ORDINARY: {"study": 8.0, "service": 8.0},
            SupervisionLevel.LENIENT: {"study": 4.0, "service": 4.0}}


def _parse_json(value: Any, name: str) -> Mapping[str, Any]:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a JSON object")
    return value


def _merge_hours(base: Mapping[str, Mapping[str, float]], changes: Mapping[str, Any],
                 where: str) -> dict[str, dict[str, float]]:
    merged = {level: dict(values) for level, values in base.items()}
    for level, values in changes.items():
        if level not in merged or not isinstance(values, Mapping):
            raise ValueError(f"{where}: {level!r} is not a level with {{study, service}} hours")
        for name, hours in values.items():
            if name not in CATEGORIES:
                raise ValueError(f"{where}: unknown hours {name!r} (use study, service)")
            if isinstance(hours, bool) or float(hours) < 0:
                raise ValueError(f"{where}: hours must be >= 0, not {hours!r}")
            merged[level][name] = float(hours)
    return merged


@dataclass(frozen=True)
class ActivityPolicy:
    """Attendance windows, the monthly hours each level owes, and when the shortfall reminder goes out."""

    hours: Mapping[str, Mapping[str, float]] = field(default_factory=_default_hours)
    office_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # A check-in is accepted this long before the start; a check-out this long after the end.
    early: timedelta = timedelta(minutes=30)
    late: timedelta = timedelta(minutes=30)
    # The "shortfall coming" message goes out this many days before the month ends.
    warn_days: int = 7
    timezone: str = "Asia/Shanghai"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ActivityPolicy:
        """Build the policy from CHECKIN_* settings (JSON strings from the environment)."""
        hours = _merge_hours(_default_hours(), _parse_json(config.get("HOURS_REQUIRED") or {}, "HOURS_REQUIRED"),
                             "HOURS_REQUIRED")
        overrides = _parse_json(config.get("HOURS_OFFICE_OVERRIDES") or {}, "HOURS_OFFICE_OVERRIDES")
        policy = cls(hours=hours, office_overrides={str(k): v for k, v in overrides.items()},
                     early=timedelta(minutes=float(config.get("ACTIVITY_CHECKIN_EARLY_MINUTES", 30))),
                     late=timedelta(minutes=float(config.get("ACTIVITY_CHECKOUT_LATE_MINUTES", 30))),
                     warn_days=int(config.get("HOURS_WARN_DAYS", 7)),
                     timezone=str(config.get("DUTY_TIMEZONE") or "Asia/Shanghai"))
        if policy.early < timedelta(0) or policy.late < timedelta(0) or policy.warn_days < 0:
            raise ValueError("activity windows and HOURS_WARN_DAYS must be >= 0")
        for code in policy.office_overrides:
            policy.required(code, SupervisionLevel.STRICT)  # fail at start-up
        return policy

    def for_office(self, office_code: str | None) -> ActivityPolicy:
        """The rules of one office (its hours overrides applied)."""
        changes = self.office_overrides.get(office_code or "")
        if not changes:
            return self
        return replace(self, hours=_merge_hours(self.hours, changes, f"HOURS_OFFICE_OVERRIDES {office_code}"),
                       office_overrides={})

    def required(self, office_code: str | None, level: str) -> dict[str, float]:
        """Monthly hours of study and service a person of level owes in that office."""
        table = self.for_office(office_code).hours
        return dict(table.get(level) or table[SupervisionLevel.STRICT])


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    try:
        return check_timezone(name or fallback)
    except ValueError:
        return check_timezone(fallback)


def office_zone(person: Person, policy: ActivityPolicy) -> ZoneInfo:
    """The time zone months are counted in for person (their office's, else the policy's)."""
    return _zone(person.office.timezone, policy.timezone)


def month_bounds(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The month containing month as [first midnight, next month's first midnight), local time."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return (datetime(first.year, first.month, 1, tzinfo=zone), datetime(following.year, following.month, 1,
                                                                        tzinfo=zone))


# ------------------------------------------------------------------------------------------------ scheduling


@dataclass(frozen=True)
class ActivityValues:
    """A session to schedule: its venue {name, lat, lon, radius_m}, its period, and whom it invites (named persons
    and/or every active person of some levels) in which office (by code; default: the actor's)."""

    kind: str
    title: str
    venue: Mapping[str, Any]
    start_at: datetime
    end_at: datetime
    capacity: int | None = None
    person_ids: Sequence[int] | None = None
    levels: Sequence[str] | None = None
    office_code: str | None = None


def create_activity(*, session: Session, actor: Actor, values: ActivityValues, now: datetime) -> Activity:
    """Schedule a session at a venue and invite named persons and/or every active person of some levels."""
    errors: dict[str, list[str]] = {}
    if values.end_at <= values.start_at:
        errors["end_at"] = ["The session must end after it starts."]
    elif values.end_at - values.start_at > MAX_SESSION:
        errors["end_at"] = ["A session lasts at most 12 hours."]
    if not values.person_ids and not values.levels:
        errors["person_ids"] = ["Invite persons or levels."]
    if errors:
        raise ValidationFailed(errors)
    office_id = actor.office_id
    if values.office_code:
        office = session.scalar(select(Office).where(Office.code == values.office_code))
        if office is None or not can_see_office(session, actor, office.id):
            raise NotFound("No such office.")
        office_id = office.id
    assert office_id is not None
    invited = _invitees(session, actor, office_id, values)
    capacity, levels, venue = values.capacity, list(values.levels or []), values.venue
    if capacity is not None and len(invited) > capacity:
        raise ValidationFailed({"capacity": [f"{len(invited)} persons invited for {capacity} places."]})
    activity = Activity(office_id=office_id, kind=values.kind, title=values.title, venue_name=venue["name"],
                        venue_lat=venue["lat"], venue_lon=venue["lon"], venue_radius_m=venue["radius_m"],
                        start_at=values.start_at, end_at=values.end_at, capacity=capacity, levels=levels,
                        status=ActivityStatus.SCHEDULED, created_by_id=actor.id, created_at=now)
    session.add(activity)
    session.flush()
    session.add_all(ActivityInvitation(activity_id=activity.id, person_id=pid, created_at=now)
                    for pid in sorted(invited))
    session.flush()
    record_event(session=session, actor=actor, action=ACTIVITY_CREATED, at=now, office_id=office_id,
                 target_type="activity", target_id=activity.id,
                 details={"kind": values.kind, "invited": sorted(invited), "levels": list(levels)})
    return activity


def _invitees(session: Session, actor: Actor, office_id: int, values: ActivityValues) -> dict[int, Person]:
    """The named persons (each within the actor's scope) and every active person of the levels, by id."""
    invited: dict[int, Person] = {}
    for person_id in values.person_ids or ():
        person = get_person(session, actor, person_id)
        invited[person.id] = person
    if values.levels:
        for person in session.scalars(select(Person).where(Person.office_id == office_id,
                                                           Person.status == PersonStatus.ACTIVE,
                                                           Person.supervision_level.in_(list(values.levels)))):
            invited[person.id] = person
    return invited


def list_activities(*, session: Session, actor: Actor, since: datetime | None = None, kind: str | None = None,
                    after_id: int | None = None, limit: int = 50) -> list[Activity]:
    """Sessions of the offices in scope, newest first."""
    stmt = select(Activity).where(office_condition(actor, Activity.office_id))
    if since is not None:
        stmt = stmt.where(Activity.end_at >= since)
    if kind:
        stmt = stmt.where(Activity.kind == kind)
    return keyset(session, stmt, Activity.id, after_id=after_id, limit=limit)


def get_activity(*, session: Session, actor: Actor, activity_id: int) -> Activity:
    """A session the actor may see: staff in scope, persons when invited; else NotFound."""
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise NotFound("No such activity.")
    if actor.role == "person":
        invited = session.scalar(select(ActivityInvitation.id).where(ActivityInvitation.activity_id == activity.id,
                                                                     ActivityInvitation.person_id == actor.id))
        if invited is None:
            raise NotFound("No such activity.")
    elif not can_see_office(session, actor, activity.office_id):
        raise NotFound("No such activity.")
    return activity


def invited_persons(session: Session, activity_id: int) -> list[int]:
    """The ids of the persons invited to a session."""
    return list(session.scalars(select(ActivityInvitation.person_id)
                                .where(ActivityInvitation.activity_id == activity_id)
                                .order_by(ActivityInvitation.person_id)))


def list_attendances(session: Session, activity_id: int) -> list[Attendance]:
    """The attendance records of one session."""
    return list(session.scalars(select(Attendance).where(Attendance.activity_id == activity_id)
                                .order_by(Attendance.id)))


def person_activities(*, session: Session, person_id: int, now: datetime,
                      recent: timedelta = timedelta(days=31)) -> list[tuple[Activity, Attendance | None]]:
    """A person's upcoming and recent sessions (soonest first) with their own attendance."""
    stmt = (
        select(Activity, Attendance)
        .join(ActivityInvitation, and_(ActivityInvitation.activity_id == Activity.id,
                                       ActivityInvitation.person_id == person_id))
        .outerjoin(Attendance, and_(Attendance.activity_id == Activity.id, Attendance.person_id == person_id))
        .where(Activity.end_at >= now - recent)
        .order_by(Activity.start_at, Activity.id)
    )
    return [(activity, attendance) for activity, attendance in session.execute(stmt)]


# ------------------------------------------------------------------------------------------------ attendance


@dataclass
class AttendanceOutcome:
    attendance: Attendance | None
    checkin: CheckinOutcome


def at_venue(activity: Activity, opens: datetime, closes: datetime) -> LocationRule:
    """A session's location rule: inside the venue, and captured while check-in (or check-out) is open."""

    def rule(_session: Session, _person: Person, fix: Fix, at: datetime, policy: CheckinPolicy) -> LocationCheck:
        venue = Area("venue", activity.venue_lat, activity.venue_lon, activity.venue_radius_m, activity.id)
        area, _ = locate(fix.latitude, fix.longitude, min(fix.accuracy_m, policy.max_accuracy_m), [venue])
        distance = haversine_m(fix.latitude, fix.longitude, activity.venue_lat, activity.venue_lon)
        location = {"inside_area": area is not None, "area": "venue", "activity_id": activity.id,
                    "venue_distance_m": round(distance, 1), "accuracy_m": fix.accuracy_m}
        reasons = place_reasons(area is not None, fix, policy)
        if not opens <= at <= closes:
            reasons = (*reasons, Reason.OUTSIDE_SESSION_TIME)
        return LocationCheck(location, reasons)

    return rule


def _session_hours(activity: Activity, checked_in_at: datetime, checked_out_at: datetime) -> float:
    start = max(checked_in_at, activity.start_at)
    end = min(checked_out_at, activity.end_at)
    return round(max((end - start).total_seconds(), 0.0) / 3600.0, 2)


def _attendance_window(activity: Activity, attendance: Attendance | None, phase: str,
                       policy: ActivityPolicy) -> tuple[datetime, datetime]:
    # When this phase may be done, after refusing a phase that is done already or out of turn.
    if phase == "in":
        if attendance is not None and attendance.check_in_checkin_id is not None:
            raise Conflict("You already checked in to this session.", code="already_checked_in")
        if attendance is not None:
            raise Conflict("An officer already recorded this attendance.", code="attendance_recorded")
        return activity.start_at - policy.early, activity.end_at
    if attendance is None or attendance.check_in_checkin_id is None:
        raise Conflict("Check in to this session first.", code="not_checked_in")
    if attendance.check_out_checkin_id is not None:
        raise Conflict("You already checked out of this session.", code="already_checked_out")
    if attendance.status not in (AttendanceStatus.CHECKED_IN, AttendanceStatus.NEEDS_REVIEW):
        raise Conflict("This attendance was already decided.", code="attendance_decided")
    return activity.start_at, activity.end_at + policy.late


def attendance_checkin(ctx: CheckinContext, submission: Submission, *, activity_id: int, phase: str,
                       policy: ActivityPolicy, actor: Actor) -> AttendanceOutcome:
    """Check in (phase "in") or out ("out") of a session with the selfie check-in, judged against the venue."""
    session, person = ctx.session, submission.person
    activity = get_activity(session=session, actor=actor, activity_id=activity_id)
    if activity.status != ActivityStatus.SCHEDULED:
        raise Conflict("This session was cancelled.", code="activity_cancelled")
    lock_person(session, person.id)
    attendance = session.scalar(select(Attendance).where(Attendance.activity_id == activity.id,
                                                         Attendance.person_id == person.id))
    opens, closes = _attendance_window(activity, attendance, phase, policy)
    outcome = submit_checkin(ctx, submission, Purpose(kind=CheckinKind.ACTIVITY,
                                                      location_rule=at_venue(activity, opens, closes)))
    checkin = outcome.checkin
    if outcome.error is not None:
        return AttendanceOutcome(attendance, outcome)  # an unusable photo: the attempt is kept, nothing else
    problems = [f"check_{phase}:{reason}" for reason in checkin.reasons]
    if checkin.status == CheckinStatus.REJECTED and not checkin.reasons:
        problems.append(f"check_{phase}:rejected")
    if phase == "in":
        attendance = Attendance(activity_id=activity.id, person_id=person.id, office_id=person.office_id,
                                source=AttendanceSource.PHONE, check_in_checkin_id=checkin.id,
                                checked_in_at=submission.captured_at, reasons=problems, details={}, created_at=ctx.now,
                                status=(AttendanceStatus.CHECKED_IN if checkin.status == CheckinStatus.VERIFIED
                                        else AttendanceStatus.NEEDS_REVIEW))
        try:
            with session.begin_nested():
                session.add(attendance)
        except IntegrityError as exc:
            raise Conflict("You already checked in to this session.", code="already_checked_in") from exc
        return AttendanceOutcome(attendance, outcome)
    assert attendance is not None and attendance.checked_in_at is not None
    attendance.check_out_checkin_id = checkin.id
    attendance.checked_out_at = submission.captured_at
    attendance.hours = _session_hours(activity, attendance.checked_in_at, submission.captured_at)
    attendance.reasons = [*attendance.reasons, *problems]
    attendance.status = AttendanceStatus.NEEDS_REVIEW if attendance.reasons else AttendanceStatus.VERIFIED
    session.flush()
    return AttendanceOutcome(attendance, outcome)


def _attendance_in(session: Session, actor: Actor, activity_id: int, attendance_id: int) -> Attendance:
    get_activity(session=session, actor=actor, activity_id=activity_id)
    attendance = session.get(Attendance, attendance_id)
    if attendance is None or attendance.activity_id != activity_id:
        raise NotFound("No such attendance.")
    return attendance


def review_attendance(*, session: Session, actor: Actor, activity_id: int, attendance_id: int, decision: str,
                      note: str | None, now: datetime, hours: float | None = None) -> Attendance:
    """An officer confirms an attendance (optionally correcting the hours) or rejects it; both need a note
    unless confirming as measured; audit-logged."""
    attendance = _attendance_in(session, actor, activity_id, attendance_id)
    activity = session.get(Activity, activity_id)
    assert activity is not None
    noted = bool(note and note.strip())
    if decision == AttendanceDecision.REJECT and not noted:
        raise ValidationFailed({"note": ["A note is required to reject an attendance."]})
    if hours is not None and not noted:
        raise ValidationFailed({"note": ["A note is required to correct the hours."]})
    if hours is not None and hours > (activity.end_at - activity.start_at).total_seconds() / 3600 + 1e-9:
        raise ValidationFailed({"hours": ["More hours than the session lasted."]})
    if decision == AttendanceDecision.CONFIRM:
        new_status = AttendanceStatus.CONFIRMED
        new_hours = hours if hours is not None else attendance.hours
        if new_hours is None:
            raise ValidationFailed({"hours": ["No check-out: give the hours to confirm."]})
    else:
        new_status, new_hours = AttendanceStatus.REJECTED, attendance.hours
    reviewable = (AttendanceStatus.NEEDS_REVIEW, AttendanceStatus.VERIFIED, AttendanceStatus.CHECKED_IN)
    result = session.execute(
        update(Attendance)
        .where(Attendance.id == attendance.id, Attendance.status.in_(reviewable), Attendance.reviewed_at.is_(None))
        .values(status=new_status, hours=new_hours, note=note, review_decision=decision, reviewed_by_id=actor.id,
                reviewed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This attendance was already reviewed.", code="already_reviewed")
    session.refresh(attendance)
    record_event(session=session, actor=actor, action=ATTENDANCE_REVIEWED, at=now, person_id=attendance.person_id,
                 office_id=attendance.office_id, target_type="attendance", target_id=attendance.id,
                 details={"decision": decision, "hours": new_hours, "note": note, "status": new_status})
    return attendance


def record_attendance(*, session: Session, actor: Actor, activity_id: int, person_id: int, hours: float | None,
                      note: str, now: datetime) -> Attendance:
    """An officer records the attendance of an invited person without a phone (a note is required)."""
    activity = get_activity(session=session, actor=actor, activity_id=activity_id)
    person = get_person(session, actor, person_id)
    if not note.strip():
        raise ValidationFailed({"note": ["Say how the attendance was established."]})
    if person.id not in invited_persons(session, activity.id):
        raise ValidationFailed({"person_id": ["This person was not invited to the session."]})
    length = (activity.end_at - activity.start_at).total_seconds() / 3600
    if hours is not None and hours > length + 1e-9:
        raise ValidationFailed({"hours": ["More hours than the session lasted."]})
    attendance = Attendance(activity_id=activity.id, person_id=person.id, office_id=person.office_id,
                            status=AttendanceStatus.CONFIRMED, source=AttendanceSource.OFFICER,
                            hours=round(length, 2) if hours is None else hours, reasons=[], note=note,
                            recorded_by_id=actor.id, reviewed_by_id=actor.id, reviewed_at=now,
                            review_decision=AttendanceDecision.CONFIRM, details={}, created_at=now)
    try:
        with session.begin_nested():
            session.add(attendance)
    except IntegrityError as exc:
        raise Conflict("This person's attendance is already recorded.", code="attendance_exists") from exc
    record_event(session=session, actor=actor, action=ATTENDANCE_RECORDED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="attendance", target_id=attendance.id,
                 details={"activity_id": activity.id, "hours": attendance.hours, "note": note})
    return attendance


# ------------------------------------------------------------------------------------------------ monthly hours


def _hours_by_person(session: Session, begin: datetime, finish: datetime, person_ids: Sequence[int] | None,
                     statuses: Sequence[str]) -> dict[int, dict[str, float]]:
    stmt = (
        select(Attendance.person_id, Activity.kind, func.coalesce(func.sum(Attendance.hours), 0.0))
        .join(Activity, Activity.id == Attendance.activity_id)
        .where(Attendance.status.in_(list(statuses)), Activity.start_at >= begin, Activity.start_at < finish)
        .group_by(Attendance.person_id, Activity.kind)
    )
    if person_ids is not None:
        stmt = stmt.where(Attendance.person_id.in_(list(person_ids)))
    totals: dict[int, dict[str, float]] = defaultdict(lambda: dict.fromkeys(CATEGORIES, 0.0))
    for person_id, kind, hours in session.execute(stmt):
        totals[person_id][category(kind)] += float(hours or 0.0)
    return totals


def month_progress(*, session: Session, person: Person, month: date, policy: ActivityPolicy) -> dict[str, Any]:
    """The month's hours of study and community service: done (verified or confirmed), awaiting review, required."""
    zone = _zone(person.office.timezone, policy.timezone)
    begin, finish = month_bounds(month, zone)
    done = _hours_by_person(session, begin, finish, [person.id], COUNTED).get(person.id) or dict.fromkeys(CATEGORIES,
                                                                                                          0.0)
    pending = (_hours_by_person(session, begin, finish, [person.id], (AttendanceStatus.NEEDS_REVIEW,))
               .get(person.id) or dict.fromkeys(CATEGORIES, 0.0))
    required = policy.required(person.office.code, person.supervision_level)
    return {
        "month": begin.strftime("%Y-%m"),
        "level": person.supervision_level,
        "required": required,
        "done": {k: round(v, 2) for k, v in done.items()},
        "pending_review": {k: round(v, 2) for k, v in pending.items()},
        "missing": {k: round(max(required[k] - done[k], 0.0), 2) for k in CATEGORIES},
    }


def _previous_month(local: datetime) -> date:
    return (local.date().replace(day=1) - timedelta(days=1)).replace(day=1)


def _owing_rows(session: Session, begin: datetime, finish: datetime, office_ids: Sequence[int],
                done_key: tuple[Any, str, str]) -> list[Any]:
    """Persons of the offices who owe the month's hours and have no row with the dedupe key done_key
    ((model, prefix, suffix) around the person id) yet, with the hours they did (one statement)."""
    is_service = Activity.kind == ActivityKind.COMMUNITY_SERVICE
    done = (
        select(Attendance.person_id.label("person_id"),
               func.sum(case((is_service, Attendance.hours), else_=0.0)).label("service"),
               func.sum(case((is_service, 0.0), else_=Attendance.hours)).label("study"))
        .join(Activity, Activity.id == Attendance.activity_id)
        .where(Attendance.status.in_(COUNTED), Activity.start_at >= begin, Activity.start_at < finish)
        .group_by(Attendance.person_id)
        .subquery()
    )
    first, last = begin.date(), (finish - timedelta(days=1)).date()
    model, prefix, suffix = done_key
    # Whole months only: a term that starts or ends inside the month, or a person registered in the system during
    # it, owes no fixed monthly hours for it.
    stmt = (
        select(Person.id, Person.office_id, Person.supervision_level, Office.code, done.c.study, done.c.service)
        .join(Office, Office.id == Person.office_id)
        .outerjoin(done, done.c.person_id == Person.id)
        .where(Person.status == PersonStatus.ACTIVE, Person.start_date <= first, Person.end_date >= last,
               Person.created_at <= begin, Person.office_id.in_(list(office_ids)),
               # Persons already alerted or reminded for the month are left out: a second sweep has nothing to do.
               ~exists().where(model.dedupe_key == literal(prefix, String) + cast(Person.id, String)
                               + literal(suffix, String)))
    )
    return list(session.execute(stmt))


def _short(session: Session, begin: datetime, finish: datetime, office_ids: Sequence[int], policy: ActivityPolicy,
           done_key: tuple[Any, str, str]) -> list[tuple[Any, dict[str, float], dict[str, float]]]:
    short = []
    for row in _owing_rows(session, begin, finish, office_ids, done_key):
        required = policy.required(row.code, row.supervision_level)
        hours = {"study": float(row.study or 0.0), "service": float(row.service or 0.0)}
        if any(hours[k] + 1e-9 < required[k] for k in CATEGORIES):
            short.append((row, required, hours))
    return short


def sweep_shortfalls(*, session: Session, now: datetime, policy: ActivityPolicy, lookback: timedelta,
                     offices: Sequence[tuple[int, str, str]]) -> dict[str, int]:
    """After a month ends: one hours_shortfall alert per person below the level's hours (once per person and
    month); in the month's last days: one "shortfall coming" message per person still below."""
    counts = {"hours_shortfall": 0, "messages_shortfall_coming": 0}
    zones: dict[str, list[int]] = defaultdict(list)
    for office_id, _code, zone_name in offices:
        zones[zone_name or policy.timezone].append(office_id)
    for zone_name, office_ids in zones.items():
        zone = _zone(zone_name, policy.timezone)
        local = now.astimezone(zone)
        this_start, this_end = month_bounds(local.date(), zone)
        if local - this_start <= lookback:
            previous = _previous_month(local)
            begin, finish = month_bounds(previous, zone)
            key: tuple[Any, str, str] = (Alert, f"{AlertType.HOURS_SHORTFALL}:", f":{previous.strftime('%Y-%m')}")
            short = _short(session, begin, finish, office_ids, policy, key)
            counts["hours_shortfall"] += _month_alerts(session, short, previous, finish, now)
        if this_end - local <= timedelta(days=policy.warn_days):
            key = (Message, f"{MessageKind.SHORTFALL_COMING}:", f":{this_start.strftime('%Y-%m')}")
            short = _short(session, this_start, this_end, office_ids, policy, key)
            counts["messages_shortfall_coming"] += _month_warnings(session, short, this_start, now)
    return counts


def _month_alerts(session: Session, short: list[Any], month: date, finish: datetime, now: datetime) -> int:
    label = month.strftime("%Y-%m")
    rows = [{"person_id": row.id, "office_id": row.office_id, "type": AlertType.HOURS_SHORTFALL.value,
             "status": AlertStatus.OPEN.value, "dedupe_key": f"{AlertType.HOURS_SHORTFALL}:{row.id}:{label}",
             "occurred_at": finish, "created_at": now,
             "evidence": {"month": label, "level": row.supervision_level, "required": required,
                          "done": {k: round(v, 2) for k, v in hours.items()}}}
            for row, required, hours in short]
    return len(messages.insert_rows(session, Alert, rows))


def _month_warnings(session: Session, short: list[Any], begin: datetime, now: datetime) -> int:
    label = begin.strftime("%Y-%m")
    rows = []
    for row, required, hours in short:
        missing = {k: round(max(required[k] - hours[k], 0.0), 2) for k in CATEGORIES}
        body = (f"本月还差学习 {missing['study']:g} 小时、公益活动 {missing['service']:g} 小时，"
                f"请在月底前参加活动。")
        rows.append({"person_id": row.id, "office_id": row.office_id, "kind": MessageKind.SHORTFALL_COMING.value,
                     "title": "本月学习与公益时长提醒", "body": body,
                     "dedupe_key": f"{MessageKind.SHORTFALL_COMING}:{row.id}:{label}",
                     "data": {"month": label, "required": required, "missing": missing}})
    return messages.post_messages(session, rows, now)


def sweep_missing_checkouts(*, session: Session, now: datetime, policy: ActivityPolicy) -> int:
    """Attendances still without a check-out after the session's check-out window closed go to review."""
    ended = select(Activity.id).where(Activity.end_at < now - policy.late)
    rows = session.scalars(select(Attendance).where(
        Attendance.check_out_checkin_id.is_(None), Attendance.check_in_checkin_id.is_not(None),
        Attendance.status.in_((AttendanceStatus.CHECKED_IN, AttendanceStatus.NEEDS_REVIEW)),
        Attendance.reviewed_at.is_(None), Attendance.activity_id.in_(ended)))
    changed = 0
    for attendance in rows:
        if Reason.MISSING_CHECK_OUT.value in attendance.reasons:
            continue
        attendance.status = AttendanceStatus.NEEDS_REVIEW
        attendance.reasons = [*attendance.reasons, Reason.MISSING_CHECK_OUT.value]
        changed += 1
    session.flush()
    return changed


def sweep_activities(*, session: Session, now: datetime, duties: DutyPolicy, policy: ActivityPolicy,
                     reminders: messages.ReminderPolicy, lookback: timedelta) -> dict[str, int]:
    """The sweep's steps of this issue: reminders in the inbox (duty window open, return due, session near),
    attendances without check-out to review, monthly shortfalls and the warnings before them."""
    offices = [(int(i), str(c), str(z or policy.timezone)) for i, c, z in
               session.execute(select(Office.id, Office.code, Office.timezone))]
    counts = messages.sweep_messages(session=session, now=now, duties=duties, policy=reminders, lookback=lookback,
                                     offices=offices)
    counts["attendance_missing_check_out"] = sweep_missing_checkouts(session=session, now=now, policy=policy)
    counts.update(sweep_shortfalls(session=session, now=now, policy=policy, lookback=lookback, offices=offices))
    return counts
