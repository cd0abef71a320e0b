"""The periodic sweep (cron every few minutes): alerts for missed duties, missed spot checks and repeated failures.

Every step is one set-based statement over all persons (a few per duty window), never a query per person, and
idempotent: alerts carry dedupe keys, so a sweep that runs again inserts nothing new.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.enums import AlertStatus, AlertType, CheckinStatus, PersonStatus, SupervisionLevel, TaskKind, TaskStatus
from storage.models import Alert, Checkin, IdempotencyRecord, Office, Person, Task
from storage.models._types import UTCDateTime
from supervision import activities
from supervision.accounts import prune_login_attempts
from supervision.activities import ActivityPolicy
from supervision.duties import CAPTURE_SLACK, FULFILLING, PENDING, DutyPolicy, DutyWindow, ResolvedDuties
from supervision.leave import LeavePolicy, sweep_leave
from supervision.messages import ReminderPolicy
from supervision.tasks import SpotCheckPolicy
from supervision.tracking import LocationPolicy, run_location_sweep

ALERT_COLUMNS = ("person_id", "office_id", "type", "status", "dedupe_key", "occurred_at", "created_at", "evidence")
FAILED_ATTEMPTS = (CheckinStatus.FAILED, CheckinStatus.REJECTED)


@dataclass(frozen=True)
class SweepSettings:
    """What the sweep checks and how far back it looks."""

    duties: DutyPolicy = field(default_factory=DutyPolicy)
    spot_checks: SpotCheckPolicy = field(default_factory=SpotCheckPolicy)
    # Windows and deadlines older than this are left alone (a sweep that was down for a while still catches up).
    lookback: timedelta = timedelta(hours=72)
    failure_count: int = 3
    failure_window: timedelta = timedelta(hours=24)
    # The rules of the other modules the sweep applies.
    leave: LeavePolicy = field(default_factory=LeavePolicy)
    activities: ActivityPolicy = field(default_factory=ActivityPolicy)
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)
    # Finished Idempotency-Key answers are replayed this long, then pruned.
    idempotency_retention: timedelta = timedelta(hours=72)
    # Location supervision between check-ins (supervision/tracking.py).
    location: LocationPolicy = field(default_factory=LocationPolicy)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SweepSettings:
        """Build the settings from CHECKIN_* settings (values may be strings, as from the environment)."""
        count = int(config.get("REPEATED_FAILURES_COUNT", 3))
        if count < 1:
            raise ValueError("REPEATED_FAILURES_COUNT must be at least 1")
        retention = timedelta(hours=float(config.get("IDEMPOTENCY_RETENTION_HOURS", 72)))
        if retention <= timedelta(0):
            raise ValueError("IDEMPOTENCY_RETENTION_HOURS must be positive")
        return cls(duties=DutyPolicy.from_config(config), spot_checks=SpotCheckPolicy.from_config(config),
                   lookback=timedelta(hours=float(config.get("SWEEP_LOOKBACK_HOURS", 72))), failure_count=count,
                   failure_window=timedelta(hours=float(config.get("REPEATED_FAILURES_WINDOW_HOURS", 24))),
                   idempotency_retention=retention, location=LocationPolicy.from_config(config),
                   leave=LeavePolicy.from_config(config), activities=ActivityPolicy.from_config(config),
                   reminders=ReminderPolicy.from_config(config))


def run_sweep(*, session: Session, now: datetime, settings: SweepSettings | Mapping[str, Any]) -> dict[str, int]:
    """Raise the alerts that time calls for and mark missed spot checks; returns counts of what changed."""
    if not isinstance(settings, SweepSettings):
        settings = SweepSettings.from_config(settings)
    counts = {"missed_checkin": sweep_missed_checkins(session=session, now=now, policy=settings.duties,
                                                      lookback=settings.lookback)}
    counts.update(sweep_spot_checks(session=session, now=now, policy=settings.spot_checks,
                                    lookback=settings.lookback))
    counts["repeated_failures"] = sweep_repeated_failures(session=session, now=now, count=settings.failure_count,
                                                          window=settings.failure_window)
    counts.update(_sweep_leave(session=session, now=now, settings=settings))
    counts.update(activities.sweep_activities(session=session, now=now, duties=settings.duties,
                                              policy=settings.activities, reminders=settings.reminders,
                                              lookback=settings.lookback))
    counts["idempotency_pruned"] = prune_idempotency_records(session=session, now=now,
                                                             retention=settings.idempotency_retention)
    counts["login_attempts_pruned"] = prune_login_attempts(session=session, now=now)
    counts.update(run_location_sweep(session=session, now=now, policy=settings.location, lookback=settings.lookback,
                                     duties=settings.duties))
    session.flush()
    return counts


def run_lifecycle(*, session: Session, blobs: Any, now: datetime, config: Mapping[str, Any], purge: bool = True,
                  fsck: bool = False) -> dict[str, int]:
    """The sweep schedule's data-lifecycle steps: the retention purge (applied) and the blob check with repair."""
    from supervision import fsck as checks
    from supervision import retention

    counts: dict[str, int] = {}
    if purge:
        done = retention.run_purge(session=session, blobs=blobs, now=now, settings=config, apply=True)
        counts["purged_rows"] = sum(c.rows for c in done.values())
        counts["purged_blobs"] = sum(c.blobs for c in done.values())
    if fsck:
        lease = timedelta(seconds=float(config.get("IDEMPOTENCY_LEASE_SECONDS", checks.DEFAULT_LEASE.total_seconds())))
        report = checks.check_blobs(session=session, blobs=blobs, now=now, lease=lease)
        checks.repair_orphans(blobs=blobs, report=report)
        checks.record_fsck(session=session, now=now, report=report, repair=True)
        counts["blobs_missing"] = len(report.missing)
        counts["orphans_removed"] = report.removed
    return counts


