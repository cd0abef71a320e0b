"""The pure rules of supervision.geofence, table-tested with real coordinates (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from supervision.geofence import (
    CLEAR,
    HIT,
    UNKNOWN,
    Fix,
    GeofenceRules,
    Hours,
    LeaveWindow,
    PersonAreas,
    Shape,
    confirmed_runs,
    douglas_peucker,
    evaluate_fixes,
    inside_shape,
    is_stationary,
    leave_allows,
    outside_all,
    point_in_polygon,
)
from tests.location.conftest import HANGZHOU_WEST_LAKE, JIAXING, JINGAN_TEMPLE, LUJIAZUI, NANJING_WEST_ROAD, XUJIAHUI

ZONE = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
RULES = GeofenceRules()
# 黄浦区 (Huangpu district), simplified to six vertices along its boundary.
HUANGPU = [(31.2440, 121.4590), (31.2480, 121.4930), (31.2270, 121.5010), (31.1960, 121.4990),
           (31.1960, 121.4720), (31.2240, 121.4550)]
HOME = Shape.circle(*JINGAN_TEMPLE, 2000)


def _fix(place, minutes=0.0, accuracy=10.0, mock=False, client_id="") -> Fix:
    return Fix(T0 + timedelta(minutes=minutes), place[0], place[1], accuracy, mock, client_id)


@pytest.mark.parametrize(("place", "inside"), [
    ((31.2304, 121.4737), True),  # 人民广场 People's Square
    ((31.2160, 121.4870), True),  # 老西门 / 豫园 area
    (JINGAN_TEMPLE, False),  # 静安区
    (LUJIAZUI, False),  # across the river, 浦东新区
    (XUJIAHUI, False),  # 徐汇区
])
def test_point_in_a_district_polygon(place, inside):
    assert point_in_polygon(place[0], place[1], HUANGPU) is inside


def test_signed_distance_of_a_polygon_is_metres_to_its_edge():
    huangpu = Shape.of_polygon(HUANGPU)
    inside = huangpu.signed_distance_m(31.2304, 121.4737)
    outside = huangpu.signed_distance_m(*LUJIAZUI)
    assert -3000 < inside < -500
    assert 300 < outside < 2000


@pytest.mark.parametrize(("place", "accuracy", "state"), [
    (NANJING_WEST_ROAD, 10, CLEAR),  # 1.3 km from home: inside
    (XUJIAHUI, 10, HIT),  # 3.4 km: 1.4 km beyond the edge
    (XUJIAHUI, 1500, UNKNOWN),  # a cell fix coarser than the 500 m limit decides nothing
    (XUJIAHUI, 450, HIT),  # still farther out than its accuracy
    ((31.2237, 121.4700), 400, CLEAR),  # 2.35 km: 350 m beyond the edge but within its 400 m accuracy
])
def test_outside_takes_accuracy_into_account(place, accuracy, state):
    assert outside_all(_fix(place, accuracy=accuracy), [HOME], RULES) == state


@pytest.mark.parametrize(("distance_m", "accuracy", "state"), [(0, 20, HIT), (250, 20, HIT), (290, 20, CLEAR),
                                                               (0, 400, CLEAR), (0, 900, UNKNOWN)])
def test_inside_a_banned_zone_needs_to_be_deeper_than_the_accuracy(distance_m, accuracy, state):
    zone = Shape.circle(31.2196, 121.4750, 300)
    place = (31.2196 + distance_m / 111_195, 121.4750)
    assert inside_shape(_fix(place, accuracy=accuracy), zone, RULES) == state


def test_runs_need_three_fixes_or_ten_minutes():
    def states(pattern: str, step: float = 5):
        return [(_fix(XUJIAHUI, i * step), {"x": HIT, ".": CLEAR, "?": UNKNOWN}[c]) for i, c in enumerate(pattern)]

    assert confirmed_runs(states("..x.."), RULES) == []
    assert confirmed_runs(states("..x?x.."), RULES) != []  # two hits 10 minutes apart, an unknown between
    assert confirmed_runs(states("xx", step=1), RULES) == []  # two hits a minute apart: not yet
    assert [len(r) for r in confirmed_runs(states("xxx.xxxx"), RULES)] == [3, 4]


@pytest.mark.parametrize(("start", "end", "local", "day"), [
    ("22:00", "06:00", "2026-11-30T23:30", "2026-11-30"),
    ("22:00", "06:00", "2026-12-01T05:59", "2026-11-30"),
    ("22:00", "06:00", "2026-12-01T06:00", None),
    ("22:00", "06:00", "2026-11-30T21:59", None),
    ("09:00", "17:00", "2026-11-30T12:00", "2026-11-30"),
])
def test_hours_across_midnight_belong_to_the_night_they_began(start, end, local, day):
    result = Hours.parse(start, end).window_day(datetime.fromisoformat(local).replace(tzinfo=ZONE))
    assert (result.isoformat() if result else None) == day
    assert Hours.parse(start, end).start == time.fromisoformat(start)


def test_leave_allows_the_destination_and_the_way_there_only():
    leave = LeaveWindow(1, T0, T0 + timedelta(days=2), Shape.circle(*HANGZHOU_WEST_LAKE, 10_000))
    areas = PersonAreas(home=(HOME,), county=(), leaves=(leave,), home_centre=JINGAN_TEMPLE)
    assert leave_allows(_fix(HANGZHOU_WEST_LAKE), areas, RULES) is leave
    assert leave_allows(_fix(JIAXING), areas, RULES) is leave  # 嘉兴 lies on the way
    assert leave_allows(_fix((32.06, 118.79)), areas, RULES) is None  # 南京 does not
    assert leave_allows(_fix(HANGZHOU_WEST_LAKE, minutes=60 * 24 * 3), areas, RULES) is None  # after the leave


def test_speed_jump_and_mock_signals():
    teleport = [_fix(JINGAN_TEMPLE, 0, client_id="a"), _fix((32.0, 118.3), 5, client_id="b")]
    jump = [_fix(JINGAN_TEMPLE, 0), _fix(LUJIAZUI, 0.05)]
    drive = [_fix(JINGAN_TEMPLE, 0), _fix(JIAXING, 90)]  # 85 km in 90 minutes by car
    areas = PersonAreas(home=(HOME,), county=(Shape.circle(*JINGAN_TEMPLE, 500_000),), home_centre=JINGAN_TEMPLE)

    def signals(fixes):
        return sorted(d.signal for d in evaluate_fixes(fixes, areas, RULES, ZONE) if d.alert_type ==
                      "location_spoof_suspected")

    assert signals(teleport) == ["impossible_speed"]
    assert signals(jump) == ["jump_without_travel_time"]
    assert signals(drive) == []
    assert signals([_fix(JINGAN_TEMPLE, 0, mock=True), _fix(JINGAN_TEMPLE, 5, mock=True)]) == ["mock_location"]


def test_douglas_peucker_keeps_the_corners():
    corner = (31.2400, 121.4453)
    line = [_fix((JINGAN_TEMPLE[0] + (corner[0] - JINGAN_TEMPLE[0]) * i / 10, JINGAN_TEMPLE[1]), i)
            for i in range(11)]
    line += [_fix((corner[0], corner[1] + 0.002 * i), 11 + i) for i in range(1, 6)]

    kept = douglas_peucker(line, 25)

    assert [(round(f.lat, 4), round(f.lon, 4)) for f in kept] == [JINGAN_TEMPLE, corner, (31.24, 121.4553)]


def test_stationary_means_still_for_long_enough():
    still = [_fix(JINGAN_TEMPLE, m) for m in range(0, 200, 15)]
    assert is_stationary(still, radius_m=100, min_span=timedelta(hours=3))
    assert not is_stationary(still[:6], radius_m=100, min_span=timedelta(hours=3))
    assert not is_stationary([*still, _fix(NANJING_WEST_ROAD, 210)], radius_m=100, min_span=timedelta(hours=3))
