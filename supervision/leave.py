"""Leave requests (请假/外出) and return (销假): the rules, the state machine, decisions and the overdue sweep."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from storage.blobs import BlobStore, Payload, as_payload
from storage.db import on_rollback
from storage.enums import AlertType, ApprovalLevel, CheckinKind, CheckinStatus, LeaveStatus, Reason, Role
from storage.models import LeaveRequest, Office, Person
from supervision import messages
from supervision.actors import Actor
from supervision.alerts import raise_alert
from supervision.audit import AuditAction, record_event
from supervision.checkin_pipeline import CheckinContext, CheckinOutcome, Purpose, Submission, submit_checkin
from supervision.checkins import at_home
from supervision.errors import Conflict, Forbidden, NotFound, RuleViolation, UnusableImage, ValidationFailed
from supervision.evidence import EvidencePurged, EvidenceSubject, view_evidence
from supervision.paging import keyset
from supervision.scope import get_in_scope, office_condition
from verification.decode import sniff_content_type

# Until AuditAction gains a constant for it, attachment reads are logged under this action name.
ATTACHMENT_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic"})
DAY = timedelta(days=1)

# The state machine, in one place: every status change of a leave request goes through transition() (one row)
# or _bulk_transition() (the sweep), and both refuse anything this table does not allow.
TRANSITIONS: dict[LeaveStatus, frozenset[LeaveStatus]] = {
    LeaveStatus.PENDING: frozenset({LeaveStatus.APPROVED, LeaveStatus.REJECTED, LeaveStatus.CANCELLED}),
    LeaveStatus.APPROVED: frozenset({LeaveStatus.ACTIVE, LeaveStatus.CANCELLED}),
    LeaveStatus.ACTIVE: frozenset({LeaveStatus.RETURNED, LeaveStatus.OVERDUE}),
    LeaveStatus.OVERDUE: frozenset({LeaveStatus.RETURNED}),
    LeaveStatus.REJECTED: frozenset(),
    LeaveStatus.CANCELLED: frozenset(),
    LeaveStatus.RETURNED: frozenset(),
}
# A new request may not overlap these (the person is, or may be, away then).
BLOCKING = (LeaveStatus.PENDING, LeaveStatus.APPROVED, LeaveStatus.ACTIVE, LeaveStatus.OVERDUE)
# These count towards the yearly total.
COUNTED = (*BLOCKING, LeaveStatus.RETURNED)
# A return check-in in these states ends the leave (needs_review: an officer still confirms the check-in).
RETURN_ACCEPTED = (CheckinStatus.VERIFIED, CheckinStatus.NEEDS_REVIEW)

# Configuration key -> LeavePolicy field; each key is also settable as CHECKIN_<KEY> once server/config.py lists it.
CONFIG_KEYS: dict[str, str] = {
    "LEAVE_MIN_NOTICE_DAYS": "min_notice_days",
    "LEAVE_OFFICE_MAX_DAYS": "office_max_days",
    "LEAVE_MAX_DAYS": "max_days",
    "LEAVE_MAX_DAYS_PER_YEAR": "max_days_per_year",
    "LEAVE_RETURN_GRACE_HOURS": "return_grace_hours",
    "LEAVE_PAST_TOLERANCE_MINUTES": "past_tolerance_minutes",
}
OVERRIDES_KEY = "LEAVE_OFFICE_OVERRIDES"


@dataclass(frozen=True)
class LeavePolicy:
    """Leave rules of a deployment, with optional per-office overrides (office code -> {field: value})."""

    min_notice_days: int = 3
    office_max_days: int = 7
    max_days: int = 30
    max_days_per_year: int = 60
    return_grace_hours: int = 24
    past_tolerance_minutes: int = 5
    office_overrides: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in CONFIG_KEYS.values():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"leave policy {name} must be a whole number >= 0, not {value!r}")
        if self.office_max_days > self.max_days:
            raise ValueError("leave policy office_max_days cannot exceed max_days")
        known = set(CONFIG_KEYS.values())
        for code, values in self.office_overrides.items():
            unknown = sorted(set(values) - known)
            if unknown:
                raise ValueError(f"leave policy override for office {code}: unknown fields {', '.join(unknown)}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LeavePolicy:
        """The policy from a resolved configuration mapping; absent keys keep the defaults."""
        values: dict[str, Any] = {}
        for key, name in CONFIG_KEYS.items():
            if config.get(key) is not None:
                values[name] = int(config[key])
        overrides = config.get(OVERRIDES_KEY) or {}
        if isinstance(overrides, str):
            # From the environment the overrides arrive as a JSON object.
            overrides = json.loads(overrides) if overrides.strip() else {}
        if not isinstance(overrides, Mapping):
            raise ValueError(f"{OVERRIDES_KEY} must be a mapping of office code to rule values")
        values["office_overrides"] = {str(code): {k: int(v) for k, v in rules.items()}
                                      for code, rules in overrides.items()}
        policy = cls(**values)
        for code in policy.office_overrides:
            policy.for_office(code)  # validates the merged values early
        return policy

    def for_office(self, office_code: str) -> LeavePolicy:
        """The rules that apply in one office (the deployment's, changed by that office's overrides)."""
        changes: dict[str, Any] = dict(self.office_overrides.get(office_code, {}))
        return replace(self, **changes)

    @property
    def return_grace(self) -> timedelta:
        return timedelta(hours=self.return_grace_hours)

    @property
    def past_tolerance(self) -> timedelta:
        return timedelta(minutes=self.past_tolerance_minutes)

    def as_dict(self) -> dict[str, int]:
        """The rule values (without overrides), e.g. for documentation or an admin page."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "office_overrides"}


