"""Location supervision between check-ins: tracking switched on per person, zones, fixes and their detection.

Phone location is information-based verification (信息化核查), still sensitive data: an officer switches it on per
person with a reason and an end date, every view of a trail is audit-logged, fixes are kept only as configured, and
the phone's uploads are refused while tracking is off. Detection runs where fixes arrive (ingest) and in the sweep
(fixes newer than the person's watermark); both raise alerts with stable dedupe keys, so running twice is harmless.
The geometry and the rules themselves are pure functions in supervision.geofence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Float, Select, and_, cast, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.enums import (
    AlertStatus,
    AlertType,
    CheckinStatus,
    LeaveStatus,
    LocationSignal,
    PersonStatus,
    TaskKind,
    TaskStatus,
    ZoneKind,
    ZoneScope,
)
from storage.models import Alert, Checkin, LeaveRequest, LocationFix, LocationTracking, LocationZone, Person, Task
from storage.partitions import ensure_partitions, month_start, months_between, next_month
from supervision import geofence
from supervision.actors import SYSTEM, Actor
from supervision.audit import AuditAction, record_event
from supervision.duties import DutyPolicy
from supervision.errors import Conflict, NotFound, RuleViolation, ValidationFailed
from supervision.geofence import CheckinPoint, Detection, Fix, GeofenceRules, Hours, LeaveWindow, PersonAreas, Shape

LOCATION_ALERTS = (AlertType.OUTSIDE_AREA, AlertType.LEFT_COUNTY_WITHOUT_LEAVE, AlertType.EXCLUSION_ZONE_ENTERED,
                   AlertType.CURFEW_BREACH, AlertType.LOCATION_GAP, AlertType.LOCATION_SPOOF_SUSPECTED,
                   AlertType.PERSON_PHONE_SEPARATION)
LEAVE_ALLOWING = (LeaveStatus.APPROVED, LeaveStatus.ACTIVE)
CHECKIN_KEPT = (CheckinStatus.VERIFIED, CheckinStatus.ACCEPTED, CheckinStatus.NEEDS_REVIEW)
DEFAULT_LEAVE_RADIUS_M = 5000.0
METRES_PER_DEGREE = 111_194.9  # on the sphere of supervision.geo
CHUNK = 2000


@dataclass(frozen=True)
class LocationPolicy:
    """The CHECKIN_LOCATION_* settings: uploads, detection thresholds, gaps, retention."""

    interval_minutes: int = 15
    max_batch: int = 500
    future_tolerance: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=7)
    gap: timedelta = timedelta(minutes=120)
    # Fixes around what arrived that the sweep re-reads: enough to confirm a run (minutes) and to find the fix
    # before (speed); runs are keyed by day and night, not by where the loaded window starts.
    context: timedelta = timedelta(hours=1)
    ingest_context: timedelta = timedelta(minutes=30)
    retention: timedelta = timedelta(days=180)
    tracking_max_days: int = 92
    stationary: timedelta = timedelta(hours=3)
    stationary_radius_m: float = 100.0
    window_pattern_minutes: float = 15.0
    window_pattern_days: int = 3
    window_pattern_away_m: float = 20_000.0
    trail_tolerance_m: float = 25.0
    trail_max_days: int = 31
    rules: GeofenceRules = GeofenceRules()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LocationPolicy:
        """Build the policy from CHECKIN_* settings (values may be strings, as from the environment)."""
        def number(key: str, default: float) -> float:
            value = float(config.get(key, default))
            if value <= 0:
                raise ValueError(f"{key} must be positive")
            return value

        rules = GeofenceRules(
            max_accuracy_m=number("MAX_LOCATION_ACCURACY_M", 500),
            confirm_fixes=int(number("LOCATION_CONFIRM_FIXES", 3)),
            confirm_minutes=number("LOCATION_CONFIRM_MINUTES", 10),
            max_speed_kmh=number("LOCATION_MAX_SPEED_KMH", 500),
            county_radius_m=number("LOCATION_COUNTY_RADIUS_KM", 30) * 1000,
            corridor_m=number("LOCATION_LEAVE_CORRIDOR_KM", 30) * 1000,
        )
        return cls(
            interval_minutes=int(number("LOCATION_INTERVAL_MINUTES", 15)),
            max_batch=int(number("LOCATION_MAX_BATCH", 500)),
            future_tolerance=timedelta(minutes=number("LOCATION_FUTURE_TOLERANCE_MINUTES", 5)),
            max_age=timedelta(days=number("LOCATION_MAX_AGE_DAYS", 7)),
            gap=timedelta(minutes=number("LOCATION_GAP_MINUTES", 120)),
            retention=timedelta(days=number("LOCATION_RETENTION_DAYS", 180)),
            tracking_max_days=int(number("LOCATION_TRACKING_MAX_DAYS", 92)),
            rules=rules,
        )


# --- tracking switch ---------------------------------------------------------------------------------------------

def _office_zone(person: Person) -> ZoneInfo:
    return ZoneInfo(person.office.timezone or "Asia/Shanghai")


def active_tracking(session: Session, person: Person, now: datetime) -> LocationTracking | None:
    """The person's tracking when it is on now (not stopped, end date not passed in the office's time zone)."""
    row = session.scalar(select(LocationTracking).where(LocationTracking.person_id == person.id))
    if row is None or row.stopped_at is not None or row.until < now.astimezone(_office_zone(person)).date():
        return None
    if person.status != PersonStatus.ACTIVE:
        return None  # released, revoked or transferred: supervision, and with it tracking, has ended
    return row


def start_tracking(*, session: Session, actor: Actor, person: Person, reason: str, until: date,
                   interval_minutes: int | None, now: datetime, policy: LocationPolicy) -> LocationTracking:
    """Switch tracking on (or change it) for a person, with a reason and an end date; audit-logged."""
    today = now.astimezone(_office_zone(person)).date()
    if person.status != PersonStatus.ACTIVE:
        raise RuleViolation("The person is no longer under supervision.", code="person_not_active")
    if not reason.strip():
        raise ValidationFailed({"reason": ["A reason is required."]})
    if until < today:
        raise ValidationFailed({"until": ["The end date is in the past."]})
    if until > person.end_date:
        raise ValidationFailed({"until": ["Tracking cannot outlast the supervision (end date "
                                          f"{person.end_date.isoformat()})."]})
    if until > today + timedelta(days=policy.tracking_max_days):
        raise ValidationFailed({"until": [f"Tracking is switched on for at most {policy.tracking_max_days} days "
                                          "at a time."]})
    interval = interval_minutes or policy.interval_minutes
    row = session.scalar(select(LocationTracking).where(LocationTracking.person_id == person.id))
    if row is None:
        row = LocationTracking(person_id=person.id, office_id=person.office_id)
        session.add(row)
    was_on = row.stopped_at is None and row.id is not None and row.until >= today
    row.office_id = person.office_id
    row.reason, row.until, row.interval_minutes = reason.strip(), until, interval
    if not was_on:
        row.started_at, row.started_by_id, row.evaluated_at = now, actor.id, None
    row.stopped_at = row.stopped_by_id = None
    session.flush()
    record_event(session=session, actor=actor, action=AuditAction.TRACKING_STARTED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="location_tracking", target_id=row.id,
                 details={"reason": row.reason, "until": until.isoformat(), "interval_minutes": interval,
                          "changed": was_on})
    return row


def stop_tracking(*, session: Session, actor: Actor, person: Person, now: datetime) -> LocationTracking:
    """Switch tracking off; audit-logged (409 when it is not on)."""
    row = active_tracking(session, person, now)
    if row is None:
        raise Conflict("Tracking is not on for this person.", code="tracking_off")
    row.stopped_at, row.stopped_by_id = now, actor.id
    session.flush()
    record_event(session=session, actor=actor, action=AuditAction.TRACKING_STOPPED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="location_tracking", target_id=row.id,
                 details={"reason": row.reason, "until": row.until.isoformat()})
    return row


def tracking_state(*, session: Session, person: Person, now: datetime) -> dict[str, Any]:
    """What the phone needs to know: whether tracking is on, how often to report, until when, and the zones."""
    row = active_tracking(session, person, now)
    return {
        "on": row is not None,
        "interval_minutes": row.interval_minutes if row else None,
        "until": row.until if row else None,
        "zones": [zone_view(z) for z in list_zones(session=session, person=person)] if row else [],
    }


# --- zones ---------------------------------------------------------------------------------------------------------

def list_zones(*, session: Session, person: Person) -> list[LocationZone]:
    """The person's zones in force, oldest first."""
    stmt = select(LocationZone).where(LocationZone.person_id == person.id, LocationZone.deleted_at.is_(None))
    return list(session.scalars(stmt.order_by(LocationZone.id)))


