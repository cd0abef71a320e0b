"""Officer trail views: simplified and raw, zones and alerts, scope (404 outside it) and the audit of every view."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import select

from storage.models import AuditEvent
from tests.factories import make_office, make_officer
from tests.location.conftest import JINGAN_TEMPLE, LUJIAZUI, START, route, series
from tests.location.helpers import upload

FIVE_MIN = timedelta(minutes=5)


def _trail_url(person_id: int, **extra) -> str:
    query = {"from": START.isoformat(), "to": (START + timedelta(days=1)).isoformat(), **extra}
    return f"/api/v1/officer/persons/{person_id}/trail?{urlencode(query)}"


def _walk_to_pudong(client, clock, phone) -> list[dict]:
    fixes = series("walk", START, route(JINGAN_TEMPLE, LUJIAZUI, 24), FIVE_MIN)
    clock.advance(timedelta(hours=3))
    upload(client, phone, fixes)
    return fixes


def test_the_trail_is_simplified_with_zones_alerts_and_raw_fixes_on_request(client, clock, tracked, phone,
                                                                          officer_headers):
    fixes = _walk_to_pudong(client, clock, phone)

    body = client.get(_trail_url(tracked.id), headers=officer_headers).get_json()

    assert body["fix_count"] == 24 and body["fixes"] == []
    # A straight walk simplifies to its two ends.
    assert [(p[0], p[1]) for p in body["simplified"]] == [JINGAN_TEMPLE, LUJIAZUI]
    assert body["zones"][0]["scope"] == "home" and body["zones"][0]["circle"]["radius_m"] == 2000
    assert [a["type"] for a in body["alerts"]] == ["outside_area"]
    raw = client.get(_trail_url(tracked.id, raw="true"), headers=officer_headers).get_json()
    assert [f["id"] for f in raw["fixes"]] == [f["id"] for f in fixes]


def test_every_trail_view_is_audit_logged(client, clock, db_session, tracked, phone, officer_headers, officer):
    _walk_to_pudong(client, clock, phone)
    for raw in ("false", "true"):
        assert client.get(_trail_url(tracked.id, raw=raw), headers=officer_headers).status_code == 200

    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "trail.viewed")
                                .order_by(AuditEvent.id)).all()
    assert [(e.actor_id, e.person_id, e.details["raw"], e.details["fixes"]) for e in events] == [
        (officer.id, tracked.id, False, 24), (officer.id, tracked.id, True, 24)]


def test_nobody_outside_the_office_reads_the_trail(client, clock, db_session, tracked, phone, auth, office,
                                                   other_officer):
    _walk_to_pudong(client, clock, phone)
    elsewhere = make_office(db_session, "X9", county="C9")
    make_officer(db_session, elsewhere, "admin9", admin=True)

    for username in ("officer2", "admin9"):
        response = client.get(_trail_url(tracked.id), headers=auth.headers(username))
        assert response.status_code == 404 and response.get_json()["code"] == "not_found"
        missing = client.get(_trail_url(999_999), headers=auth.headers(username))
        assert missing.status_code == 404  # the same answer for a person who does not exist
    # A person is refused the officer endpoint for every id alike, their own included: nothing to learn.
    assert client.get(_trail_url(tracked.id), headers=phone).status_code == 403
    assert client.get(_trail_url(999_999), headers=phone).status_code == 403
    assert db_session.scalars(select(AuditEvent).where(AuditEvent.action == "trail.viewed")).all() == []


def test_the_county_admin_reads_the_trail(client, clock, tracked, phone, auth, office, db_session):
    _walk_to_pudong(client, clock, phone)
    make_officer(db_session, office, "admin1", admin=True)

    assert client.get(_trail_url(tracked.id), headers=auth.headers("admin1")).get_json()["fix_count"] == 24


def test_the_trail_period_is_checked(client, tracked, officer_headers):
    backwards = {"from": START.isoformat(), "to": (START - timedelta(hours=1)).isoformat()}
    too_long = {"from": START.isoformat(), "to": (START + timedelta(days=40)).isoformat()}
    for query in (backwards, too_long, {"from": START.isoformat()}):
        url = f"/api/v1/officer/persons/{tracked.id}/trail?{urlencode(query)}"
        assert client.get(url, headers=officer_headers).status_code == 422


def test_zones_of_another_office_are_404(client, tracked, auth, other_officer):
    headers = auth.headers("officer2")
    url = f"/api/v1/officer/persons/{tracked.id}"
    assert client.get(f"{url}/zones", headers=headers).status_code == 404
    assert client.post(f"{url}/zones", headers=headers, json={
        "kind": "exclusion", "circle": {"lat": 31.2, "lon": 121.4, "radius_m": 100}}).status_code == 404
    assert client.post(f"{url}/tracking", headers=headers,
                       json={"reason": "x", "until": "2026-12-10"}).status_code == 404