@dataclass
class ReturnOutcome:
    leave: LeaveRequest
    checkin: CheckinOutcome
    returned: bool


def leave_days(start_at: datetime, end_at: datetime) -> float:
    """Length of a leave period in days (24-hour periods, fractional)."""
    return (end_at - start_at) / DAY


def approval_level(start_at: datetime, end_at: datetime, policy: LeavePolicy) -> ApprovalLevel:
    """Who decides: the office up to office_max_days, the county administrator beyond."""
    return ApprovalLevel.OFFICE if end_at - start_at <= policy.office_max_days * DAY else ApprovalLevel.COUNTY


def can_transition(current: str, target: str) -> bool:
    """Whether the state machine allows current -> target."""
    return LeaveStatus(target) in TRANSITIONS.get(LeaveStatus(current), frozenset())


def sources(target: str) -> tuple[LeaveStatus, ...]:
    """The statuses from which target may be reached."""
    return tuple(status for status, targets in TRANSITIONS.items() if LeaveStatus(target) in targets)


def _invalid(current: str, target: str, detail: str | None = None) -> Conflict:
    return Conflict(detail or f"A leave request that is {current} cannot become {target}.",
                    code="invalid_transition", extra={"leave_status": current, "target_status": target})


def transition(*, session: Session, leave: LeaveRequest, to: str,
               values: Mapping[str, Any] | None = None) -> LeaveRequest:
    """Move one leave request to status to, refusing transitions the table forbids and concurrent changes."""
    if not can_transition(leave.status, to):
        raise _invalid(leave.status, to)
    # Conditional on the status and version this caller saw: of two concurrent deciders only one matches a row.
    result = session.execute(
        update(LeaveRequest)
        .where(LeaveRequest.id == leave.id, LeaveRequest.status == leave.status,
               LeaveRequest.version == leave.version)
        .values(status=to, version=LeaveRequest.version + 1, **dict(values or {}))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(leave)
        raise _invalid(leave.status, to, "This leave request was changed meanwhile; reload it.")
    session.refresh(leave)
    return leave


def _bulk_transition(session: Session, to: LeaveStatus, *conditions: ColumnElement[bool]) -> list[Any]:
    """Move every leave matching conditions (and the table's allowed sources) to status to; returns their rows."""
    stmt = (
        update(LeaveRequest)
        .where(LeaveRequest.status.in_(sources(to)), *conditions)
        .values(status=to, version=LeaveRequest.version + 1)
        .returning(LeaveRequest.id, LeaveRequest.person_id, LeaveRequest.office_id, LeaveRequest.end_at)
        .execution_options(synchronize_session=False)
    )
    return list(session.execute(stmt))


# ------------------------------------------------------------------------------------------------ rules


def _office_zone(person: Person) -> ZoneInfo:
    return ZoneInfo(person.office.timezone)


def _year_window(year: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)


def _overlap(start: datetime, end: datetime, window_start: datetime, window_end: datetime) -> timedelta:
    return max(timedelta(0), min(end, window_end) - max(start, window_start))


def _counted_end(leave: LeaveRequest) -> datetime:
    # A person who came back early used only the days until the return.
    if leave.status == LeaveStatus.RETURNED and leave.returned_at is not None:
        return max(leave.start_at, min(leave.end_at, leave.returned_at))
    return leave.end_at


def check_rules(*, session: Session, person: Person, start_at: datetime, end_at: datetime, emergency: bool,
                now: datetime, policy: LeavePolicy) -> ApprovalLevel:
    """Refuse a leave period that breaks a rule (422 with a stable code); returns the approval level it needs."""
    if end_at <= start_at:
        raise RuleViolation("The leave must end after it starts.", code="leave_invalid_period")
    if start_at < now - policy.past_tolerance:
        raise RuleViolation("The leave cannot start in the past.", code="leave_in_past")
    zone = _office_zone(person)
    if end_at.astimezone(zone).date() > person.end_date:
        raise RuleViolation("The leave cannot last beyond the end of supervision.", code="leave_beyond_supervision",
                            extra={"supervision_end_date": person.end_date.isoformat()})
    if end_at - start_at > policy.max_days * DAY:
        raise RuleViolation(f"One leave can last at most {policy.max_days} days.", code="leave_too_long",
                            extra={"max_days": policy.max_days})
    notice_days = (start_at.astimezone(zone).date() - now.astimezone(zone).date()).days
    if notice_days < policy.min_notice_days and not emergency:
        raise RuleViolation(
            f"Apply at least {policy.min_notice_days} days before the leave starts, or mark it as an emergency "
            "and explain why in the reason.", code="leave_notice_too_short",
            extra={"min_notice_days": policy.min_notice_days})
    overlapping = session.scalar(
        select(LeaveRequest.id).where(LeaveRequest.person_id == person.id, LeaveRequest.status.in_(BLOCKING),
                                      LeaveRequest.start_at < end_at, LeaveRequest.end_at > start_at).limit(1)
    )
    if overlapping is not None:
        raise RuleViolation("This period overlaps another leave request.", code="leave_overlap",
                            extra={"overlapping_id": overlapping})
    _check_yearly_total(session=session, person=person, start_at=start_at, end_at=end_at, zone=zone, policy=policy)
    return approval_level(start_at, end_at, policy)


def _check_yearly_total(*, session: Session, person: Person, start_at: datetime, end_at: datetime, zone: ZoneInfo,
                        policy: LeavePolicy) -> None:
    years = range(start_at.astimezone(zone).year, end_at.astimezone(zone).year + 1)
    first_start, _ = _year_window(years[0], zone)
    _, last_end = _year_window(years[-1], zone)
    existing = list(session.scalars(
        select(LeaveRequest).where(LeaveRequest.person_id == person.id, LeaveRequest.status.in_(COUNTED),
                                   LeaveRequest.start_at < last_end, LeaveRequest.end_at > first_start)
    ))
    for year in years:
        window = _year_window(year, zone)
        used = sum((_overlap(leave.start_at, _counted_end(leave), *window) for leave in existing), timedelta(0))
        requested = _overlap(start_at, end_at, *window)
        if used + requested > policy.max_days_per_year * DAY:
            raise RuleViolation(
                f"Leave in {year} would exceed {policy.max_days_per_year} days.", code="leave_yearly_limit",
                extra={"year": year, "used_days": round(used / DAY, 2), "requested_days": round(requested / DAY, 2),
                       "max_days_per_year": policy.max_days_per_year})


# ------------------------------------------------------------------------------------------------ person side


@dataclass(frozen=True)
class LeaveApplication:
    """What a person asks for: the period, where and why, an optional destination circle and attachment image."""

    start_at: datetime
    end_at: datetime
    destination: str
    reason: str
    dest_lat: float | None = None
    dest_lon: float | None = None
    dest_radius_m: float | None = None
    emergency: bool = False
    attachment: bytes | Payload | None = field(default=None, repr=False)  # a Payload: hashed and sniffed once


def create_leave(*, session: Session, blobs: BlobStore, actor: Actor, person: Person, application: LeaveApplication,
                 now: datetime, policy: LeavePolicy) -> LeaveRequest:
    """Check a person's leave request against the rules and record it as pending."""
    if actor.role != Role.PERSON or actor.id != person.id:
        raise Forbidden("Only the person can request leave for themselves.")
    if not application.destination.strip():
        raise ValidationFailed({"destination": ["Give the destination."]})
    if not application.reason.strip():
        raise ValidationFailed({"reason": ["Give the reason for the leave."]})
    dest_lat, dest_lon, dest_radius_m = application.dest_lat, application.dest_lon, application.dest_radius_m
    if (dest_lat is None) != (dest_lon is None) or (dest_radius_m is not None and dest_lat is None):
        raise ValidationFailed({"dest_lat": ["Give dest_lat and dest_lon together, and dest_radius_m only with them."]})
    # One request at a time per person, so two concurrent requests cannot both pass the overlap and yearly checks.
    session.execute(select(Person.id).where(Person.id == person.id).with_for_update())
    level = check_rules(session=session, person=person, start_at=application.start_at, end_at=application.end_at,
                        emergency=application.emergency, now=now, policy=policy)
    leave = LeaveRequest(
        person_id=person.id,
        office_id=person.office_id,
        start_at=application.start_at,
        end_at=application.end_at,
        destination=application.destination.strip(),
        dest_lat=dest_lat,
        dest_lon=dest_lon,
        dest_radius_m=dest_radius_m,
        reason=application.reason.strip(),
        emergency=application.emergency,
        status=LeaveStatus.PENDING,
        approval_level=level,
        created_at=now,
        version=1,
    )
    if application.attachment is not None:
        _attach(session, blobs, leave, application.attachment)
    session.add(leave)
    session.flush()
    return leave


def _attach(session: Session, blobs: BlobStore, leave: LeaveRequest, attachment: bytes | Payload) -> None:
    attachment = as_payload(attachment)
    content_type = attachment.content_type or sniff_content_type(attachment.data)
    if content_type not in ATTACHMENT_TYPES:
        raise UnusableImage("unsupported_media_type", "The attachment must be a JPEG, PNG, WEBP or HEIC image.",
                            status=415)
    stored = blobs.put(attachment, content_type=content_type)
    on_rollback(session, lambda: blobs.delete(stored.key))
    leave.attachment_blob_key = stored.key
    leave.attachment_content_type = stored.content_type
    leave.attachment_size = stored.size
    leave.attachment_sha256 = stored.sha256


def list_person_leave(*, session: Session, person_id: int, status: str | None = None, after_id: int | None = None,
                      limit: int = 50) -> list[LeaveRequest]:
    """A person's own leave requests, newest first (keyset by id)."""
    stmt = select(LeaveRequest).where(LeaveRequest.person_id == person_id)
    if status:
        stmt = stmt.where(LeaveRequest.status == status)
    return keyset(session, stmt, LeaveRequest.id, after_id=after_id, limit=limit)


def get_leave(*, session: Session, actor: Actor, leave_id: int) -> LeaveRequest:
    """One leave request the actor may see (persons: their own), else NotFound."""
    return get_in_scope(session, actor, LeaveRequest, leave_id, what="leave request")


def cancel_leave(*, session: Session, actor: Actor, leave_id: int, now: datetime) -> LeaveRequest:
    """Withdraw one's own request while it is pending, or approved and not yet started."""
    leave = get_leave(session=session, actor=actor, leave_id=leave_id)
    if actor.role != Role.PERSON:
        raise NotFound("No such leave request.")
    if leave.status == LeaveStatus.APPROVED and leave.start_at <= now:
        raise _invalid(leave.status, LeaveStatus.CANCELLED,
                       "This leave has already started; report your return instead of cancelling.")
    return transition(session=session, leave=leave, to=LeaveStatus.CANCELLED, values={"cancelled_at": now})


def _start_if_due(session: Session, leave: LeaveRequest, now: datetime) -> None:
    # The sweep activates started leave periodically; a return may come before it has run.
    if leave.status == LeaveStatus.APPROVED and leave.start_at <= now:
        transition(session=session, leave=leave, to=LeaveStatus.ACTIVE)


def report_return(ctx: CheckinContext, submission: Submission, *, actor: Actor, leave_id: int) -> ReturnOutcome:
    """Report back from leave (销假) with a selfie check-in that must show the person back inside the home area."""
    session, person, now = ctx.session, submission.person, ctx.now
    if actor.role != Role.PERSON or actor.id != person.id:
        raise Forbidden("Only the person can report their own return.")
    leave = get_leave(session=session, actor=actor, leave_id=leave_id)
    _start_if_due(session, leave, now)
    if not can_transition(leave.status, LeaveStatus.RETURNED):
        detail = ("This leave has not started yet; cancel it instead." if leave.status == LeaveStatus.APPROVED
                  else None)
        raise _invalid(leave.status, LeaveStatus.RETURNED, detail)
    # The return is judged against home only: being at the leave destination is no return.
    outcome = submit_checkin(ctx, submission, Purpose(kind=CheckinKind.LEAVE_RETURN, location_rule=at_home,
                                                      leave_request_id=leave.id))
    checkin = outcome.checkin
    returned = checkin.status in RETURN_ACCEPTED and Reason.OUTSIDE_AREA not in checkin.reasons
    if returned:
        transition(session=session, leave=leave, to=LeaveStatus.RETURNED,
                   values={"returned_at": now, "return_checkin_id": checkin.id})
    return ReturnOutcome(leave=leave, checkin=outcome, returned=returned)


def read_attachment(*, session: Session, blobs: BlobStore, actor: Actor, leave_id: int,
                    now: datetime) -> tuple[bytes, str]:
    """The attachment bytes of a leave request; staff access is audit-logged (a missing or altered file raises
    EvidenceError, reported to the office)."""
    leave = get_leave(session=session, actor=actor, leave_id=leave_id)
    if leave.purged_at is not None:
        raise EvidencePurged("This attachment was deleted at the end of its retention period.")
    if not leave.attachment_blob_key:
        raise NotFound("This leave request has no attachment.")
    subject = EvidenceSubject(person_id=leave.person_id, office_id=leave.office_id, target_type="leave_request",
                              target_id=leave.id)
    # A person reading their own attachment is no view to log.
    viewed = AuditAction.LEAVE_ATTACHMENT_VIEWED if actor.is_staff else None
    data = view_evidence(session=session, blobs=blobs, actor=actor, key=leave.attachment_blob_key, subject=subject,
                         action=viewed, now=now)
    return data, leave.attachment_content_type or "application/octet-stream"


# ------------------------------------------------------------------------------------------------ officer side


def list_leave_requests(*, session: Session, actor: Actor, status: str | None = None, person_id: int | None = None,
                        level: str | None = None, after_id: int | None = None,
                        limit: int = 50) -> list[LeaveRequest]:
    """Leave requests in the actor's scope; the pending queue is oldest first, everything else newest first."""
    stmt = select(LeaveRequest).where(office_condition(actor, LeaveRequest.office_id))
    if status:
        stmt = stmt.where(LeaveRequest.status == status)
    if person_id is not None:
        stmt = stmt.where(LeaveRequest.person_id == person_id)
    if level:
        stmt = stmt.where(LeaveRequest.approval_level == level)
    return keyset(session, stmt, LeaveRequest.id, after_id=after_id, limit=limit,
                  oldest_first=status == LeaveStatus.PENDING)


def list_pending_by_urgency(*, session: Session, actor: Actor, limit: int = 50) -> list[LeaveRequest]:
    """Pending requests in scope, most urgent first: emergencies, then the earliest start, then the oldest asked."""
    stmt = select(LeaveRequest).where(office_condition(actor, LeaveRequest.office_id),
                                      LeaveRequest.status == LeaveStatus.PENDING)
    order = (LeaveRequest.emergency.desc(), LeaveRequest.start_at.asc(), LeaveRequest.id.asc())
    return list(session.scalars(stmt.order_by(*order).limit(limit)))


# Leave actually granted: it counts as used (a pending request is asked, not used).
USED = (LeaveStatus.APPROVED, LeaveStatus.ACTIVE, LeaveStatus.OVERDUE, LeaveStatus.RETURNED)


def used_days_this_year(*, session: Session, persons: Iterable[Person], now: datetime) -> dict[int, float]:
    """Days of granted leave each person has in the current calendar year of their office's time zone."""
    people = list(persons)
    if not people:
        return {}
    zones = {person.id: _office_zone(person) for person in people}
    windows = {pid: _year_window(now.astimezone(zone).year, zone) for pid, zone in zones.items()}
    first = min(start for start, _ in windows.values())
    last = max(end for _, end in windows.values())
    rows = session.scalars(select(LeaveRequest).where(
        LeaveRequest.person_id.in_(list(windows)), LeaveRequest.status.in_(USED),
        LeaveRequest.start_at < last, LeaveRequest.end_at > first))
    used = dict.fromkeys(windows, timedelta(0))
    for row in rows:
        used[row.person_id] += _overlap(row.start_at, _counted_end(row), *windows[row.person_id])
    return {person_id: round(total / DAY, 1) for person_id, total in used.items()}


def decide_leave(*, session: Session, actor: Actor, leave_id: int, decision: str, note: str | None,
                 now: datetime) -> LeaveRequest:
    """Approve or reject a pending request (a rejection needs a note); county-level requests need an admin."""
    leave = get_leave(session=session, actor=actor, leave_id=leave_id)
    if not actor.is_staff:
        raise NotFound("No such leave request.")
    if leave.approval_level == ApprovalLevel.COUNTY and actor.role != Role.ADMIN:
        raise Forbidden("Leave of this length is decided by the county administration.")
    if decision not in ("approve", "reject"):
        raise ValidationFailed({"decision": ["Use approve or reject."]})
    if decision == "reject" and not (note and note.strip()):
        raise ValidationFailed({"note": ["A note is required to reject a leave request."]})
    target = LeaveStatus.APPROVED if decision == "approve" else LeaveStatus.REJECTED
    if target == LeaveStatus.APPROVED and leave.status == LeaveStatus.PENDING and leave.end_at <= now:
        raise RuleViolation("This leave period is already over; reject it instead.", code="leave_in_past")
    transition(session=session, leave=leave, to=target,
               values={"decided_by_id": actor.id, "decided_at": now, "decision_note": note})
    record_event(session=session, actor=actor, action=AuditAction.LEAVE_DECIDED, at=now, person_id=leave.person_id,
                 office_id=leave.office_id, target_type="leave_request", target_id=leave.id,
                 details={"decision": decision, "note": note, "status": target,
                          "approval_level": leave.approval_level})
    messages.on_leave_decided(session=session, leave=leave, now=now)
    return leave


# ------------------------------------------------------------------------------------------------ overdue


def _past_return_deadline(policy: LeavePolicy, now: datetime) -> ColumnElement[bool]:
    """SQL condition: the leave's end plus the (office's) grace period lies before now."""
    differing = {code: policy.for_office(code).return_grace for code in policy.office_overrides}
    differing = {code: grace for code, grace in differing.items() if grace != policy.return_grace}
    if not differing:
        return LeaveRequest.end_at < now - policy.return_grace

    def offices(codes: list[str]) -> Any:
        return select(Office.id).where(Office.code.in_(codes))

    conditions = [and_(LeaveRequest.office_id.not_in(offices(list(differing))),
                       LeaveRequest.end_at < now - policy.return_grace)]
    conditions += [and_(LeaveRequest.office_id.in_(offices([code])), LeaveRequest.end_at < now - grace)
                   for code, grace in differing.items()]
    return or_(*conditions)


def sweep_leave(*, session: Session, now: datetime, policy: LeavePolicy) -> dict[str, int]:
    """Start approved leave whose start has passed; mark leave not returned by end + grace overdue and alert."""
    activated = _bulk_transition(session, LeaveStatus.ACTIVE, LeaveRequest.start_at <= now)
    overdue = _bulk_transition(session, LeaveStatus.OVERDUE, _past_return_deadline(policy, now))
    office_ids = {row.office_id for row in overdue}
    codes: dict[int, str] = {}
    if office_ids:
        rows = session.execute(select(Office.id, Office.code).where(Office.id.in_(office_ids)))
        codes = {office_id: code for office_id, code in rows}
    alerts = 0
    for row in overdue:
        grace = policy.for_office(codes.get(row.office_id, "")).return_grace
        alert = raise_alert(session=session, person_id=row.person_id, office_id=row.office_id,
                            alert_type=AlertType.LEAVE_OVERDUE, dedupe_key=f"leave_overdue:{row.id}",
                            occurred_at=row.end_at + grace, now=now,
                            evidence={"leave_request_id": row.id, "end_at": row.end_at.isoformat(),
                                      "grace_hours": grace / timedelta(hours=1)})
        alerts += alert is not None
    session.flush()
    return {"activated": len(activated), "overdue": len(overdue), "alerts": alerts}


def list_overdue(*, session: Session, actor: Actor, now: datetime, policy: LeavePolicy, after_id: int | None = None,
                 limit: int = 50) -> list[LeaveRequest]:
    """Leave in the actor's scope that is overdue, or past its return deadline before the sweep has marked it."""
    stmt = select(LeaveRequest).where(
        office_condition(actor, LeaveRequest.office_id),
        or_(LeaveRequest.status == LeaveStatus.OVERDUE,
            and_(LeaveRequest.status.in_((LeaveStatus.APPROVED, LeaveStatus.ACTIVE)),
                 _past_return_deadline(policy, now))),
    )
    return keyset(session, stmt, LeaveRequest.id, after_id=after_id, limit=limit, oldest_first=True)