def zone_view(zone: LocationZone) -> dict[str, Any]:
    """A zone as the API shows it."""
    view: dict[str, Any] = {"id": zone.id, "kind": zone.kind, "scope": zone.scope, "note": zone.note,
                            "created_at": zone.created_at}
    if zone.polygon:
        view["polygon"] = zone.polygon
    elif zone.center_lat is not None:
        view["circle"] = {"lat": zone.center_lat, "lon": zone.center_lon, "radius_m": zone.radius_m}
    if zone.hours_start is not None:
        view["hours"] = {"start": zone.hours_start, "end": zone.hours_end}
    return view


def create_zone(*, session: Session, actor: Actor, person: Person, kind: str, now: datetime,
                circle: Mapping[str, float] | None = None, polygon: Sequence[Sequence[float]] | None = None,
                hours: Mapping[str, str] | None = None, scope: str = ZoneScope.HOME,
                note: str | None = None) -> LocationZone:
    """Add an inclusion area, an exclusion zone or a curfew; audit-logged."""
    errors: dict[str, list[str]] = {}
    if circle is not None and polygon is not None:
        errors["circle"] = ["Give a circle or a polygon, not both."]
    if circle is None and polygon is None and kind != ZoneKind.CURFEW:
        errors["circle"] = ["This kind of zone needs a circle or a polygon."]
    if kind == ZoneKind.CURFEW and hours is None:
        errors["hours"] = ["A curfew needs its hours."]
    if scope == ZoneScope.COUNTY and kind != ZoneKind.INCLUSION:
        errors["scope"] = ["Only an inclusion area can be the county."]
    if polygon is not None and len(polygon) < 3:
        errors["polygon"] = ["A polygon needs at least 3 points."]
    if hours is not None and hours["start"] == hours["end"]:
        errors["hours"] = ["The hours must not start and end at the same time."]
    if errors:
        raise ValidationFailed(errors)
    zone = LocationZone(person_id=person.id, office_id=person.office_id, kind=kind, scope=scope, note=note,
                        created_at=now, created_by_id=actor.id,
                        polygon=[[float(p[0]), float(p[1])] for p in polygon] if polygon is not None else None)
    if circle is not None:
        zone.center_lat, zone.center_lon, zone.radius_m = circle["lat"], circle["lon"], circle["radius_m"]
    if hours is not None:
        zone.hours_start, zone.hours_end = hours["start"], hours["end"]
    session.add(zone)
    session.flush()
    record_event(session=session, actor=actor, action=AuditAction.ZONE_CREATED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="location_zone", target_id=zone.id,
                 details=_json_view(zone))
    return zone


