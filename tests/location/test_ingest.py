"""Uploading fixes: batches accepted or refused whole, duplicates ignored, offline buffers, tracking switch, /me."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from storage.models import AuditEvent, LocationFix
from tests.location.conftest import JINGAN_TEMPLE, NANJING_WEST_ROAD, START, fix, series
from tests.location.helpers import upload


def _rows(session, person_id: int) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(LocationFix).where(LocationFix.person_id == person_id))


def test_a_day_buffered_offline_sent_twice_in_ten_batches_is_500_rows(client, clock, db_session, tracked, phone):
    step = timedelta(hours=24) / 500
    places = [JINGAN_TEMPLE, NANJING_WEST_ROAD] * 250
    fixes = series("day", START, places, step)
    clock.advance(timedelta(hours=24, minutes=10))  # the phone comes back online the next morning

    answers = [upload(client, phone, fixes[i:i + 50]) for _round in range(2) for i in range(0, 500, 50)]

    assert [a["accepted"] for a in answers] == [50] * 10 + [0] * 10
    assert [a["duplicates"] for a in answers] == [0] * 10 + [50] * 10
    assert _rows(db_session, tracked.id) == 500
    stored = db_session.scalars(select(LocationFix.fixed_at).where(LocationFix.person_id == tracked.id)
                                .order_by(LocationFix.fixed_at)).all()
    assert stored[0] == START and stored[-1] == START + 499 * step  # the phone's times, not the upload's
    assert db_session.scalar(select(func.max(LocationFix.received_at))) == clock.now()


def test_the_same_fix_twice_in_one_batch_counts_once(client, clock, db_session, tracked, phone):
    clock.advance(timedelta(minutes=10))
    one = fix("x", START + timedelta(minutes=1), JINGAN_TEMPLE)

    assert upload(client, phone, [one, one]) == {"accepted": 1, "duplicates": 1}
    assert _rows(db_session, tracked.id) == 1


def test_a_fix_in_the_future_refuses_the_whole_batch(client, clock, db_session, tracked, phone):
    clock.advance(timedelta(hours=1))
    fixes = series("f", START, [JINGAN_TEMPLE] * 5, timedelta(minutes=5))
    fixes[3]["at"] = (clock.now() + timedelta(minutes=30)).isoformat()

    body = upload(client, phone, fixes, status=422)

    assert body["code"] == "validation_failed"
    assert list(body["errors"]["fixes"]) == ["3"] and "future" in body["errors"]["fixes"]["3"]["at"][0]
    assert _rows(db_session, tracked.id) == 0


def test_a_malformed_fix_is_named_by_its_index(client, clock, db_session, tracked, phone):
    clock.advance(timedelta(hours=1))
    fixes = series("f", START, [JINGAN_TEMPLE] * 3, timedelta(minutes=5))
    fixes[1]["lat"] = 123.0
    fixes[2]["colour"] = "red"

    body = upload(client, phone, fixes, status=422)

    assert set(body["errors"]["fixes"]) == {"1", "2"}
    assert "lat" in body["errors"]["fixes"]["1"] and "colour" in body["errors"]["fixes"]["2"]
    assert _rows(db_session, tracked.id) == 0


def test_fixes_from_before_tracking_or_too_old_are_refused(client, clock, db_session, tracked, phone):
    clock.advance(timedelta(hours=1))
    body = upload(client, phone, [fix("old", START - timedelta(hours=3), JINGAN_TEMPLE)], status=422)

    assert "0" in body["errors"]["fixes"]


def test_uploads_are_refused_while_tracking_is_off(client, clock, db_session, person, phone):
    body = upload(client, phone, [fix("a", START, JINGAN_TEMPLE)], status=409)

    assert body["code"] == "tracking_off"
    assert _rows(db_session, person.id) == 0


def test_more_than_500_fixes_is_refused(client, clock, tracked, phone):
    clock.advance(timedelta(hours=1))
    fixes = series("f", START, [JINGAN_TEMPLE] * 501, timedelta(seconds=5))

    assert upload(client, phone, fixes, status=422)["code"] == "validation_failed"


def test_officer_tracking_switch_is_audited_and_shown_to_the_phone(client, db_session, officer_headers, person, auth):
    phone = auth.person(person.code)
    before = client.get("/api/v1/me", headers=phone).get_json()["location_tracking"]
    assert before == {"on": False, "interval_minutes": None, "until": None, "zones": []}

    response = client.post(f"/api/v1/officer/persons/{person.id}/tracking", headers=officer_headers,
                           json={"reason": "警告后加强监管", "until": "2026-12-20", "interval_minutes": 10})
    assert response.status_code == 200
    assert response.get_json()["on"] is True and response.get_json()["reason"] == "警告后加强监管"
    client.post(f"/api/v1/officer/persons/{person.id}/zones", headers=officer_headers,
                json={"kind": "exclusion", "circle": {"lat": 31.2196, "lon": 121.4750, "radius_m": 300}})

    mine = client.get("/api/v1/me", headers=phone).get_json()["location_tracking"]
    assert mine["on"] is True and mine["interval_minutes"] == 10 and mine["until"] == "2026-12-20"
    assert [z["kind"] for z in mine["zones"]] == ["exclusion"]
    stopped = client.delete(f"/api/v1/officer/persons/{person.id}/tracking", headers=officer_headers)
    assert stopped.status_code == 200 and stopped.get_json()["on"] is False
    assert client.delete(f"/api/v1/officer/persons/{person.id}/tracking",
                         headers=officer_headers).get_json()["code"] == "tracking_off"
    actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.person_id == person.id)
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["tracking.started", "zone.created", "tracking.stopped"]
    assert client.get("/api/v1/me", headers=phone).get_json()["location_tracking"]["on"] is False


def test_tracking_needs_a_reason_and_an_end_within_limits(client, officer_headers, person):
    url = f"/api/v1/officer/persons/{person.id}/tracking"
    assert client.post(url, headers=officer_headers, json={"until": "2026-12-20"}).status_code == 422
    past = client.post(url, headers=officer_headers, json={"reason": "x", "until": "2026-11-01"})
    assert past.status_code == 422 and "until" in past.get_json()["errors"]
    far = client.post(url, headers=officer_headers, json={"reason": "x", "until": (date(2026, 11, 30)
                                                                                  + timedelta(days=200)).isoformat()})
    assert far.status_code == 422


def test_zone_schemas_refuse_bad_shapes(client, officer_headers, person):
    url = f"/api/v1/officer/persons/{person.id}/zones"
    cases = [
        {"kind": "inclusion"},  # no shape
        {"kind": "inclusion", "polygon": [[31.2, 121.4], [31.3, 121.5]]},  # two points
        {"kind": "inclusion", "polygon": [[31.2, 121.4], [31.3, 121.5], [95, 121.5]]},  # latitude out of range
        {"kind": "curfew"},  # no hours
        {"kind": "curfew", "hours": {"start": "25:00", "end": "06:00"}},
        {"kind": "exclusion", "circle": {"lat": 31.2, "lon": 121.4, "radius_m": 100}, "scope": "county"},
        {"kind": "exclusion", "circle": {"lat": 31.2, "lon": 121.4, "radius_m": 100}, "colour": "red"},
    ]
    assert [client.post(url, headers=officer_headers, json=body).status_code for body in cases] == [422] * len(cases)
    ok = client.post(url, headers=officer_headers, json={"kind": "inclusion", "scope": "county", "polygon": [
        [31.40, 121.20], [31.40, 121.75], [30.95, 121.75], [30.95, 121.20]], "note": "区界 (simplified)"})
    assert ok.status_code == 201 and ok.get_json()["scope"] == "county"
    zone_id = ok.get_json()["id"]
    assert [z["id"] for z in client.get(url, headers=officer_headers).get_json()] == [zone_id]
    assert client.delete(f"{url}/{zone_id}", headers=officer_headers).status_code == 204
    assert client.get(url, headers=officer_headers).get_json() == []
    assert client.delete(f"{url}/{zone_id}", headers=officer_headers).status_code == 404