def lifecycle_job(*, open_session: Any, blobs: Any, engine: Any, clock: Any, retention: Mapping[str, Any],
                  purge: bool = True, fsck: bool = False) -> dict[str, int]:
    """Background-job form of run_lifecycle (server.jobs runs it with the worker's session and store); retention
    holds the CHECKIN_RETENTION_* values, so the job's arguments stay plain JSON."""
    del engine  # the job context hands every job the engine; this one needs none
    session = open_session()
    try:
        counts = run_lifecycle(session=session, blobs=blobs, now=clock.now(), config=retention, purge=purge,
                               fsck=fsck)
        session.commit()
        return counts
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _insert_alerts(session: Session, rows: Select) -> int:
    """INSERT ... SELECT into alert; a key a concurrent sweep inserted first is skipped, not an error."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql_insert(Alert).from_select(ALERT_COLUMNS, rows).on_conflict_do_nothing(
            index_elements=["dedupe_key"])
    elif dialect == "sqlite":
        stmt = sqlite_insert(Alert).from_select(ALERT_COLUMNS, rows).on_conflict_do_nothing(
            index_elements=["dedupe_key"])
    else:
        stmt = insert(Alert).from_select(ALERT_COLUMNS, rows)
    # INSERT rowcounts are only kept when asked for (SQLAlchemy closes the cursor of statements without rows).
    result = session.execute(stmt.execution_options(preserve_rowcount=True))
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


def _json_object(session: Session, **values: Any) -> ColumnElement[Any]:
    """A JSON object built in SQL from per-row values (keys are fixed identifiers of this module)."""
    args: list[Any] = []
    for key, value in values.items():
        assert key.isidentifier()
        args += [literal_column(f"'{key}'"), value]
    if session.get_bind().dialect.name == "postgresql":
        return func.json_build_object(*args, type_=JSON)
    return func.json_object(*args, type_=JSON)


def _dedupe_key(prefix: str, id_column: Any, suffix: str = "") -> ColumnElement[str]:
    key = literal(prefix, String) + cast(id_column, String)
    return key + literal(suffix, String) if suffix else key


# An open absence alert is extended by the next missed window only while the gap since its last one is shorter.
ABSENCE_HORIZON = timedelta(days=7)
# New absence alerts per INSERT (a bound on the statement's parameters, not a query per person).
INSERT_CHUNK = 500


@dataclass
class _Absence:
    """One missed_checkin alert as the sweep sees it: the period it covers and how many windows were missed."""

    alert_id: int | None
    person_id: int
    office_id: int
    is_open: bool
    start: datetime
    end: datetime
    count: int
    evidence: dict[str, Any]
    dedupe_key: str
    changed: bool = False

    def covers(self, window: DutyWindow) -> bool:
        return self.start <= window.start and window.end <= self.end


def _window_table(session: Session, entries: list[tuple[DutyWindow, list[int] | None]]) -> Any:
    """The closed windows as a table in SQL (one row per window, or per window and office with office rules)."""
    # PostgreSQL needs the types spelled out in a UNION of parameters; SQLite must not CAST (a DATETIME cast of
    # its stored text is a number there).
    typed: Any = cast if session.get_bind().dialect.name == "postgresql" else type_coerce
    rows = []
    for n, (window, office_ids) in enumerate(entries):
        for office_id in office_ids or (None,):
            values: dict[str, tuple[Any, Any]] = {
                "n": (n, Integer()), "level": (window.level, String()), "day": (window.day, Date()),
                "w_start": (window.start, UTCDateTime()), "w_end": (window.end, UTCDateTime()),
                "r_start": (window.start - CAPTURE_SLACK, UTCDateTime()), "office_id": (office_id, Integer())}
            rows.append(select(*(typed(literal(value, type_), type_).label(name)
                                 for name, (value, type_) in values.items())))
    return (rows[0] if len(rows) == 1 else union_all(*rows)).cte("duty_window")


def _missed(session: Session, entries: list[tuple[DutyWindow, list[int] | None]],
            horizon: datetime) -> list[tuple[int, int, int, datetime | None]]:
    """(person, office, window number, last contact before the window) for every window a person owed and missed."""
    windows = _window_table(session, entries)
    checked_in = exists().where(
        Checkin.person_id == Person.id,
        Checkin.received_at >= windows.c.r_start,  # narrows the (person_id, received_at) index range
        Checkin.captured_at >= windows.c.w_start,
        Checkin.captured_at < windows.c.w_end,
        Checkin.status.in_((*FULFILLING, *PENDING)),
    )
    # The last report before the window: one after an absence's last missed window ends that absence.
    contact = (
        select(func.max(Checkin.captured_at))
        .where(Checkin.person_id == Person.id, Checkin.received_at >= horizon - CAPTURE_SLACK,
               Checkin.captured_at >= horizon, Checkin.captured_at < windows.c.w_start,
               Checkin.status.in_((*FULFILLING, *PENDING)))
        .correlate(Person, windows)
        .scalar_subquery()
    )
    stmt = (
        select(Person.id, Person.office_id, windows.c.n, contact)
        .join_from(Person, windows, and_(Person.supervision_level == windows.c.level,
                                          or_(windows.c.office_id.is_(None), windows.c.office_id == Person.office_id)))
        .where(Person.status == PersonStatus.ACTIVE, Person.start_date <= windows.c.day,
               Person.end_date >= windows.c.day, Person.created_at <= windows.c.w_start, ~checked_in)
    )
    return [(pid, office_id, n, at) for pid, office_id, n, at in session.execute(stmt)]


def _known_absences(session: Session, horizon: datetime, person_ids: set[int]) -> dict[int, list[_Absence]]:
    """The missed_checkin alerts of these persons whose last missed window ended after horizon, oldest first."""
    stmt = (select(Alert.id, Alert.person_id, Alert.office_id, Alert.status, Alert.occurred_at, Alert.evidence,
                   Alert.dedupe_key)
            .where(Alert.type == AlertType.MISSED_CHECKIN, Alert.occurred_at >= horizon)
            .order_by(Alert.occurred_at, Alert.id))
    found: dict[int, list[_Absence]] = defaultdict(list)
    for alert_id, pid, office_id, status, occurred_at, evidence, key in session.execute(stmt):
        if pid not in person_ids:
            continue
        evidence = dict(evidence or {})
        first = evidence.get("period_start") or evidence.get("window_start")
        try:
            start = datetime.fromisoformat(first) if isinstance(first, str) else occurred_at
        except ValueError:
            start = occurred_at
        found[pid].append(_Absence(alert_id, pid, office_id, status == AlertStatus.OPEN, start, occurred_at,
                                   int(evidence.get("missed_windows") or 1), evidence, key))
    return found


def _absence_evidence(first: DutyWindow) -> dict[str, Any]:
    return {"date": first.day.isoformat(), "window_start": first.start.isoformat(),
            "window_end": first.end.isoformat(), "level": first.level, "missed_windows": 1,
            "period_start": first.start.isoformat(), "period_end": first.end.isoformat()}


def _extend(absence: _Absence, window: DutyWindow) -> None:
    absence.end = window.end
    absence.count += 1
    absence.evidence = {**absence.evidence, "missed_windows": absence.count,
                        "period_start": absence.evidence.get("period_start") or absence.start.isoformat(),
                        "period_end": window.end.isoformat(), "last_date": window.day.isoformat()}
    absence.changed = True


def sweep_missed_checkins(*, session: Session, now: datetime, policy: DutyPolicy, lookback: timedelta) -> int:
    """One missed_checkin alert per absence: opened at the first duty window that closed without a check-in and
    grown by each further window missed in a row (evidence: missed_windows, period_start, period_end).

    A check-in after the alert's last missed window ends the absence, and so does resolving the alert: the next
    missed window opens a new alert. A fixed handful of statements however many persons or windows: one query of
    the missed (person, window) pairs over a table of the closed windows, one of the recent absence alerts, one
    UPDATE (executemany) of the alerts that grew and one INSERT of the new ones. Returns the alerts opened.
    """
    entries = _closed_windows(session, now, policy, lookback)
    if not entries:
        return 0
    horizon = now - lookback - ABSENCE_HORIZON
    missed: dict[int, list[tuple[DutyWindow, datetime | None]]] = defaultdict(list)
    offices_of: dict[int, int] = {}
    for pid, office_id, n, contact in _missed(session, entries, horizon):
        missed[pid].append((entries[n][0], contact))
        offices_of[pid] = office_id
    if not missed:
        return 0
    known = _known_absences(session, horizon, set(missed))
    new = _fold_missed(missed, known, offices_of)
    _save_grown(session, [a for absences in known.values() for a in absences if a.changed and a.alert_id is not None])
    return _insert_absences(session, new, now)


def _closed_windows(session: Session, now: datetime, policy: DutyPolicy,
                    lookback: timedelta) -> list[tuple[DutyWindow, list[int] | None]]:
    """The duty windows that closed in the lookback, each with the offices it applies to (None: every office)."""
    groups: dict[ResolvedDuties, list[int]] = defaultdict(list)
    for office_id, code, zone in session.execute(select(Office.id, Office.code, Office.timezone)):
        groups[policy.for_office(code, zone)].append(office_id)
    entries: list[tuple[DutyWindow, list[int] | None]] = []
    for duties, office_ids in groups.items():
        # With one rule set for every office (the usual case) no office filter is needed.
        offices = office_ids if len(groups) > 1 else None
        for level in SupervisionLevel:
            entries += [(window, offices) for window in duties.closed_windows(level, now - lookback, now)]
    return entries


def _fold_missed(missed: Mapping[int, list[tuple[DutyWindow, datetime | None]]],
                 known: dict[int, list[_Absence]], offices_of: Mapping[int, int]) -> list[_Absence]:
    """Each missed window, oldest first, either grows the person's open absence (no report since its last missed
    window) or opens a new one; returns the new ones (known gains them too)."""
    new: list[_Absence] = []
    for pid, windows in missed.items():
        absences = known.setdefault(pid, [])
        keys = {absence.dedupe_key for absence in absences}
        for window, contact in sorted(windows, key=lambda item: item[0].start):
            if any(absence.covers(window) for absence in absences):
                continue  # counted by an earlier sweep
            latest = max(absences, key=lambda a: a.end, default=None)
            if (latest is not None and latest.is_open and latest.end <= window.start
                    and (contact is None or contact < latest.end)):
                _extend(latest, window)  # no report since the last missed window: the same absence
                continue
            key = f"{AlertType.MISSED_CHECKIN.value}:{pid}:{window.day.isoformat()}"
            if key in keys:
                key = f"{key}:{window.start.isoformat()}"
            keys.add(key)
            absence = _Absence(None, pid, offices_of[pid], True, window.start, window.end, 1,
                               _absence_evidence(window), key)
            absences.append(absence)
            new.append(absence)
    return new


def _save_grown(session: Session, grown: list[_Absence]) -> None:
    """One UPDATE (executemany) of the open alerts whose absence grew."""
    if grown:
        table = _alert_table()
        session.execute(
            update(table).where(table.c.id == bindparam("alert_id"), table.c.status == AlertStatus.OPEN)
            .values(occurred_at=bindparam("occurred"), evidence=bindparam("details")),
            [{"alert_id": a.alert_id, "occurred": a.end, "details": a.evidence} for a in grown])


def _insert_absences(session: Session, new: list[_Absence], now: datetime) -> int:
    """The new absences' alerts, in chunks; returns how many were inserted."""
    created = 0
    for chunk in range(0, len(new), INSERT_CHUNK):
        rows = [{"person_id": a.person_id, "office_id": a.office_id, "type": AlertType.MISSED_CHECKIN.value,
                 "status": AlertStatus.OPEN.value, "dedupe_key": a.dedupe_key, "occurred_at": a.end,
                 "created_at": now, "evidence": a.evidence} for a in new[chunk:chunk + INSERT_CHUNK]]
        created += _insert_values(session, rows)
    return created