def _json_view(zone: LocationZone) -> dict[str, Any]:
    view = zone_view(zone)
    view["created_at"] = zone.created_at.isoformat()
    return view


def delete_zone(*, session: Session, actor: Actor, person: Person, zone_id: int, now: datetime) -> None:
    """Retire a zone (kept for the record); audit-logged."""
    zone = session.get(LocationZone, zone_id)
    if zone is None or zone.person_id != person.id or zone.deleted_at is not None:
        raise NotFound("No such zone.")
    zone.deleted_at, zone.deleted_by_id = now, actor.id
    session.flush()
    record_event(session=session, actor=actor, action=AuditAction.ZONE_DELETED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="location_zone", target_id=zone.id,
                 details=_json_view(zone))


def _shape(zone: LocationZone) -> Shape | None:
    if zone.polygon:
        return Shape.of_polygon(zone.polygon)
    if zone.center_lat is not None and zone.center_lon is not None and zone.radius_m is not None:
        return Shape.circle(zone.center_lat, zone.center_lon, zone.radius_m)
    return None


def build_areas(person: Person, zones: Sequence[LocationZone], leaves: Sequence[LeaveRequest]) -> PersonAreas:
    """The areas a person's fixes are judged against: home and drawn zones, plus approved leave."""
    home: list[Shape] = []
    county: list[Shape] = []
    exclusions, curfews = [], []
    centre = None
    if person.home_lat is not None and person.home_lon is not None and person.home_radius_m is not None:
        home.append(Shape.circle(person.home_lat, person.home_lon, person.home_radius_m))
        centre = (person.home_lat, person.home_lon)
    for zone in zones:
        shape = _shape(zone)
        hours = Hours.parse(zone.hours_start, zone.hours_end) if zone.hours_start and zone.hours_end else None
        if zone.kind == ZoneKind.INCLUSION and shape is not None:
            (county if zone.scope == ZoneScope.COUNTY else home).append(shape)
        elif zone.kind == ZoneKind.EXCLUSION and shape is not None:
            exclusions.append(geofence.Zone(zone.id, zone.kind, shape, hours=hours))
        elif zone.kind == ZoneKind.CURFEW and hours is not None:
            curfews.append(geofence.Zone(zone.id, zone.kind, shape, hours=hours))
    if centre is None and home:
        centre = home[0].centre()
    windows = tuple(
        LeaveWindow(leave.id, leave.start_at, leave.end_at,
                    Shape.circle(leave.dest_lat, leave.dest_lon, leave.dest_radius_m or DEFAULT_LEAVE_RADIUS_M)
                    if leave.dest_lat is not None and leave.dest_lon is not None else None)
        for leave in leaves)
    return PersonAreas(home=tuple(home), county=tuple(county), exclusions=tuple(exclusions), curfews=tuple(curfews),
                       leaves=windows, home_centre=centre)


# --- ingest --------------------------------------------------------------------------------------------------------

@dataclass
class IngestResult:
    accepted: int
    duplicates: int
    alerts: list[str]


_known_months: set[tuple[str, date]] = set()


def _ensure_fix_partitions(session: Session, times: Sequence[datetime]) -> None:
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    url = str(bind.engine.url)
    months = {month_start(t) for t in times} - {m for u, m in _known_months if u == url}
    if months:
        ensure_partitions(session, months)
        _known_months.update((url, m) for m in months)


def _fix_insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql_insert(LocationFix)
    if dialect == "sqlite":
        return sqlite_insert(LocationFix)
    return insert(LocationFix)


def ingest_fixes(*, session: Session, person: Person, fixes: Sequence[Mapping[str, Any]], now: datetime,
                 policy: LocationPolicy) -> IngestResult:
    """Store a batch of fixes (a fix already stored is a duplicate, not an error) and evaluate them.

    The batch is accepted or refused whole: a fix in the future or older than the upload limit refuses it with the
    fix's index in the errors. Refused with 409 tracking_off while tracking is not on.
    """
    tracking = active_tracking(session, person, now)
    if tracking is None:
        raise Conflict("Location tracking is not switched on for you.", code="tracking_off")
    errors: dict[str, dict[str, list[str]]] = {}
    oldest = max(now - policy.max_age, tracking.started_at - policy.future_tolerance)
    for index, fix in enumerate(fixes):
        if fix["at"] > now + policy.future_tolerance:
            errors[str(index)] = {"at": ["The fix time is in the future."]}
        elif fix["at"] < oldest:
            errors[str(index)] = {"at": ["The fix is older than tracking or the upload limit allows."]}
    if len(fixes) > policy.max_batch:
        raise ValidationFailed({"fixes": [f"At most {policy.max_batch} fixes per upload."]})
    if errors:
        raise ValidationFailed({"fixes": errors}, detail="Some fixes are invalid; the batch was not stored.")
    rows: dict[tuple[str, datetime], dict[str, Any]] = {}
    for fix in fixes:
        at = fix["at"].astimezone(UTC)
        rows.setdefault((fix["id"], at), {
            "person_id": person.id, "client_id": fix["id"], "fixed_at": at, "received_at": now,
            "lat": fix["lat"], "lon": fix["lon"], "accuracy_m": fix["accuracy_m"],
            "altitude_m": fix.get("altitude_m"), "speed_mps": fix.get("speed_mps"),
            "provider": fix.get("provider"), "mock": bool(fix.get("mock")),
        })
    accepted = 0
    if rows:
        values = list(rows.values())
        _ensure_fix_partitions(session, [row["fixed_at"] for row in values])
        stmt = _fix_insert(session)
        if hasattr(stmt, "on_conflict_do_nothing"):
            stmt = stmt.on_conflict_do_nothing(index_elements=["person_id", "fixed_at", "client_id"])
        # An executemany on the Core connection: SQLAlchemy sends it as one multi-row INSERT ("insertmanyvalues")
        # from a cached statement; RETURNING gives back only the rows that were new.
        accepted = len(session.connection().execute(stmt.returning(LocationFix.client_id), values).all())
    raised: list[str] = []
    if accepted:
        times = [row["fixed_at"] for row in rows.values()]
        # A short context (at most 30 fixes, 30 minutes, each side) keeps an upload cheap however densely the
        # phone reports; the sweep looks at policy.context around everything that arrived.
        raised = evaluate_person(session=session, person=person, start=min(times), end=max(times), now=now,
                                 policy=policy)
    return IngestResult(accepted=accepted, duplicates=len(fixes) - accepted, alerts=raised)


