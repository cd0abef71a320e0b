"""Person-phone separation (人机分离) signals, each explained in its alert."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from itertools import count

from storage.models import Checkin, Task
from supervision import alerts
from tests.location.conftest import JIAXING, JINGAN_TEMPLE, LUJIAZUI, START, series
from tests.location.helpers import location_alerts, sweep, upload

_numbers = count(1)


def _checkin(session, person, at: datetime, place: tuple[float, float], **fields) -> Checkin:
    values = {"kind": "scheduled", "status": "verified", "reasons": [], **fields}
    checkin = Checkin(person_id=person.id, office_id=person.office_id, received_at=at, captured_at=at,
                      latitude=place[0], longitude=place[1], accuracy_m=15.0, flags=[],
                      photo_sha256=hashlib.sha256(f"loc-{next(_numbers)}".encode()).hexdigest(), **values)
    session.add(checkin)
    session.commit()
    return checkin


def _separation(session, person_id: int) -> list:
    return [a for a in location_alerts(session, person_id) if a.type == "person_phone_separation"]


def test_a_spot_check_answered_with_another_face(db_session, tracked):
    task = Task(person_id=tracked.id, office_id=tracked.office_id, kind="spot_check", status="completed",
                created_at=START, due_at=START + timedelta(hours=1))
    db_session.add(task)
    db_session.commit()
    checkin = _checkin(db_session, tracked, START + timedelta(minutes=20), JINGAN_TEMPLE, kind="spot_check",
                       status="rejected", reasons=["face_mismatch"], task_id=task.id,
                       match={"distance": 1.31, "threshold": 1.0})

    alerts.on_checkin_recorded(session=db_session, checkin=checkin, person=tracked, now=START + timedelta(minutes=21))
    db_session.commit()

    found = _separation(db_session, tracked.id)
    assert [a.evidence["signal"] for a in found] == ["spot_check_face_mismatch"]
    assert f"Spot check #{task.id}" in found[0].evidence["explanation"]


def test_a_scheduled_checkin_with_another_face_is_not_this_signal(db_session, tracked):
    checkin = _checkin(db_session, tracked, START + timedelta(minutes=20), JINGAN_TEMPLE, status="rejected",
                       reasons=["face_mismatch"])
    alerts.on_checkin_recorded(session=db_session, checkin=checkin, person=tracked, now=START + timedelta(minutes=21))
    db_session.commit()

    assert _separation(db_session, tracked.id) == []


def test_a_missed_spot_check_while_the_phone_lay_still(app, client, clock, db_session, tracked, phone):
    task = Task(person_id=tracked.id, office_id=tracked.office_id, kind="spot_check", status="open",
                created_at=START + timedelta(hours=3), due_at=START + timedelta(hours=4))
    db_session.add(task)
    db_session.commit()
    clock.advance(timedelta(hours=4, minutes=20))
    upload(client, phone, series("still", START, [JINGAN_TEMPLE] * 17, timedelta(minutes=15)))

    sweep(app, clock.now())
    sweep(app, clock.now() + timedelta(minutes=5))

    found = _separation(db_session, tracked.id)
    assert [(a.evidence["signal"], a.evidence["task_id"]) for a in found] == [
        ("stationary_phone_missed_spot_check", task.id)]
    assert "left behind" in found[0].evidence["explanation"] and len(found[0].evidence["fixes"]) == 12


def test_a_missed_spot_check_while_moving_is_only_the_missed_check(app, client, clock, db_session, tracked, phone):
    db_session.add(Task(person_id=tracked.id, office_id=tracked.office_id, kind="spot_check", status="open",
                        created_at=START + timedelta(hours=3), due_at=START + timedelta(hours=4)))
    db_session.commit()
    clock.advance(timedelta(hours=4, minutes=20))
    walk = [JINGAN_TEMPLE, (31.2290, 121.4590), (31.2200, 121.4550)] * 6
    upload(client, phone, series("moving", START, walk[:17], timedelta(minutes=15)))

    sweep(app, clock.now())

    assert _separation(db_session, tracked.id) == []


def test_a_checkin_far_from_the_phones_own_fixes(client, clock, db_session, tracked, phone):
    checkin = _checkin(db_session, tracked, START + timedelta(hours=1), LUJIAZUI)
    clock.advance(timedelta(hours=2))
    upload(client, phone, series("home", START + timedelta(minutes=50), [JINGAN_TEMPLE] * 5, timedelta(minutes=5)))

    found = _separation(db_session, tracked.id)
    assert [(a.evidence["signal"], a.evidence["checkin_id"]) for a in found] == [
        ("checkin_location_disagrees", checkin.id)]
    assert "km away" in found[0].evidence["explanation"]


def test_a_checkin_where_the_fixes_are_is_fine(client, clock, db_session, tracked, phone):
    _checkin(db_session, tracked, START + timedelta(hours=1), JINGAN_TEMPLE)
    clock.advance(timedelta(hours=2))
    upload(client, phone, series("home", START + timedelta(minutes=50), [JINGAN_TEMPLE] * 5, timedelta(minutes=5)))

    assert _separation(db_session, tracked.id) == []


def test_checkins_just_after_the_window_opens_then_far_away(app, client, clock, db_session, tracked, phone):
    # Strict: daily window 08:00-20:00 Shanghai. Three mornings the check-in lands at 08:03, then the phone is in 嘉兴.
    days = [START + timedelta(days=d) for d in range(3)]
    for day in days:
        _checkin(db_session, tracked, day + timedelta(minutes=3), JINGAN_TEMPLE)
    clock.at = days[-1] + timedelta(hours=6)
    for index, day in enumerate(days):
        upload(client, phone, series(f"d{index}", day + timedelta(hours=2), [JIAXING] * 3, timedelta(minutes=10)))

    sweep(app, clock.now())
    sweep(app, clock.now() + timedelta(minutes=5))

    found = [a for a in _separation(db_session, tracked.id)
             if a.evidence["signal"] == "checkin_after_window_opens_then_away"]
    assert len(found) == 1 and len(found[0].evidence["checkin_ids"]) == 3
    assert "midnight" in found[0].evidence["explanation"]


def test_two_such_mornings_are_not_yet_a_pattern(app, client, clock, db_session, tracked, phone):
    days = [START + timedelta(days=d) for d in range(2)]
    for day in days:
        _checkin(db_session, tracked, day + timedelta(minutes=3), JINGAN_TEMPLE)
    _checkin(db_session, tracked, START + timedelta(days=2, hours=5), JINGAN_TEMPLE)  # a normal 13:00 check-in
    clock.at = START + timedelta(days=2, hours=6)
    for index, day in enumerate(days):
        upload(client, phone, series(f"d{index}", day + timedelta(hours=2), [JIAXING] * 3, timedelta(minutes=10)))

    sweep(app, clock.now())

    assert [a for a in _separation(db_session, tracked.id)
            if a.evidence["signal"] == "checkin_after_window_opens_then_away"] == []
