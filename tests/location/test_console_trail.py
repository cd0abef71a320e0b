"""The console's trail page: the day's track, zones and alerts drawn as inline SVG, audit-logged, in scope only."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from storage.models import AuditEvent
from tests.console.conftest import Console
from tests.factories import PASSWORD
from tests.location.conftest import JINGAN_TEMPLE, LUJIAZUI, START, route, series
from tests.location.helpers import upload


def test_the_trail_page_draws_the_day_without_any_map_service(client, clock, db_session, tracked, phone,
                                                             officer_headers, officer):
    client.post(f"/api/v1/officer/persons/{tracked.id}/zones", headers=officer_headers,
                json={"kind": "exclusion", "circle": {"lat": 31.2196, "lon": 121.4750, "radius_m": 300},
                      "note": "禁止令: 酒吧街"})
    clock.advance(timedelta(hours=3))
    upload(client, phone, series("walk", START, route(JINGAN_TEMPLE, LUJIAZUI, 12) + [LUJIAZUI] * 6,
                                 timedelta(minutes=5)))
    console = Console(client)
    console.login(password=PASSWORD)

    person_page = console.get(f"/console/persons/{tracked.id}").get_data(as_text=True)
    assert f"/console/persons/{tracked.id}/trail" in person_page
    page = console.get(f"/console/persons/{tracked.id}/trail?day=2026-11-30")
    html = page.get_data(as_text=True)

    assert page.status_code == 200
    assert '<svg class="trailmap"' in html and '<polyline class="trail"' in html
    assert 'class="zone zone-home"' in html and 'class="zone zone-exclusion"' in html
    assert html.count('class="alert-mark"') == 1 and "越界" in html
    assert "http://" not in html.split("<svg", 1)[1].split("</svg>", 1)[0].replace("http://www.w3.org/2000/svg", "")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "trail.viewed")).all()
    assert [(e.actor_id, e.person_id, e.details["fixes"]) for e in events] == [(officer.id, tracked.id, 18)]


def test_an_empty_day_says_so(client, tracked, officer):
    console = Console(client)
    console.login(password=PASSWORD)

    html = console.get(f"/console/persons/{tracked.id}/trail?day=2026-11-29").get_data(as_text=True)

    assert "当天没有定位数据" in html and '<svg class="trailmap"' in html


def test_the_trail_page_of_another_office_is_not_found(client, db_session, tracked, other_officer):
    console = Console(client)
    console.login("officer2", password=PASSWORD)

    assert console.get(f"/console/persons/{tracked.id}/trail").status_code == 404
    assert db_session.scalars(select(AuditEvent).where(AuditEvent.action == "trail.viewed")).all() == []


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2026-13-01", "yesterday", "2026-1-5"])
def test_a_bad_or_implausible_day_shows_today(client, tracked, officer, clock, day):
    console = Console(client)
    console.login(password=PASSWORD)

    page = console.get(f"/console/persons/{tracked.id}/trail?day={day}")

    assert page.status_code == 200
    assert clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat() in page.get_data(as_text=True)