# --- detection -----------------------------------------------------------------------------------------------------

def _alert_insert(session: Session, rows: list[dict[str, Any]]) -> int:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql_insert(Alert).on_conflict_do_nothing(index_elements=["dedupe_key"])
    elif dialect == "sqlite":
        stmt = sqlite_insert(Alert).on_conflict_do_nothing(index_elements=["dedupe_key"])
    else:
        stmt = insert(Alert)
    # executemany on the Core connection: batched into multi-row INSERTs from one cached statement.
    return len(session.connection().execute(stmt.returning(Alert.id), rows).all())


def raise_detections(session: Session, found: Sequence[tuple[Person | tuple[int, int], Detection]],
                     now: datetime) -> list[str]:
    """Insert one alert per new dedupe key (keys already raised are skipped); the keys inserted."""
    rows: dict[str, dict[str, Any]] = {}
    for who, detection in found:
        person_id, office_id = (who.id, who.office_id) if isinstance(who, Person) else who
        key = f"{detection.alert_type}:{person_id}:{detection.key}"
        rows.setdefault(key, {"person_id": person_id, "office_id": office_id, "type": str(detection.alert_type),
                              "status": AlertStatus.OPEN.value, "dedupe_key": key,
                              "occurred_at": detection.occurred_at, "created_at": now,
                              "evidence": detection.evidence()})
    if not rows:
        return []
    existing: set[str] = set()
    keys = list(rows)
    for first in range(0, len(keys), CHUNK):
        chunk = keys[first:first + CHUNK]
        existing.update(session.scalars(select(Alert.dedupe_key).where(Alert.dedupe_key.in_(chunk))))
    new = [row for key, row in rows.items() if key not in existing]
    if new:
        _alert_insert(session, new)
    return [row["dedupe_key"] for row in new]


def _fix(row: Any) -> Fix:
    # Positional access on a row of FIX_COLUMNS: several times cheaper than by name, and the zone pass makes ~10^6.
    return Fix(row[1], row[3], row[4], row[5], row[6], row[2])


FIX_COLUMNS = (LocationFix.person_id, LocationFix.fixed_at, LocationFix.client_id, LocationFix.lat, LocationFix.lon,
               LocationFix.accuracy_m, LocationFix.mock)


def _leaves_stmt(start: datetime, end: datetime) -> Select:
    return select(LeaveRequest).where(LeaveRequest.status.in_(LEAVE_ALLOWING), LeaveRequest.start_at <= end,
                                      LeaveRequest.end_at >= start)


def _checkins_stmt(start: datetime, end: datetime) -> Select:
    return select(Checkin.id, Checkin.person_id, Checkin.captured_at, Checkin.latitude, Checkin.longitude,
                  Checkin.accuracy_m).where(Checkin.captured_at >= start, Checkin.captured_at <= end,
                                            Checkin.status.in_(CHECKIN_KEPT))


def detect(person: Person, fixes: Sequence[Fix], zones: Sequence[LocationZone], leaves: Sequence[LeaveRequest],
           checkins: Sequence[CheckinPoint], policy: LocationPolicy) -> list[Detection]:
    """Every detection for one person's fixes (pure once the rows are loaded)."""
    areas = build_areas(person, zones, leaves)
    zone = _office_zone(person)
    found = geofence.evaluate_fixes(fixes, areas, policy.rules, zone)
    found += geofence.checkin_disagreements(checkins, fixes, policy.rules)
    return found


def _fixes_around(session: Session, person_id: int, first: datetime, last: datetime, context: timedelta,
                  limit: int) -> list[Fix]:
    """The fixes from first to last, with up to `limit` fixes of context on each side within `context`."""
    own = LocationFix.person_id == person_id
    before = session.execute(select(*FIX_COLUMNS).where(own, LocationFix.fixed_at < first,
                                                        LocationFix.fixed_at >= first - context)
                             .order_by(LocationFix.fixed_at.desc()).limit(limit)).all()
    inside = session.execute(select(*FIX_COLUMNS).where(own, LocationFix.fixed_at >= first,
                                                        LocationFix.fixed_at <= last)
                             .order_by(LocationFix.fixed_at)).all()
    after = session.execute(select(*FIX_COLUMNS).where(own, LocationFix.fixed_at > last,
                                                       LocationFix.fixed_at <= last + context)
                            .order_by(LocationFix.fixed_at).limit(limit)).all()
    return [_fix(row) for row in (*reversed(before), *inside, *after)]


