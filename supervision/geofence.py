"""Pure geometry and detection over location fixes: no database, no HTTP, so every rule can be table-tested.

A fix is only as good as its accuracy: a point counts as outside an area when it is farther outside than its
accuracy, and as inside a banned zone when it is deeper inside than its accuracy; fixes coarser than the accuracy
limit decide nothing. A breach needs a confirmed run of such fixes (several in a row, or a minimum time), so one
bad GPS fix raises nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storage.enums import AlertType, LocationSignal, ZoneKind, ZoneScope
from supervision.geo import EARTH_RADIUS_M, haversine_m

HIT, CLEAR, UNKNOWN = "hit", "clear", "unknown"
EVIDENCE_FIXES = 12  # at most this many fixes are copied into an alert's evidence


@dataclass(slots=True)
class Fix:
    """One position of the phone."""

    at: datetime
    lat: float
    lon: float
    accuracy_m: float
    mock: bool = False
    client_id: str = ""

    def evidence(self) -> dict[str, Any]:
        """The fix as alert evidence."""
        return {"id": self.client_id, "at": self.at.isoformat(), "lat": self.lat, "lon": self.lon,
                "accuracy_m": self.accuracy_m, "mock": self.mock}


_M_PER_RAD = math.pi / 180 * EARTH_RADIUS_M
_EXACT_BEYOND_M = 20_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Metres between two points: equirectangular (within 0.1% up to 20 km, ten times cheaper), haversine beyond."""
    dx = (lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    approx = math.sqrt(dx * dx + (lat2 - lat1) ** 2) * _M_PER_RAD
    return approx if approx <= _EXACT_BEYOND_M else haversine_m(lat1, lon1, lat2, lon2)


def _local_xy(lat: float, lon: float, origin_lat: float, origin_lon: float) -> tuple[float, float]:
    """Metres east and north of the origin (equirectangular: exact enough for zones up to tens of kilometres)."""
    k = math.pi / 180 * EARTH_RADIUS_M
    return (lon - origin_lon) * k * math.cos(math.radians(origin_lat)), (lat - origin_lat) * k


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


@dataclass(frozen=True)
class Shape:
    """A circle (lat, lon, radius_m) or a polygon of (lat, lon) vertices."""

    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    polygon: tuple[tuple[float, float], ...] | None = None

    @classmethod
    def circle(cls, lat: float, lon: float, radius_m: float) -> Shape:
        """A circle around a point."""
        return cls(lat=lat, lon=lon, radius_m=radius_m)

    @classmethod
    def of_polygon(cls, points: Iterable[Sequence[float]]) -> Shape:
        """A polygon from [lat, lon] pairs."""
        return cls(polygon=tuple((float(p[0]), float(p[1])) for p in points))

    def centre(self) -> tuple[float, float]:
        """The circle's centre or the mean of the polygon's vertices."""
        if self.polygon:
            return (sum(p[0] for p in self.polygon) / len(self.polygon),
                    sum(p[1] for p in self.polygon) / len(self.polygon))
        assert self.lat is not None and self.lon is not None
        return self.lat, self.lon

    def signed_distance_m(self, lat: float, lon: float) -> float:
        """Metres from the boundary: negative inside (how deep), positive outside (how far)."""
        if not self.polygon:
            assert self.lat is not None and self.lon is not None and self.radius_m is not None
            return distance_m(lat, lon, self.lat, self.lon) - self.radius_m
        points = [_local_xy(p_lat, p_lon, lat, lon) for p_lat, p_lon in self.polygon]
        inside = False
        nearest = math.inf
        for index, (ax, ay) in enumerate(points):
            bx, by = points[index - 1]
            # Ray casting from the point (the origin of the local plane) towards +x.
            if (ay > 0) != (by > 0) and 0 < ax + (0 - ay) * (bx - ax) / (by - ay):
                inside = not inside
            nearest = min(nearest, _segment_distance(0.0, 0.0, ax, ay, bx, by))
        return -nearest if inside else nearest


def point_in_polygon(lat: float, lon: float, polygon: Sequence[Sequence[float]]) -> bool:
    """Whether the point lies inside the polygon of [lat, lon] vertices."""
    return Shape.of_polygon(polygon).signed_distance_m(lat, lon) < 0


@dataclass(frozen=True)
class Hours:
    """Local hours of a day, possibly across midnight (22:00-06:00)."""

    start: time
    end: time

    @classmethod
    def parse(cls, start: str, end: str) -> Hours:
        """Hours from "HH:MM" strings."""
        return cls(time.fromisoformat(start), time.fromisoformat(end))

    def window_day(self, local: datetime) -> date | None:
        """The local date the window containing local began on, or None when local is outside the hours."""
        clock = local.time().replace(tzinfo=None)
        if self.start <= self.end:
            return local.date() if self.start <= clock < self.end else None
        if clock >= self.start:
            return local.date()
        if clock < self.end:
            return local.date() - timedelta(days=1)
        return None


@dataclass(frozen=True)
class Zone:
    """A zone as the detection sees it."""

    id: int | None
    kind: str
    shape: Shape | None  # None for a curfew: the home area
    scope: str = ZoneScope.HOME
    hours: Hours | None = None


@dataclass(frozen=True)
class LeaveWindow:
    """Approved leave: travel to the destination is allowed within a corridor, and the destination itself."""

    id: int
    start_at: datetime
    end_at: datetime
    destination: Shape | None  # None: the leave named no point, so anywhere is allowed during it


@dataclass(frozen=True)
class GeofenceRules:
    """Thresholds of the detection (from CHECKIN_LOCATION_* and CHECKIN_MAX_LOCATION_ACCURACY_M)."""

    max_accuracy_m: float = 500.0
    confirm_fixes: int = 3
    confirm_minutes: float = 10.0
    max_speed_kmh: float = 500.0
    jump_seconds: float = 5.0
    jump_min_m: float = 1000.0
    county_radius_m: float = 30_000.0
    corridor_m: float = 30_000.0
    checkin_fix_minutes: float = 10.0
    checkin_disagree_m: float = 1000.0
    run_break: timedelta = timedelta(hours=3)


@dataclass(frozen=True)
class PersonAreas:
    """Everything a person's fixes are judged against."""

    home: tuple[Shape, ...]  # home-scope inclusion shapes (the registered home area and officer-drawn ones)
    county: tuple[Shape, ...]  # county-scope inclusion shapes; empty: a circle of county_radius_m around home
    exclusions: tuple[Zone, ...] = ()
    curfews: tuple[Zone, ...] = ()
    leaves: tuple[LeaveWindow, ...] = ()
    home_centre: tuple[float, float] | None = None


@dataclass
class Detection:
    """One alert the fixes call for: its type, the stable part of its dedupe key, when, why, and the evidence."""

    alert_type: str
    key: str
    occurred_at: datetime
    signal: str
    explanation: str
    fixes: list[Fix] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        """The alert's evidence: the explanation and the fixes behind it."""
        return {"signal": self.signal, "explanation": self.explanation, **self.details,
                "fixes": [fix.evidence() for fix in _sample(self.fixes)]}


def _sample(fixes: list[Fix]) -> list[Fix]:
    if len(fixes) <= EVIDENCE_FIXES:
        return fixes
    step = (len(fixes) - 1) / (EVIDENCE_FIXES - 1)
    return [fixes[round(i * step)] for i in range(EVIDENCE_FIXES)]


def outside_all(fix: Fix, shapes: Sequence[Shape], rules: GeofenceRules) -> str:
    """HIT when the fix is farther outside every shape than its accuracy, CLEAR when it may be inside one."""
    if fix.accuracy_m > rules.max_accuracy_m:
        return UNKNOWN
    for shape in shapes:
        if shape.signed_distance_m(fix.lat, fix.lon) <= fix.accuracy_m:
            return CLEAR
    return HIT


def inside_shape(fix: Fix, shape: Shape, rules: GeofenceRules) -> str:
    """HIT when the fix is deeper inside the shape than its accuracy, CLEAR when it may be outside it."""
    if fix.accuracy_m > rules.max_accuracy_m:
        return UNKNOWN
    return HIT if shape.signed_distance_m(fix.lat, fix.lon) + fix.accuracy_m <= 0 else CLEAR


def confirmed(run: Sequence[Fix], rules: GeofenceRules) -> bool:
    """A run of hits is a breach once it has confirm_fixes fixes, or two spanning confirm_minutes."""
    if len(run) >= rules.confirm_fixes:
        return True
    return len(run) >= 2 and (run[-1].at - run[0].at) >= timedelta(minutes=rules.confirm_minutes)


def confirmed_runs(states: Iterable[tuple[Fix, str]], rules: GeofenceRules,
                   zone: ZoneInfo | None = None) -> list[list[Fix]]:
    """Runs of consecutive hits (unknown fixes neither count nor break a run) that are confirmed.

    With a time zone, a run also ends at local midnight and at a silence longer than rules.run_break, so each day
    outside is judged (and alerted) on its own, whatever window of fixes the caller loaded.
    """
    runs: list[list[Fix]] = []
    run: list[Fix] = []
    for fix, state in states:
        if run and zone is not None and (fix.at - run[-1].at > rules.run_break
                                         or fix.at.astimezone(zone).date() != run[-1].at.astimezone(zone).date()):
            if confirmed(run, rules):
                runs.append(run)
            run = []
        if state == HIT:
            run.append(fix)
        elif state == CLEAR:
            if confirmed(run, rules):
                runs.append(run)
            run = []
    if confirmed(run, rules):
        runs.append(run)
    return runs


def _near_segment(fix: Fix, a: tuple[float, float], b: tuple[float, float], width_m: float) -> bool:
    px, py = _local_xy(fix.lat, fix.lon, a[0], a[1])
    bx, by = _local_xy(b[0], b[1], a[0], a[1])
    return _segment_distance(px, py, 0.0, 0.0, bx, by) <= width_m + fix.accuracy_m


def leave_allows(fix: Fix, areas: PersonAreas, rules: GeofenceRules) -> LeaveWindow | None:
    """The approved leave that makes this fix's place allowed: the destination or the way there."""
    for leave in areas.leaves:
        if not leave.start_at <= fix.at <= leave.end_at:
            continue
        if leave.destination is None:
            return leave
        if leave.destination.signed_distance_m(fix.lat, fix.lon) <= fix.accuracy_m:
            return leave
        if areas.home_centre is not None and _near_segment(fix, areas.home_centre, leave.destination.centre(),
                                                           rules.corridor_m):
            return leave
    return None


def county_shapes(areas: PersonAreas, rules: GeofenceRules) -> tuple[Shape, ...]:
    """The county-scope inclusion shapes, or a circle of county_radius_m around home when none is drawn."""
    if areas.county:
        return areas.county
    if areas.home_centre is None:
        return ()
    return (Shape.circle(areas.home_centre[0], areas.home_centre[1], rules.county_radius_m),)


def _day(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).date().isoformat()


def _area_detections(fixes: Sequence[Fix], areas: PersonAreas, rules: GeofenceRules,
                     zone: ZoneInfo) -> list[Detection]:
    found: list[Detection] = []
    checks = [(AlertType.OUTSIDE_AREA, areas.home, "outside_home_area",
               "{n} fixes from {first} to {last} lie outside every allowed area, farther than their accuracy, "
               "without approved leave (越界)."),
              (AlertType.LEFT_COUNTY_WITHOUT_LEAVE, county_shapes(areas, rules), "outside_county",
               "{n} fixes from {first} to {last} lie outside the county of residence without approved leave "
               "(不假外出).")]
    for alert_type, shapes, signal, text in checks:
        if not shapes:
            continue
        states = []
        for fix in fixes:
            state = outside_all(fix, shapes, rules)
            if state == HIT and leave_allows(fix, areas, rules) is not None:
                state = CLEAR
            states.append((fix, state))
        seen_days: set[str] = set()
        for run in confirmed_runs(states, rules, zone):
            day = _day(run[0].at, zone)
            if day in seen_days:
                continue  # one alert per day: the key below says so too
            seen_days.add(day)
            farthest = max(min(s.signed_distance_m(f.lat, f.lon) for s in shapes) for f in run)
            found.append(Detection(
                alert_type, day, run[0].at, signal,
                text.format(n=len(run), first=run[0].at.isoformat(), last=run[-1].at.isoformat()), run,
                {"first_at": run[0].at.isoformat(), "last_at": run[-1].at.isoformat(), "fix_count": len(run),
                 "farthest_outside_m": round(farthest, 1)}))
    return found


def _zone_detections(fixes: Sequence[Fix], areas: PersonAreas, rules: GeofenceRules,
                     zone: ZoneInfo) -> list[Detection]:
    found: list[Detection] = []
    for banned in areas.exclusions:
        assert banned.shape is not None
        states = []
        for fix in fixes:
            in_hours = banned.hours is None or banned.hours.window_day(fix.at.astimezone(zone)) is not None
            states.append((fix, inside_shape(fix, banned.shape, rules) if in_hours else CLEAR))
        days: set[str] = set()
        for run in confirmed_runs(states, rules, zone):
            day = _day(run[0].at, zone)
            if day not in days:
                days.add(day)
                found.append(Detection(
                    AlertType.EXCLUSION_ZONE_ENTERED, f"{banned.id}:{day}", run[0].at, "inside_exclusion_zone",
                    f"{len(run)} fixes from {run[0].at.isoformat()} to {run[-1].at.isoformat()} lie inside a zone "
                    "the prohibition order (禁止令) bans.", run,
                    {"zone_id": banned.id, "first_at": run[0].at.isoformat(), "last_at": run[-1].at.isoformat()}))
    for curfew in areas.curfews:
        assert curfew.hours is not None
        shapes = (curfew.shape,) if curfew.shape is not None else areas.home
        if not shapes:
            continue
        nights: dict[date, list[tuple[Fix, str]]] = {}
        for fix in fixes:
            night = curfew.hours.window_day(fix.at.astimezone(zone))
            if night is not None:
                nights.setdefault(night, []).append((fix, outside_all(fix, shapes, rules)))
        for night, states in sorted(nights.items()):
            runs = confirmed_runs(states, rules)
            if runs:
                run = runs[0]
                found.append(Detection(
                    AlertType.CURFEW_BREACH, f"{curfew.id}:{night.isoformat()}", run[0].at, "outside_during_curfew",
                    f"{len(run)} fixes from {run[0].at.isoformat()} to {run[-1].at.isoformat()} lie outside the "
                    f"curfew area during the curfew hours of the night of {night.isoformat()}.", run,
                    {"zone_id": curfew.id, "night": night.isoformat(), "hours": {
                        "start": curfew.hours.start.strftime("%H:%M"), "end": curfew.hours.end.strftime("%H:%M")}}))
    return found


def spoof_detections(fixes: Sequence[Fix], rules: GeofenceRules, zone: ZoneInfo) -> list[Detection]:
    """Mock-location flags, impossible speed between consecutive fixes, and jumps with no travel time."""
    found: dict[str, Detection] = {}
    for fix in fixes:
        if fix.mock:
            key = f"{LocationSignal.MOCK_LOCATION.value}:{_day(fix.at, zone)}"
            if key not in found:
                found[key] = Detection(AlertType.LOCATION_SPOOF_SUSPECTED, key, fix.at, LocationSignal.MOCK_LOCATION,
                                       "The phone itself marked this fix as coming from a mock-location app.", [fix])
    for before, after in zip(fixes, fixes[1:], strict=False):
        seconds = (after.at - before.at).total_seconds()
        moved = distance_m(before.lat, before.lon, after.lat, after.lon) - before.accuracy_m - after.accuracy_m
        if moved <= rules.jump_min_m:
            continue
        if seconds <= rules.jump_seconds:
            signal, text = LocationSignal.JUMP_WITHOUT_TRAVEL_TIME, (
                f"The phone moved {moved / 1000:.1f} km in {seconds:.0f} s: no travel time at all.")
        elif moved / seconds * 3.6 > rules.max_speed_kmh:
            signal, text = LocationSignal.IMPOSSIBLE_SPEED, (
                f"The phone moved {moved / 1000:.1f} km in {seconds / 60:.1f} min "
                f"({moved / seconds * 3.6:.0f} km/h, above {rules.max_speed_kmh:.0f} km/h).")
        else:
            continue
        key = f"{signal.value}:{_day(after.at, zone)}"
        if key not in found:
            found[key] = Detection(AlertType.LOCATION_SPOOF_SUSPECTED, key, after.at, signal, text, [before, after],
                                   {"distance_m": round(moved, 1), "seconds": seconds})
    return list(found.values())


def evaluate_fixes(fixes: Sequence[Fix], areas: PersonAreas, rules: GeofenceRules, zone: ZoneInfo) -> list[Detection]:
    """Every detection the fixes (sorted by time) call for; the caller dedupes them by key."""
    ordered = sorted(fixes, key=lambda f: f.at)
    return [*_area_detections(ordered, areas, rules, zone), *_zone_detections(ordered, areas, rules, zone),
            *spoof_detections(ordered, rules, zone)]


@dataclass(frozen=True)
class CheckinPoint:
    """A check-in's place and time, as the separation signals compare it with the fixes."""

    id: int
    at: datetime
    lat: float
    lon: float
    accuracy_m: float


def checkin_disagreements(checkins: Sequence[CheckinPoint], fixes: Sequence[Fix],
                          rules: GeofenceRules) -> list[Detection]:
    """Check-ins whose place disagrees with every accurate fix around them (人机分离: a check-in made elsewhere)."""
    found = []
    window = timedelta(minutes=rules.checkin_fix_minutes)
    for checkin in checkins:
        around = [f for f in fixes if abs(f.at - checkin.at) <= window and f.accuracy_m <= rules.max_accuracy_m]
        if not around or checkin.accuracy_m > rules.max_accuracy_m:
            continue
        gaps = [haversine_m(checkin.lat, checkin.lon, f.lat, f.lon) - f.accuracy_m - checkin.accuracy_m
                for f in around]
        if min(gaps) > rules.checkin_disagree_m:
            found.append(Detection(
                AlertType.PERSON_PHONE_SEPARATION, f"checkin:{checkin.id}", checkin.at,
                LocationSignal.CHECKIN_LOCATION_DISAGREES,
                f"Check-in #{checkin.id} was made {min(gaps) / 1000:.1f} km away from where the phone's "
                f"{len(around)} fixes within {rules.checkin_fix_minutes:.0f} min put it.", list(around),
                {"checkin_id": checkin.id, "checkin": {"lat": checkin.lat, "lon": checkin.lon,
                                                       "accuracy_m": checkin.accuracy_m}}))
    return found


def is_stationary(fixes: Sequence[Fix], *, radius_m: float, min_span: timedelta) -> bool:
    """Whether the fixes span at least min_span and all lie within radius_m (plus accuracy) of their centre."""
    if len(fixes) < 2 or fixes[-1].at - fixes[0].at < min_span:
        return False
    lat = sum(f.lat for f in fixes) / len(fixes)
    lon = sum(f.lon for f in fixes) / len(fixes)
    return all(haversine_m(lat, lon, f.lat, f.lon) <= radius_m + f.accuracy_m for f in fixes)


def window_pattern(checkins: Sequence[tuple[CheckinPoint, datetime]], fixes: Sequence[Fix], *, within: timedelta,
                   away_m: float, after: timedelta, min_days: int) -> list[tuple[CheckinPoint, Fix]]:
    """The midnight pattern: check-ins made within `within` of their window opening, each followed (within
    `after`) by a fix farther than away_m from it; returned when at least min_days such days exist, else []."""
    hits = []
    for checkin, window_start in checkins:
        if not timedelta(0) <= checkin.at - window_start <= within:
            continue
        later = [f for f in fixes if checkin.at < f.at <= checkin.at + after]
        far = [f for f in later if haversine_m(checkin.lat, checkin.lon, f.lat, f.lon) - f.accuracy_m > away_m]
        if far:
            hits.append((checkin, far[0]))
    return hits if len(hits) >= min_days else []


def douglas_peucker(points: Sequence[Fix], tolerance_m: float) -> list[Fix]:
    """The trail simplified for display: fixes whose removal moves the line by less than tolerance_m go."""
    if len(points) < 3:
        return list(points)
    origin = points[0]
    xy = [_local_xy(p.lat, p.lon, origin.lat, origin.lon) for p in points]
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        best, index = 0.0, -1
        ax, ay = xy[first]
        bx, by = xy[last]
        for i in range(first + 1, last):
            distance = _segment_distance(xy[i][0], xy[i][1], ax, ay, bx, by)
            if distance > best:
                best, index = distance, i
        if index >= 0 and best > tolerance_m:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, kept in zip(points, keep, strict=True) if kept]


ZONE_KINDS = tuple(kind.value for kind in ZoneKind)
