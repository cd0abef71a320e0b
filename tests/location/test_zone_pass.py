"""The sweep's zone pass on fixes it sees first (stored without the upload's own evaluation, as after a crash)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from storage.models import LocationFix, LocationZone
from tests.factories import make_person
from tests.location.conftest import JINGAN_TEMPLE, LUJIAZUI, NEAR_NANJING, START
from tests.location.helpers import location_alerts, sweep, types_of

FIVE_MIN = timedelta(minutes=5)


def _store(session, person, places, start, step=FIVE_MIN, prefix="s") -> None:
    session.execute(insert(LocationFix), [
        {"person_id": person.id, "fixed_at": start + i * step, "client_id": f"{prefix}{i}",
         "received_at": start + i * step, "lat": p[0], "lon": p[1], "accuracy_m": 10.0, "mock": False}
        for i, p in enumerate(places)])
    session.commit()


def _track(client, headers, person) -> None:
    assert client.post(f"/api/v1/officer/persons/{person.id}/tracking", headers=headers,
                       json={"reason": "r", "until": "2026-12-31"}).status_code == 200


def test_the_sweep_finds_what_no_upload_evaluated(app, client, db_session, office, officer_headers, tracked):
    quiet = make_person(db_session, office, "P002", home_lat=JINGAN_TEMPLE[0], home_lon=JINGAN_TEMPLE[1],
                        home_radius_m=2000.0)
    banned = make_person(db_session, office, "P003", home_lat=JINGAN_TEMPLE[0], home_lon=JINGAN_TEMPLE[1],
                         home_radius_m=2000.0)
    for person in (quiet, banned):
        _track(client, officer_headers, person)
    xintiandi = (31.2196, 121.4750)
    db_session.add(LocationZone(person_id=banned.id, office_id=banned.office_id, kind="exclusion", scope="home",
                                center_lat=xintiandi[0], center_lon=xintiandi[1], radius_m=300.0, created_at=START))
    db_session.commit()
    _store(db_session, tracked, [JINGAN_TEMPLE] * 3 + [LUJIAZUI] * 6 + [NEAR_NANJING], START)
    _store(db_session, quiet, [JINGAN_TEMPLE] * 10, START)
    _store(db_session, banned, [JINGAN_TEMPLE] * 3 + [xintiandi] * 4, START)

    counts = sweep(app, START + timedelta(hours=1))

    assert counts["location_persons_evaluated"] == 3
    assert counts["location_persons_checked_in_full"] == 2  # the quiet one was cleared in bulk
    # One fix near Nanjing is a teleport, not yet a confirmed stay outside the county.
    assert types_of(location_alerts(db_session, tracked.id)) == ["location_spoof_suspected", "outside_area"]
    # 新天地 is 3 km from home: outside the home area, and inside the banned bar street.
    assert types_of(location_alerts(db_session, banned.id)) == ["exclusion_zone_entered", "outside_area"]
    assert location_alerts(db_session, quiet.id) == []
    # Watermarks: nothing new, nothing evaluated again.
    again = sweep(app, START + timedelta(hours=1, minutes=5))
    assert again["location_persons_evaluated"] == 0 and again["location_alerts"] == 0
