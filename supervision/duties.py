"""Check-in duties by supervision level: when a person must check in, whether they did, and a compliance summary."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.enums import CheckinStatus, PersonStatus, SupervisionLevel
from storage.models import Checkin, Person

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TIMEZONE = "Asia/Shanghai"
# A check-in with one of these statuses inside the window fulfils the duty.
FULFILLING = (CheckinStatus.VERIFIED, CheckinStatus.ACCEPTED)
# An officer has not decided yet: the window is neither met nor missed.
PENDING = (CheckinStatus.NEEDS_REVIEW,)
# Clients may stamp a capture up to a few minutes after the server received it (clock skew), never more:
# this bounds received_at so the (person_id, received_at) index narrows the search for a window's check-ins.
CAPTURE_SLACK = timedelta(hours=1)


def parse_weekdays(value: str | Sequence[Any]) -> tuple[int, ...]:
    """Weekdays from "mon,thu" or ["mon", 3] (0 = Monday), sorted and unique."""
    items = value.split(",") if isinstance(value, str) else list(value)
    days: set[int] = set()
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
            days.add(item)
            continue
        name = str(item).strip().lower()[:3]
        if name not in WEEKDAYS:
            raise ValueError(f"unknown weekday {item!r}; use mon, tue, wed, thu, fri, sat, sun")
        days.add(WEEKDAYS.index(name))
    return tuple(sorted(days))


def parse_time(value: str | time) -> time:
    """A local wall-clock time from "HH:MM"."""
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ValueError(f"invalid time {value!r}; use HH:MM") from exc


def check_timezone(name: str) -> ZoneInfo:
    """The zone called name, or ValueError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


@dataclass(frozen=True)
class LevelDuty:
    """One level's schedule: check in on these weekdays between start and end, local time."""

    weekdays: tuple[int, ...]
    start: time = time(8, 0)
    end: time = time(20, 0)

    def __post_init__(self) -> None:
        if not self.weekdays:
            raise ValueError("a check-in duty needs at least one weekday")
        if self.end <= self.start:
            raise ValueError("a check-in window must end after it starts on the same day")

    def merged(self, values: Mapping[str, Any]) -> LevelDuty:
        """This duty with the keys days/weekdays, start and end of values replaced."""
        unknown = set(values) - {"days", "weekdays", "start", "end"}
        if unknown:
            raise ValueError(f"unknown duty settings: {', '.join(sorted(unknown))}")
        days = values.get("days", values.get("weekdays"))
        return LevelDuty(
            weekdays=parse_weekdays(days) if days is not None else self.weekdays,
            start=parse_time(values["start"]) if "start" in values else self.start,
            end=parse_time(values["end"]) if "end" in values else self.end,
        )


@dataclass(frozen=True)
class DutyWindow:
    """One check-in window; start and end are aware datetimes in the office's time zone."""

    day: date
    start: datetime
    end: datetime
    level: str

    def as_dict(self) -> dict[str, Any]:
        """The window for an API answer (ISO 8601 with the local offset)."""
        return {"date": self.day.isoformat(), "start": self.start.isoformat(), "end": self.end.isoformat(),
                "level": self.level}


def _level_defaults() -> dict[str, LevelDuty]:
    return {
        SupervisionLevel.STRICT: LevelDuty(weekdays=tuple(range(7))),
        SupervisionLevel.ORDINARY: LevelDuty(weekdays=(0, 3)),
        SupervisionLevel.LENIENT: LevelDuty(weekdays=(0,)),
    }