def _alert_table() -> Table:
    table = Alert.__table__
    assert isinstance(table, Table)
    return table


def _insert_values(session: Session, rows: list[dict[str, Any]]) -> int:
    """One multi-row INSERT into alert; a key a concurrent sweep inserted first is skipped, not an error."""
    table = _alert_table()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql_insert(table).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
    elif dialect == "sqlite":
        stmt = sqlite_insert(table).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
    else:
        stmt = insert(table).values(rows)
    result = session.execute(stmt.execution_options(preserve_rowcount=True))
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


# Each kind of officer-triggered task, and the alert raised when nobody answered it in time.
MISSED_TASK_ALERTS = (
    (TaskKind.SPOT_CHECK, AlertType.SPOT_CHECK_MISSED),
    (TaskKind.VIDEO_INSPECTION, AlertType.VIDEO_INSPECTION_MISSED),
)


def sweep_spot_checks(*, session: Session, now: datetime, policy: SpotCheckPolicy,
                      lookback: timedelta) -> dict[str, int]:
    """Mark open spot checks and video inspections past their deadline (plus grace) missed and alert for each."""
    kinds = [kind for kind, _ in MISSED_TASK_ALERTS]
    marked = session.execute(
        update(Task)
        .where(Task.kind.in_(kinds), Task.status == TaskStatus.OPEN, Task.due_at <= now - policy.grace)
        .values(status=TaskStatus.MISSED)
        .execution_options(synchronize_session=False)
    )
    counts = {"tasks_missed": int(getattr(marked, "rowcount", 0) or 0)}
    for kind, alert_type in MISSED_TASK_ALERTS:
        key = _dedupe_key(f"{alert_type.value}:", Task.id)
        rows = select(
            Task.person_id, Task.office_id, literal(alert_type.value, String),
            literal(AlertStatus.OPEN.value, String), key, Task.due_at, literal(now, UTCDateTime()),
            _json_object(session, task_id=Task.id, answered=literal_column("'no'")),
        ).where(
            Task.kind == kind,
            Task.status == TaskStatus.MISSED,
            Task.due_at > now - lookback - policy.grace,
            ~exists().where(Alert.dedupe_key == key),
        )
        counts[alert_type.value] = _insert_alerts(session, rows)
    return counts


