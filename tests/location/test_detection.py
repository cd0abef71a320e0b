"""What the fixes must and must not raise, with real places in and around Shanghai (and a trip to Hangzhou)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.models import LeaveRequest
from supervision.geo import haversine_m
from tests.location.conftest import (
    HANGZHOU_WEST_LAKE,
    JIAXING,
    JINGAN_TEMPLE,
    LUJIAZUI,
    NANJING_WEST_ROAD,
    NEAR_NANJING,
    SONGJIANG,
    START,
    XUJIAHUI,
    fix,
    route,
    series,
)
from tests.location.helpers import location_alerts, sweep, types_of, upload, upload_all

FIVE_MIN = timedelta(minutes=5)


def test_a_day_at_home_raises_nothing(app, client, clock, db_session, tracked, phone):
    places = [JINGAN_TEMPLE, NANJING_WEST_ROAD, JINGAN_TEMPLE] * 40  # ten hours, inside the 2 km home area
    clock.advance(timedelta(hours=10, minutes=5))
    upload_all(client, phone, series("home", START, places, FIVE_MIN))

    for minutes in (0, 5, 60):
        sweep(app, clock.now() + timedelta(minutes=minutes))

    assert location_alerts(db_session, tracked.id) == []


def test_an_hour_in_pudong_without_leave_is_one_outside_area_alert(app, client, clock, db_session, tracked, phone):
    clock.advance(timedelta(hours=2))
    morning = series("home", START, [JINGAN_TEMPLE] * 12, FIVE_MIN)  # 08:00-08:55 at home
    pudong = series("pudong", START + timedelta(hours=1), [LUJIAZUI] * 12, FIVE_MIN)  # 09:00-09:55 in 陆家嘴
    assert haversine_m(*JINGAN_TEMPLE, *LUJIAZUI) > 5000
    upload(client, phone, morning + pudong)

    for minutes in (0, 5, 10, 60):
        sweep(app, clock.now() + timedelta(minutes=minutes))

    alerts = location_alerts(db_session, tracked.id)
    assert types_of(alerts) == ["outside_area"]
    evidence = alerts[0].evidence
    assert evidence["signal"] == "outside_home_area" and "越界" in evidence["explanation"]
    assert evidence["fix_count"] == 12 and evidence["farthest_outside_m"] > 3000
    assert {f["id"] for f in evidence["fixes"]} <= {f["id"] for f in pudong}
    assert alerts[0].occurred_at == START + timedelta(hours=1)


def test_the_same_trip_uploaded_in_pieces_and_resent_is_still_one_alert(app, client, clock, db_session, tracked, phone):
    clock.advance(timedelta(hours=2))
    pudong = series("pudong", START + timedelta(hours=1), [LUJIAZUI] * 12, FIVE_MIN)
    for piece in (pudong[:2], pudong[2:5], pudong[5:], pudong):
        upload(client, phone, piece)
        sweep(app, clock.now())

    assert types_of(location_alerts(db_session, tracked.id)) == ["outside_area"]


def test_one_coarse_fix_at_the_edge_raises_nothing(app, client, clock, db_session, tracked, phone):
    # 徐家汇 is 3.4 km from home, 1.4 km beyond the edge: a cell fix with 1,500 m accuracy cannot say which side.
    clock.advance(timedelta(hours=1))
    fixes = series("home", START, [JINGAN_TEMPLE] * 4, FIVE_MIN)
    fixes.append(fix("coarse", START + timedelta(minutes=20), XUJIAHUI, accuracy_m=1500))
    fixes += series("back", START + timedelta(minutes=25), [JINGAN_TEMPLE] * 4, FIVE_MIN)
    upload(client, phone, fixes)
    sweep(app, clock.now())

    assert location_alerts(db_session, tracked.id) == []


def test_one_accurate_stray_fix_raises_nothing_but_three_do(app, client, clock, db_session, tracked, phone):
    clock.advance(timedelta(hours=2))
    upload(client, phone, [*series("a", START, [JINGAN_TEMPLE] * 3, FIVE_MIN),
                           fix("stray", START + timedelta(minutes=15), XUJIAHUI),
                           *series("b", START + timedelta(minutes=20), [JINGAN_TEMPLE] * 3, FIVE_MIN)])
    sweep(app, clock.now())
    assert location_alerts(db_session, tracked.id) == []

    upload(client, phone, series("c", START + timedelta(minutes=40), [XUJIAHUI] * 3, FIVE_MIN))
    assert types_of(location_alerts(db_session, tracked.id)) == ["outside_area"]


def _trip_to_hangzhou(start: datetime) -> list[dict]:
    way = route(JINGAN_TEMPLE, SONGJIANG, 4)[:-1] + route(SONGJIANG, JIAXING, 4)[:-1] + route(JIAXING,
                                                                                          HANGZHOU_WEST_LAKE, 5)
    return (series("way", start, way, timedelta(minutes=15))
            + series("lake", start + timedelta(hours=3, minutes=15), [HANGZHOU_WEST_LAKE] * 12, FIVE_MIN))


def _approved_leave(session, person, start: datetime, end: datetime) -> LeaveRequest:
    leave = LeaveRequest(person_id=person.id, office_id=person.office_id, start_at=start, end_at=end,
                         destination="杭州市西湖区", dest_lat=HANGZHOU_WEST_LAKE[0], dest_lon=HANGZHOU_WEST_LAKE[1],
                         dest_radius_m=10_000, reason="family visit", status="approved", approval_level="office",
                         created_at=start - timedelta(days=4))
    session.add(leave)
    session.commit()
    return leave


def test_a_trip_to_hangzhou_with_approved_leave_raises_nothing(app, client, clock, db_session, tracked, phone):
    _approved_leave(db_session, tracked, START, START + timedelta(days=2))
    clock.advance(timedelta(hours=5))
    upload(client, phone, _trip_to_hangzhou(START + timedelta(minutes=30)))
    sweep(app, clock.now())
    sweep(app, clock.now() + timedelta(minutes=5))

    assert location_alerts(db_session, tracked.id) == []


def test_the_same_trip_without_leave_is_left_county_without_leave(app, client, clock, db_session, tracked, phone):
    clock.advance(timedelta(hours=5))
    upload(client, phone, _trip_to_hangzhou(START + timedelta(minutes=30)))
    sweep(app, clock.now())
    sweep(app, clock.now() + timedelta(minutes=5))

    alerts = location_alerts(db_session, tracked.id)
    assert types_of(alerts) == ["left_county_without_leave", "outside_area"]
    left = next(a for a in alerts if a.type == "left_county_without_leave")
    assert "不假外出" in left.evidence["explanation"]
    assert left.evidence["farthest_outside_m"] > 100_000  # West Lake is ~135 km beyond a 30 km county circle


def test_leave_to_hangzhou_does_not_cover_a_detour_to_nanjing(app, client, clock, db_session, tracked, phone):
    _approved_leave(db_session, tracked, START, START + timedelta(days=2))
    clock.advance(timedelta(hours=8))
    upload(client, phone, series("nj", START + timedelta(hours=4), [NEAR_NANJING] * 6, timedelta(minutes=10)))

    assert "left_county_without_leave" in types_of(location_alerts(db_session, tracked.id))


def test_a_300_km_teleport_in_five_minutes_is_spoofing(app, client, clock, db_session, tracked, phone):
    assert 290_000 < haversine_m(*JINGAN_TEMPLE, *NEAR_NANJING) < 330_000
    clock.advance(timedelta(hours=1))
    upload(client, phone, [fix("a", START, JINGAN_TEMPLE), fix("b", START + FIVE_MIN, NEAR_NANJING)])

    alerts = [a for a in location_alerts(db_session, tracked.id) if a.type == "location_spoof_suspected"]
    assert len(alerts) == 1
    assert alerts[0].evidence["signal"] == "impossible_speed"
    assert [f["id"] for f in alerts[0].evidence["fixes"]] == ["a", "b"]
    assert alerts[0].evidence["distance_m"] > 290_000


def test_the_phones_mock_location_flag_is_spoofing(app, client, clock, db_session, tracked, phone):
    clock.advance(timedelta(hours=1))
    upload(client, phone, [fix("m1", START, JINGAN_TEMPLE, mock=True), fix("m2", START + FIVE_MIN, JINGAN_TEMPLE,
                                                                              mock=True)])

    alerts = location_alerts(db_session, tracked.id)
    assert [(a.type, a.evidence["signal"]) for a in alerts] == [("location_spoof_suspected", "mock_location")]


def test_a_curfew_breach_at_half_past_eleven_is_caught(app, client, clock, db_session, tracked, phone, officer_headers):
    response = client.post(f"/api/v1/officer/persons/{tracked.id}/zones", headers=officer_headers,
                           json={"kind": "curfew", "hours": {"start": "22:00", "end": "06:00"}, "note": "宵禁"})
    assert response.status_code == 201, response.get_json()
    zone_id = response.get_json()["id"]
    evening = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)  # 21:00 Shanghai
    clock.at = evening + timedelta(hours=4)
    at_home = series("home", evening, [JINGAN_TEMPLE] * 12, FIVE_MIN)  # 21:00-21:55
    # 陆家嘴 is inside the county and was fine until 22:00; at 23:30 the curfew has begun.
    out = series("night", datetime(2026, 11, 30, 15, 30, tzinfo=UTC), [LUJIAZUI] * 4, FIVE_MIN)
    upload(client, phone, at_home + out)
    sweep(app, clock.now())

    curfew = [a for a in location_alerts(db_session, tracked.id) if a.type == "curfew_breach"]
    assert len(curfew) == 1
    assert curfew[0].evidence["night"] == "2026-11-30" and curfew[0].evidence["zone_id"] == zone_id
    assert curfew[0].occurred_at == datetime(2026, 11, 30, 15, 30, tzinfo=UTC)


def test_evening_outside_before_the_curfew_is_no_breach(app, client, clock, db_session, tracked, phone,
                                                       officer_headers):
    client.post(f"/api/v1/officer/persons/{tracked.id}/zones", headers=officer_headers,
                json={"kind": "curfew", "hours": {"start": "22:00", "end": "06:00"}})
    evening = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # 20:00-20:55 in 陆家嘴, home by 22:00
    clock.at = evening + timedelta(hours=4)
    upload(client, phone, series("eve", evening, [LUJIAZUI] * 12, FIVE_MIN)
           + series("home", evening + timedelta(hours=1, minutes=30), [JINGAN_TEMPLE] * 12, FIVE_MIN))
    sweep(app, clock.now())

    assert "curfew_breach" not in types_of(location_alerts(db_session, tracked.id))


def test_an_exclusion_zone_is_caught_only_in_its_hours(app, client, clock, db_session, tracked, phone,
                                                      officer_headers):
    # A bar street in 新天地 banned by the prohibition order from 20:00 to 02:00.
    xintiandi = (31.2196, 121.4750)
    response = client.post(f"/api/v1/officer/persons/{tracked.id}/zones", headers=officer_headers,
                           json={"kind": "exclusion", "circle": {"lat": xintiandi[0], "lon": xintiandi[1],
                                                                 "radius_m": 300},
                                 "hours": {"start": "20:00", "end": "02:00"}, "note": "禁止令: 酒吧街"})
    assert response.status_code == 201
    clock.at = START + timedelta(hours=16)
    afternoon = series("pm", START + timedelta(hours=6), [xintiandi] * 6, FIVE_MIN)  # 14:00 Shanghai
    night = series("night", START + timedelta(hours=13), [xintiandi] * 6, FIVE_MIN)  # 21:00 Shanghai
    upload(client, phone, afternoon)
    assert "exclusion_zone_entered" not in types_of(location_alerts(db_session, tracked.id))

    upload(client, phone, night)
    banned = [a for a in location_alerts(db_session, tracked.id) if a.type == "exclusion_zone_entered"]
    assert len(banned) == 1 and banned[0].occurred_at == START + timedelta(hours=13)


def test_six_hours_without_a_fix_is_a_location_gap(app, client, clock, db_session, tracked, phone):
    clock.advance(timedelta(minutes=30))
    upload(client, phone, series("am", START, [JINGAN_TEMPLE] * 6, FIVE_MIN))
    last = START + 5 * FIVE_MIN
    assert sweep(app, last + timedelta(hours=1))["location_gap"] == 0

    assert sweep(app, last + timedelta(hours=6))["location_gap"] == 1
    assert sweep(app, last + timedelta(hours=6, minutes=5))["location_gap"] == 0

    gaps = [a for a in location_alerts(db_session, tracked.id) if a.type == "location_gap"]
    assert len(gaps) == 1 and gaps[0].evidence["last_fix_at"] == last.isoformat()


def test_no_gap_alert_once_tracking_is_off(app, client, clock, db_session, tracked, phone, officer_headers):
    assert client.delete(f"/api/v1/officer/persons/{tracked.id}/tracking",
                         headers=officer_headers).status_code == 200

    sweep(app, START + timedelta(hours=8))

    assert location_alerts(db_session, tracked.id) == []


def test_outside_days_apart_are_separate_alerts(app, client, clock, db_session, tracked, phone):
    clock.at = START + timedelta(days=1, hours=3)
    upload(client, phone, series("d1", START + timedelta(hours=1), [LUJIAZUI] * 4, FIVE_MIN)
           + series("d2", START + timedelta(days=1, hours=1), [LUJIAZUI] * 4, FIVE_MIN))
    sweep(app, clock.now())

    assert types_of(location_alerts(db_session, tracked.id)) == ["outside_area", "outside_area"]


def test_late_upload_keeps_the_fix_time(app, client, clock, db_session, tracked, phone):
    clock.at = START + timedelta(days=2)
    upload(client, phone, series("late", START + timedelta(hours=1), [LUJIAZUI] * 4, FIVE_MIN))

    alerts = location_alerts(db_session, tracked.id)
    assert [(a.type, a.occurred_at) for a in alerts] == [("outside_area", START + timedelta(hours=1))]
    assert alerts[0].created_at == START + timedelta(days=2)


def test_times_are_utc_aware():
    assert START.tzinfo is UTC