def evaluate_person(*, session: Session, person: Person, start: datetime, end: datetime, now: datetime,
                    policy: LocationPolicy, context: timedelta | None = None, context_fixes: int = 30) -> list[str]:
    """Evaluate one person's fixes from start to end, with context around them, and raise what they call for;
    the dedupe keys raised."""
    context = policy.ingest_context if context is None else context
    fixes = _fixes_around(session, person.id, start, end, context, context_fixes)
    start, end = (fixes[0].at, fixes[-1].at) if fixes else (start, end)
    zones = list_zones(session=session, person=person)
    leaves = list(session.scalars(_leaves_stmt(start, end).where(LeaveRequest.person_id == person.id)))
    checkins = [CheckinPoint(r.id, r.captured_at, r.latitude, r.longitude, r.accuracy_m)
                for r in session.execute(_checkins_stmt(start, end).where(Checkin.person_id == person.id))]
    found = detect(person, fixes, zones, leaves, checkins, policy)
    return raise_detections(session, [(person, d) for d in found], now)


def _active_tracking_condition(now: datetime) -> Any:
    # The end date is compared in UTC here (a few hours' slack at most); active_tracking() is exact per office.
    return and_(LocationTracking.stopped_at.is_(None), LocationTracking.until >= (now - timedelta(days=1)).date(),
                LocationTracking.person_id.in_(select(Person.id).where(Person.status == PersonStatus.ACTIVE)))