@dataclass(frozen=True)
class DutyPolicy:
    """Check-in duties per level (defaults: strict daily, ordinary Monday and Thursday, lenient Monday)."""

    levels: Mapping[str, LevelDuty] = field(default_factory=_level_defaults)
    # Used when an office has no valid zone of its own.
    timezone: str = DEFAULT_TIMEZONE
    # A window counts as missed only this long after it closed, so an upload in flight is not an absence.
    grace: timedelta = timedelta(minutes=10)
    # {office_code: {"timezone": ..., "strict": {"days": "mon,thu", "start": "08:00", "end": "20:00"}, ...}}
    office_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def duty(self, level: str) -> LevelDuty:
        """The schedule of a level (unknown levels are treated as strict)."""
        return self.levels.get(level) or self.levels[SupervisionLevel.STRICT]

    def for_office(self, office_code: str | None, office_timezone: str | None = None) -> ResolvedDuties:
        """The schedules and zone that apply in one office: its overrides, then its zone, then the defaults."""
        override = dict(self.office_overrides.get(office_code or "", {}))
        if override.get("timezone"):
            zone = check_timezone(str(override.pop("timezone")))
        else:
            override.pop("timezone", None)
            try:
                zone = check_timezone(office_timezone or self.timezone)
            except ValueError:
                # An office row with a zone this machine does not know falls back rather than stopping the sweep.
                zone = check_timezone(self.timezone)
        levels = dict(self.levels)
        for level, values in override.items():
            if level not in levels or not isinstance(values, Mapping):
                raise ValueError(f"overrides of office {office_code}: {level!r} is not a level with a settings object")
            levels[level] = levels[level].merged(values)
        return ResolvedDuties(zone=zone, levels=tuple(sorted(levels.items())), grace=self.grace)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DutyPolicy:
        """Build the policy from CHECKIN_* settings (values may be strings, as from the environment)."""
        start = parse_time(config.get("DUTY_WINDOW_START", "08:00"))
        end = parse_time(config.get("DUTY_WINDOW_END", "20:00"))
        day_defaults = {SupervisionLevel.STRICT: "mon,tue,wed,thu,fri,sat,sun", SupervisionLevel.ORDINARY: "mon,thu",
                        SupervisionLevel.LENIENT: "mon"}
        levels: dict[str, LevelDuty] = {
            level: LevelDuty(weekdays=parse_weekdays(config.get(f"DUTY_{level.upper()}_DAYS", days)), start=start,
                             end=end)
            for level, days in day_defaults.items()
        }
        overrides = config.get("DUTY_OFFICE_OVERRIDES") or {}
        if isinstance(overrides, str):
            overrides = json.loads(overrides) if overrides.strip() else {}
        if not isinstance(overrides, Mapping):
            raise ValueError("DUTY_OFFICE_OVERRIDES must map office codes to settings")
        timezone = str(config.get("DUTY_TIMEZONE") or DEFAULT_TIMEZONE)
        check_timezone(timezone)
        policy = cls(levels=levels, timezone=timezone, office_overrides=overrides,
                     grace=timedelta(minutes=float(config.get("DUTY_GRACE_MINUTES", 10))))
        for office_code in overrides:
            policy.for_office(office_code)  # fail at start-up, not in the middle of a sweep
        return policy


@dataclass(frozen=True)
class ResolvedDuties:
    """The duties of one office: hashable, so offices with the same rules can be swept together."""

    zone: ZoneInfo
    levels: tuple[tuple[str, LevelDuty], ...]
    grace: timedelta

    def duty(self, level: str) -> LevelDuty:
        """The schedule of a level in this office (unknown levels are treated as strict)."""
        table = dict(self.levels)
        return table.get(level) or table[SupervisionLevel.STRICT]

    def window_on(self, level: str, day: date) -> DutyWindow | None:
        """The level's window on a local date, or None when the level has no duty that day."""
        duty = self.duty(level)
        if day.weekday() not in duty.weekdays:
            return None
        return DutyWindow(day=day, start=datetime.combine(day, duty.start, tzinfo=self.zone),
                          end=datetime.combine(day, duty.end, tzinfo=self.zone), level=level)

    def windows(self, level: str, since: datetime, until: datetime) -> Iterator[DutyWindow]:
        """The level's windows that end after since and start before until, oldest first."""
        day = since.astimezone(self.zone).date() - timedelta(days=1)
        last = until.astimezone(self.zone).date()
        while day <= last:
            window = self.window_on(level, day)
            if window is not None and window.end > since and window.start < until:
                yield window
            day += timedelta(days=1)

    def closed_windows(self, level: str, since: datetime, now: datetime) -> list[DutyWindow]:
        """Windows that closed (grace included) after since and before now."""
        return [w for w in self.windows(level, since - self.grace, now) if since < w.end + self.grace <= now]