def sweep_repeated_failures(*, session: Session, now: datetime, count: int, window: timedelta) -> int:
    """A repeated_failures alert when a person has count failed or rejected attempts within window, not yet alerted."""
    last_alert = (
        select(func.max(Alert.occurred_at))
        .where(Alert.person_id == Checkin.person_id, Alert.type == AlertType.REPEATED_FAILURES)
        .correlate(Checkin)
        .scalar_subquery()
    )
    failures = (
        select(Checkin.person_id.label("person_id"), func.count(Checkin.id).label("attempts"),
               func.max(Checkin.id).label("last_id"), func.max(Checkin.received_at).label("last_at"))
        .where(Checkin.status.in_(FAILED_ATTEMPTS), Checkin.received_at > now - window,
               # Attempts an earlier alert already counted do not count again.
               or_(last_alert.is_(None), Checkin.received_at > last_alert))
        .group_by(Checkin.person_id)
        .having(func.count(Checkin.id) >= count)
        .subquery()
    )
    key = _dedupe_key(f"{AlertType.REPEATED_FAILURES.value}:", Person.id, ":")
    key = key + cast(failures.c.last_id, String)
    rows = (
        select(Person.id, Person.office_id, literal(AlertType.REPEATED_FAILURES.value, String),
               literal(AlertStatus.OPEN.value, String), key, failures.c.last_at, literal(now, UTCDateTime()),
               _json_object(session, attempts=failures.c.attempts, last_checkin_id=failures.c.last_id))
        .join_from(failures, Person, Person.id == failures.c.person_id)
        .where(Person.status == PersonStatus.ACTIVE, ~exists().where(Alert.dedupe_key == key))
    )
    return _insert_alerts(session, rows)


def prune_idempotency_records(*, session: Session, now: datetime, retention: timedelta) -> int:
    """Delete Idempotency-Key records older than retention: finished answers, and reservations never finished."""
    cutoff = now - retention
    result = session.execute(
        delete(IdempotencyRecord)
        .where(or_(and_(IdempotencyRecord.completed_at.is_not(None), IdempotencyRecord.completed_at < cutoff),
                   # A reservation this old was orphaned (its lease, minutes long, ran out long ago).
                   and_(IdempotencyRecord.completed_at.is_(None), IdempotencyRecord.created_at < cutoff)))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _sweep_leave(*, session: Session, now: datetime, settings: SweepSettings) -> dict[str, int]:
    counts = sweep_leave(session=session, now=now, policy=settings.leave)
    return {f"leave_{name}": value for name, value in counts.items()}