def _epoch(session: Session) -> Any:
    """fixed_at as seconds since 1970 (a float), computed by the database so no datetime objects are made."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", LocationFix.fixed_at), Float)  # numeric otherwise: Decimal objects
    return (func.julianday(LocationFix.fixed_at) - 2440587.5) * 86400.0


def _metres(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    dx = (lon2 - lon1) * np.cos(np.radians((lat1 + lat2) / 2))
    return np.sqrt(dx * dx + (lat2 - lat1) ** 2) * METRES_PER_DEGREE


def _may_breach(data: Any, persons: Mapping[int, Person], zones: Mapping[int, list[LocationZone]],
                leaves: Mapping[int, list[LeaveRequest]], checkins: Mapping[int, list[CheckinPoint]],
                policy: LocationPolicy) -> set[int]:
    """The persons whose fixes could raise anything, found with array arithmetic over every fix at once.

    data holds one row per fix (person id, epoch seconds, lat, lon, accuracy, mock), sorted by person and time. A
    person none of whose fixes is outside the home circle (by more than its accuracy), inside an exclusion circle,
    mock, or an impossible move from the previous fix, and who has no other kind of zone, leave or check-in in the
    period, can raise nothing: the exact rules (supervision.geofence) then run only for the others.
    """
    rules = policy.rules
    suspects: set[int] = set()
    for pid, person in persons.items():
        home_ok = person.home_lat is not None and person.home_radius_m is not None and \
            person.home_radius_m < rules.county_radius_m
        plain = all((z.kind == ZoneKind.EXCLUSION or z.kind == ZoneKind.CURFEW and z.center_lat is None)
                    and z.polygon is None for z in zones.get(pid, []))
        if not home_ok or not plain or leaves.get(pid) or checkins.get(pid):
            suspects.add(pid)
    if not len(data):
        return suspects
    owner = data[:, 0].astype(np.int64)
    seconds, lat, lon, acc, mock = data[:, 1], data[:, 2], data[:, 3], data[:, 4], data[:, 5] > 0
    ids, starts, counts = np.unique(owner, return_index=True, return_counts=True)
    home = np.array([[persons[int(p)].home_lat or 0.0, persons[int(p)].home_lon or 0.0,
                      persons[int(p)].home_radius_m or 0.0] for p in ids])
    per_row = np.repeat(home, counts, axis=0)
    usable = acc <= rules.max_accuracy_m
    flagged = mock | (usable & (_metres(lat, lon, per_row[:, 0], per_row[:, 1]) - per_row[:, 2] > acc))
    moved = _metres(lat[:-1], lon[:-1], lat[1:], lon[1:]) - acc[:-1] - acc[1:]
    elapsed = np.diff(seconds)
    fast = (elapsed <= rules.jump_seconds) | (moved * 3.6 > rules.max_speed_kmh * np.maximum(elapsed, 1e-9))
    flagged[1:] |= (owner[1:] == owner[:-1]) & (moved > rules.jump_min_m) & fast
    suspects.update(int(p) for p in np.unique(owner[flagged]))
    spans = {int(p): (int(first), int(first + n)) for p, first, n in zip(ids, starts, counts, strict=True)}
    for person_id, own in zones.items():
        if person_id in suspects or person_id not in spans:
            continue
        first, last = spans[person_id]
        for zone in own:
            if zone.kind == ZoneKind.EXCLUSION and zone.center_lat is not None:
                inside = _metres(lat[first:last], lon[first:last], zone.center_lat, zone.center_lon) \
                    + acc[first:last] <= (zone.radius_m or 0.0)
                if bool((inside & usable[first:last]).any()):
                    suspects.add(person_id)
                    break
    return suspects


def zone_pass(*, session: Session, now: datetime, policy: LocationPolicy, lookback: timedelta) -> dict[str, int]:
    """The sweep's zone pass: evaluate every tracked person's fixes received since their watermark, in bulk."""
    pending = _pending_fixes(session, now, now - lookback)
    counts = {"location_persons_evaluated": len(pending), "location_alerts": 0}
    if not pending:
        return counts
    ranges = {pid: (first - policy.context, last + policy.context) for pid, first, last in pending}
    start = min(r[0] for r in ranges.values())
    end = max(r[1] for r in ranges.values())
    # Phase one: plain numbers for every fix, judged in bulk; phase two: full rows only for the persons that may
    # have breached something, judged exactly by supervision.geofence.
    data = _load_pass_data(session, sorted(ranges), start, end)
    suspects = _may_breach(data.numbers, data.persons, data.zones, data.leaves, data.checkins, policy)
    counts["location_persons_checked_in_full"] = len(suspects)
    chosen = sorted(suspects)
    rows = _full_fixes(session, chosen, start, end)
    found: list[tuple[Person | tuple[int, int], Detection]] = []
    for pid in chosen:
        person = data.persons[pid]
        low, high = ranges[pid]
        own = [f for f in rows[pid] if low <= f.at <= high]
        found += [(person, d) for d in detect(person, own, data.zones[pid], data.leaves[pid], data.checkins[pid],
                                              policy)]
    counts["location_alerts"] = len(raise_detections(session, found, now))
    session.execute(update(LocationTracking).where(_active_tracking_condition(now))
                    .values(evaluated_at=now).execution_options(synchronize_session=False))
    return counts


def _pending_fixes(session: Session, now: datetime, since: datetime) -> Sequence[Any]:
    """(person id, first, last fix time) of each actively tracked person with fixes received after their watermark."""
    return session.execute(
        select(LocationFix.person_id, func.min(LocationFix.fixed_at), func.max(LocationFix.fixed_at))
        .join(LocationTracking, LocationTracking.person_id == LocationFix.person_id)
        .where(_active_tracking_condition(now), LocationFix.fixed_at > since, LocationFix.received_at <= now,
               or_(LocationTracking.evaluated_at.is_(None), LocationFix.received_at > LocationTracking.evaluated_at))
        .group_by(LocationFix.person_id)).all()


@dataclass
class _PassData:
    """What phase one of the zone pass judges, by person id (defaultdicts: a person with none reads as empty), and
    every fix as numbers (one row a fix)."""

    persons: dict[int, Person]
    zones: dict[int, list[LocationZone]]
    leaves: dict[int, list[LeaveRequest]]
    checkins: dict[int, list[CheckinPoint]]
    numbers: Any  # numpy array: person id, epoch seconds, lat, lon, accuracy, mock; by person and time


def _load_pass_data(session: Session, ids: list[int], start: datetime, end: datetime) -> _PassData:
    """The persons, their zones, leave and check-ins, and their fixes as plain numbers, a chunk of ids at a time."""
    persons: dict[int, Person] = {}
    zones: dict[int, list[LocationZone]] = defaultdict(list)
    leaves: dict[int, list[LeaveRequest]] = defaultdict(list)
    checkins: dict[int, list[CheckinPoint]] = defaultdict(list)
    numbers: list[Any] = []
    for first in range(0, len(ids), CHUNK):
        chunk = ids[first:first + CHUNK]
        persons.update((p.id, p) for p in session.scalars(select(Person).where(Person.id.in_(chunk))))
        for zone in session.scalars(select(LocationZone).where(LocationZone.person_id.in_(chunk),
                                                               LocationZone.deleted_at.is_(None))
                                    .order_by(LocationZone.id)):
            zones[zone.person_id].append(zone)
        for leave in session.scalars(_leaves_stmt(start, end).where(LeaveRequest.person_id.in_(chunk))):
            leaves[leave.person_id].append(leave)
        for row in session.execute(_checkins_stmt(start, end).where(Checkin.person_id.in_(chunk))):
            checkins[row.person_id].append(CheckinPoint(row.id, row.captured_at, row.latitude, row.longitude,
                                                        row.accuracy_m))
        numbers += map(tuple, session.connection().execute(
            select(LocationFix.person_id, _epoch(session), LocationFix.lat, LocationFix.lon, LocationFix.accuracy_m,
                   LocationFix.mock)
            .where(LocationFix.person_id.in_(chunk), LocationFix.fixed_at >= start, LocationFix.fixed_at <= end)
            .order_by(LocationFix.person_id, LocationFix.fixed_at)).all())  # plain tuples: numpy probes Rows slowly
    return _PassData(persons, zones, leaves, checkins, np.array(numbers, dtype=float).reshape(-1, 6))


def _full_fixes(session: Session, person_ids: list[int], start: datetime, end: datetime) -> dict[int, list[Fix]]:
    """The full fix rows of these persons between start and end, by person, in time order."""
    rows: dict[int, list[Fix]] = defaultdict(list)
    for first in range(0, len(person_ids), CHUNK):
        chunk = person_ids[first:first + CHUNK]
        for row in session.execute(select(*FIX_COLUMNS).where(LocationFix.person_id.in_(chunk),
                                                              LocationFix.fixed_at >= start,
                                                              LocationFix.fixed_at <= end)
                                   .order_by(LocationFix.person_id, LocationFix.fixed_at)):
            rows[row[0]].append(_fix(row))
    return rows


def sweep_location_gaps(*, session: Session, now: datetime, policy: LocationPolicy) -> int:
    """One location_gap alert per silence: tracking on and no fix for longer than the gap (phone off, app stopped)."""
    last_fix = (select(func.max(LocationFix.fixed_at)).where(LocationFix.person_id == LocationTracking.person_id)
                .correlate(LocationTracking).scalar_subquery())
    rows = session.execute(select(LocationTracking.person_id, LocationTracking.office_id, LocationTracking.started_at,
                                  LocationTracking.interval_minutes, last_fix.label("last_fix"))
                           .where(_active_tracking_condition(now))).all()
    found: list[tuple[Person | tuple[int, int], Detection]] = []
    for person_id, office_id, started_at, interval, last in rows:
        since = max(last, started_at) if last is not None else started_at
        limit = max(policy.gap, timedelta(minutes=2 * interval))
        if now - since <= limit:
            continue
        hours = (now - since).total_seconds() / 3600
        text = (f"No fix from the phone for {hours:.1f} h (since {since.isoformat()}) while tracking is on: "
                "phone off, location switched off or the app stopped.")
        found.append(((person_id, office_id), Detection(
            AlertType.LOCATION_GAP, since.isoformat(), since, "no_fixes", text, [],
            {"last_fix_at": last.isoformat() if last else None, "since": since.isoformat(),
             "limit_minutes": limit.total_seconds() / 60})))
    return len(raise_detections(session, found, now))


def sweep_separation(*, session: Session, now: datetime, policy: LocationPolicy, lookback: timedelta,
                     duties: DutyPolicy) -> int:
    """Person-phone separation (人机分离) signals the sweep can see: a missed spot check while the phone lay still,
    and check-ins made right after the window opens followed by travel far away (the midnight pattern)."""
    found: list[tuple[Person | tuple[int, int], Detection]] = []
    tasks = session.execute(
        select(Task.id, Task.person_id, Task.office_id, Task.created_at, Task.due_at)
        .join(LocationTracking, LocationTracking.person_id == Task.person_id)
        .where(Task.kind == TaskKind.SPOT_CHECK, Task.status == TaskStatus.MISSED, Task.due_at > now - lookback)).all()
    for task_id, person_id, office_id, created_at, due_at in tasks:
        start = min(created_at, due_at - policy.stationary)
        fixes = [_fix(r) for r in session.execute(
            select(*FIX_COLUMNS).where(LocationFix.person_id == person_id, LocationFix.fixed_at >= start,
                                       LocationFix.fixed_at <= due_at).order_by(LocationFix.fixed_at))]
        if geofence.is_stationary(fixes, radius_m=policy.stationary_radius_m, min_span=policy.stationary):
            hours = (fixes[-1].at - fixes[0].at).total_seconds() / 3600
            found.append(((person_id, office_id), Detection(
                AlertType.PERSON_PHONE_SEPARATION, f"task:{task_id}", due_at,
                LocationSignal.STATIONARY_PHONE_MISSED_SPOT_CHECK,
                f"Spot check #{task_id} was not answered while the phone lay still for {hours:.1f} h "
                f"(all {len(fixes)} fixes within {policy.stationary_radius_m:.0f} m): the phone may have been left "
                "behind.", fixes, {"task_id": task_id})))
    found += _window_pattern(session=session, now=now, policy=policy, duties=duties)
    return len(raise_detections(session, found, now))


def _window_pattern(*, session: Session, now: datetime, policy: LocationPolicy,
                    duties: DutyPolicy) -> list[tuple[Person | tuple[int, int], Detection]]:
    since = now - timedelta(days=7)
    within = timedelta(minutes=policy.window_pattern_minutes)
    after = timedelta(hours=12)
    rows = session.execute(
        _checkins_stmt(since, now).join(LocationTracking, LocationTracking.person_id == Checkin.person_id)
        .where(_active_tracking_condition(now))).all()
    by_person: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_person[row.person_id].append(row)
    found: list[tuple[Person | tuple[int, int], Detection]] = []
    for person_id, own in by_person.items():
        if len(own) < policy.window_pattern_days:
            continue
        person = session.get(Person, person_id)
        assert person is not None
        resolved = duties.for_office(person.office.code, person.office.timezone)
        windows = list(resolved.windows(person.supervision_level, since - timedelta(days=1), now))
        pairs = []
        for row in own:
            window = next((w for w in windows if w.start <= row.captured_at < w.end), None)
            if window is not None and row.captured_at - window.start <= within:
                pairs.append((CheckinPoint(row.id, row.captured_at, row.latitude, row.longitude, row.accuracy_m),
                              window.start))
        if len(pairs) < policy.window_pattern_days:
            continue  # cheap test first: only then are a week of fixes loaded
        fixes = [_fix(r) for r in session.execute(
            select(*FIX_COLUMNS).where(LocationFix.person_id == person_id, LocationFix.fixed_at >= since)
            .order_by(LocationFix.fixed_at))]
        hits = geofence.window_pattern(pairs, fixes, within=within, away_m=policy.window_pattern_away_m, after=after,
                                       min_days=policy.window_pattern_days)
        if hits:
            week = now.astimezone(_office_zone(person)).isocalendar()
            found.append((person, Detection(
                AlertType.PERSON_PHONE_SEPARATION, f"window_pattern:{week.year}-W{week.week:02d}", hits[-1][0].at,
                LocationSignal.CHECKIN_AFTER_WINDOW_OPENS_THEN_AWAY,
                f"On {len(hits)} days the check-in came within {policy.window_pattern_minutes:.0f} min of the window "
                f"opening and the phone was then more than {policy.window_pattern_away_m / 1000:.0f} km away: the "
                "pattern of a check-in made just after midnight before a trip.",
                [fix for _c, fix in hits], {"checkin_ids": [c.id for c, _f in hits]})))
    return found


def prune_fixes(*, session: Session, now: datetime, policy: LocationPolicy) -> int:
    """Delete the fixes of persons whose supervision ended longer ago than the retention; audit-logged."""
    cutoff = now - policy.retention
    ended = select(Person.id).where(Person.status != PersonStatus.ACTIVE,
                                    or_(Person.released_at < cutoff,
                                        and_(Person.released_at.is_(None), Person.end_date < cutoff.date())))
    persons = list(session.scalars(select(LocationFix.person_id).where(LocationFix.person_id.in_(ended)).distinct()))
    if not persons:
        return 0
    result = session.execute(delete(LocationFix).where(LocationFix.person_id.in_(persons))
                             .execution_options(synchronize_session=False))
    deleted = int(getattr(result, "rowcount", 0) or 0)
    offices = dict(session.execute(select(Person.id, Person.office_id).where(Person.id.in_(persons))).all())
    for person_id in persons:
        record_event(session=session, actor=SYSTEM, action=AuditAction.LOCATION_PURGED, at=now, person_id=person_id,
                     office_id=offices.get(person_id), target_type="person", target_id=person_id,
                     details={"retention_days": policy.retention.days, "cutoff": cutoff.isoformat()})
    return deleted


def ensure_fix_partitions_ahead(*, session: Session, now: datetime) -> int:
    """Create this month's and the next two months' fix partitions when missing (PostgreSQL); how many were made."""
    first = month_start(now)
    return len(ensure_partitions(session, months_between(first, next_month(next_month(first)))))


def run_location_sweep(*, session: Session, now: datetime, policy: LocationPolicy, lookback: timedelta,
                       duties: DutyPolicy) -> dict[str, int]:
    """Every location step of the sweep: partitions, zone pass, gaps, separation signals, retention."""
    counts = {"location_partitions_created": ensure_fix_partitions_ahead(session=session, now=now),
              "location_persons_evaluated": 0, "location_alerts": 0, "location_gap": 0, "person_phone_separation": 0}
    # One cheap probe first: a deployment (or an hour) without any tracking costs one statement, not four.
    if session.scalar(select(LocationTracking.id).where(_active_tracking_condition(now)).limit(1)) is not None:
        counts.update(zone_pass(session=session, now=now, policy=policy, lookback=lookback))
        counts["location_gap"] = sweep_location_gaps(session=session, now=now, policy=policy)
        counts["person_phone_separation"] = sweep_separation(session=session, now=now, policy=policy,
                                                             lookback=lookback, duties=duties)
    counts["location_fixes_purged"] = prune_fixes(session=session, now=now, policy=policy)
    return counts


# --- trail ---------------------------------------------------------------------------------------------------------

def trail(*, session: Session, actor: Actor, person: Person, start: datetime, end: datetime, now: datetime,
          policy: LocationPolicy, raw: bool = False) -> dict[str, Any]:
    """A person's trail for a period: simplified for display, raw fixes on request, zones and alerts; audit-logged."""
    if end <= start:
        raise ValidationFailed({"to": ["The end must be after the start."]})
    if end - start > timedelta(days=policy.trail_max_days):
        raise ValidationFailed({"to": [f"At most {policy.trail_max_days} days at a time."]})
    fixes = [_fix(r) for r in session.execute(
        select(*FIX_COLUMNS).where(LocationFix.person_id == person.id, LocationFix.fixed_at >= start,
                                   LocationFix.fixed_at <= end).order_by(LocationFix.fixed_at))]
    accurate = [f for f in fixes if f.accuracy_m <= policy.rules.max_accuracy_m]
    simplified = geofence.douglas_peucker(accurate, policy.trail_tolerance_m)
    leaves = list(session.scalars(_leaves_stmt(start, end).where(LeaveRequest.person_id == person.id)))
    alert_rows = list(session.scalars(select(Alert).where(
        Alert.person_id == person.id, Alert.type.in_([t.value for t in LOCATION_ALERTS]),
        Alert.occurred_at >= start, Alert.occurred_at <= end).order_by(Alert.occurred_at)))
    record_event(session=session, actor=actor, action=AuditAction.TRAIL_VIEWED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="person", target_id=person.id,
                 details={"from": start.isoformat(), "to": end.isoformat(), "raw": raw, "fixes": len(fixes)})
    zones = [zone_view(z) for z in list_zones(session=session, person=person)]
    if person.home_lat is not None:
        zones.insert(0, {"id": None, "kind": ZoneKind.INCLUSION.value, "scope": ZoneScope.HOME.value,
                         "note": "home area", "circle": {"lat": person.home_lat, "lon": person.home_lon,
                                                         "radius_m": person.home_radius_m}})
    for leave in leaves:
        if leave.dest_lat is not None:
            zones.append({"id": None, "kind": ZoneKind.INCLUSION.value, "scope": "leave", "leave_request_id": leave.id,
                          "note": leave.destination, "start_at": leave.start_at, "end_at": leave.end_at,
                          "circle": {"lat": leave.dest_lat, "lon": leave.dest_lon,
                                     "radius_m": leave.dest_radius_m or DEFAULT_LEAVE_RADIUS_M}})
    return {"person_id": person.id, "from": start, "to": end, "fix_count": len(fixes),
            "fixes": [_fix_view(f) for f in fixes] if raw else [],
            "simplified": [[f.lat, f.lon, f.at.isoformat()] for f in simplified],
            "zones": zones, "alerts": alert_rows, "fix_objects": fixes}


def _fix_view(fix: Fix) -> dict[str, Any]:
    return {"id": fix.client_id, "at": fix.at, "lat": fix.lat, "lon": fix.lon, "accuracy_m": fix.accuracy_m,
            "mock": fix.mock}