def person_duties(policy: DutyPolicy, person: Person) -> ResolvedDuties:
    """The duties that apply to person in their office."""
    return policy.for_office(person.office.code, person.office.timezone)


def applies_to(person: Person, window: DutyWindow) -> bool:
    """Whether person owed this window: active, under supervision that day, registered before it opened."""
    return (person.status == PersonStatus.ACTIVE and person.start_date <= window.day <= person.end_date
            and person.created_at <= window.start)


def _checkins_between(session: Session, person_id: int, since: datetime, until: datetime) -> list[Checkin]:
    stmt = select(Checkin).where(
        Checkin.person_id == person_id,
        Checkin.received_at >= since - CAPTURE_SLACK,
        Checkin.captured_at >= since,
        Checkin.captured_at < until,
        Checkin.status.in_((*FULFILLING, *PENDING)),
    )
    return list(session.scalars(stmt.order_by(Checkin.captured_at)))


def window_status(window: DutyWindow, checkins: Sequence[Checkin], now: datetime, grace: timedelta) -> str:
    """met, pending (awaiting review), open (still running) or missed."""
    inside = [c for c in checkins if window.start <= c.captured_at < window.end]
    if any(c.status in FULFILLING for c in inside):
        return "met"
    if inside:
        return "pending"
    if now < window.end + grace:
        return "open"
    return "missed"


def next_due(*, session: Session, person: Person, now: datetime, policy: DutyPolicy,
             horizon_days: int = 14) -> DutyWindow | None:
    """The window the person must check in next: the current one unless already met, else the next to open."""
    if person.status != PersonStatus.ACTIVE:
        return None
    duties = person_duties(policy, person)
    candidates = [w for w in duties.windows(person.supervision_level, now, now + timedelta(days=horizon_days))
                  if person.start_date <= w.day <= person.end_date]
    if not candidates:
        return None
    current = candidates[0]
    if current.start <= now < current.end:
        checkins = _checkins_between(session, person.id, current.start, current.end)
        if window_status(current, checkins, now, duties.grace) in ("met", "pending"):
            return candidates[1] if len(candidates) > 1 else None
    return current


@dataclass
class ComplianceSummary:
    """Duties met, missed and awaiting review over a period."""

    since: datetime
    until: datetime
    level: str
    met: int = 0
    missed: int = 0
    pending: int = 0
    windows: list[tuple[DutyWindow, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Windows that closed in the period."""
        return self.met + self.missed + self.pending

    @property
    def missed_windows(self) -> list[DutyWindow]:
        """The windows without a check-in, oldest first."""
        return [window for window, status in self.windows if status == "missed"]

    def as_dict(self) -> dict[str, Any]:
        """The summary for an API answer."""
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(), "level": self.level,
            "met": self.met, "missed": self.missed, "pending": self.pending, "total": self.total,
            "missed_windows": [window.as_dict() for window in self.missed_windows],
        }


def compliance(*, session: Session, person: Person, now: datetime, policy: DutyPolicy,
               days: int = 30) -> ComplianceSummary:
    """The person's duties over the last days that have closed: met, missed or awaiting review (current level)."""
    duties = person_duties(policy, person)
    since = now - timedelta(days=days)
    summary = ComplianceSummary(since=since, until=now, level=person.supervision_level)
    windows = [w for w in duties.closed_windows(person.supervision_level, since, now) if applies_to(person, w)]
    if not windows:
        return summary
    checkins = _checkins_between(session, person.id, windows[0].start, windows[-1].end)
    for window in windows:
        status = window_status(window, checkins, now, duties.grace)
        summary.windows.append((window, status))
        if status == "met":
            summary.met += 1
        elif status == "pending":
            summary.pending += 1
        else:
            summary.missed += 1
    return summary
