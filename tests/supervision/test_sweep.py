"""The sweep: missed duty windows, missed spot checks and repeated failures, once each, with set-based queries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from supervision import tasks
from supervision.accounts import actor_for_account
from supervision.alerts import resolve_alert
from supervision.sweep import SweepSettings, run_sweep
from tests.factories import make_office, make_person
from tests.supervision.conftest import LONG_AGO
from tests.supervision.helpers import add_checkin, alerts_of, task_status

MONDAY = date(2026, 11, 30)
WINDOW_START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
WINDOW_END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
# Registered on Monday morning before the window opened, so only Monday's window is owed.
MONDAY_MORNING = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)


def sweep(session: Any, config: dict[str, Any], at: datetime) -> dict[str, int]:
    counts = run_sweep(session=session, now=at, settings=config)
    session.commit()
    return counts


@pytest.fixture
def newcomer(db_session, office):
    """A strict person registered on Monday at 07:00 Shanghai time."""
    return make_person(db_session, office, "P100", supervision_level="strict", created_at=MONDAY_MORNING)


def test_missed_checkin_once_after_the_window_closes(db_session, config, newcomer):
    assert sweep(db_session, config, WINDOW_END - timedelta(minutes=1))["missed_checkin"] == 0
    # Within the grace period an upload may still be on its way.
    assert sweep(db_session, config, WINDOW_END + timedelta(minutes=5))["missed_checkin"] == 0
    assert alerts_of(db_session, newcomer.id) == []
    after = WINDOW_END + timedelta(minutes=11)
    assert sweep(db_session, config, after)["missed_checkin"] == 1
    assert sweep(db_session, config, after)["missed_checkin"] == 0
    assert sweep(db_session, config, after + timedelta(minutes=5))["missed_checkin"] == 0
    alerts = alerts_of(db_session, newcomer.id)
    assert [(a.type, a.dedupe_key, a.status) for a in alerts] == [
        ("missed_checkin", f"missed_checkin:{newcomer.id}:2026-11-30", "open")]
    assert alerts[0].occurred_at == WINDOW_END
    assert alerts[0].office_id == newcomer.office_id
    assert alerts[0].evidence["window_start"] == "2026-11-30T08:00:00+08:00"


@pytest.mark.parametrize(("status", "alerts"), [
    ("verified", 0), ("accepted", 0), ("needs_review", 0),  # needs_review: an officer decides; not an absence
    ("rejected", 1), ("failed", 1), ("confirmed_violation", 1),
])
def test_which_checkins_fulfil_the_duty(db_session, config, newcomer, status, alerts):
    add_checkin(db_session, newcomer, WINDOW_START + timedelta(hours=2), status)
    sweep(db_session, config, WINDOW_END + timedelta(hours=1))
    assert len(alerts_of(db_session, newcomer.id, "missed_checkin")) == alerts


def test_checkin_outside_the_window_does_not_count(db_session, config, newcomer):
    add_checkin(db_session, newcomer, WINDOW_END + timedelta(minutes=1))
    add_checkin(db_session, newcomer, WINDOW_START - timedelta(minutes=1))
    assert sweep(db_session, config, WINDOW_END + timedelta(hours=1))["missed_checkin"] == 1


def test_late_upload_of_a_capture_inside_the_window_counts(db_session, config, newcomer):
    add_checkin(db_session, newcomer, WINDOW_END - timedelta(minutes=1), received_at=WINDOW_END + timedelta(minutes=8))
    assert sweep(db_session, config, WINDOW_END + timedelta(hours=1))["missed_checkin"] == 0


def test_only_levels_with_a_duty_that_day(db_session, config, office):
    ordinary = make_person(db_session, office, "P101", supervision_level="ordinary", created_at=MONDAY_MORNING)
    lenient = make_person(db_session, office, "P102", supervision_level="lenient", created_at=MONDAY_MORNING)
    tuesday_evening = WINDOW_END + timedelta(days=1, hours=1)
    sweep(db_session, config, tuesday_evening)
    assert [a.dedupe_key for a in alerts_of(db_session)] == [
        f"missed_checkin:{ordinary.id}:2026-11-30", f"missed_checkin:{lenient.id}:2026-11-30"]
    # Wednesday has no ordinary or lenient duty either.
    assert sweep(db_session, config, tuesday_evening + timedelta(days=1))["missed_checkin"] == 0


def test_persons_without_a_duty_are_left_alone(db_session, config, office):
    make_person(db_session, office, "P103", supervision_level="strict", created_at=MONDAY_MORNING, status="released")
    make_person(db_session, office, "P104", supervision_level="strict", created_at=MONDAY_MORNING,
                end_date=date(2026, 11, 29))
    make_person(db_session, office, "P105", supervision_level="strict", created_at=MONDAY_MORNING,
                start_date=date(2026, 12, 1))
    make_person(db_session, office, "P106", supervision_level="strict", created_at=WINDOW_START + timedelta(hours=3))
    assert sweep(db_session, config, WINDOW_END + timedelta(hours=1))["missed_checkin"] == 0


def test_lookback_catches_up_after_downtime(db_session, config, office):
    person = make_person(db_session, office, "P107", supervision_level="strict", created_at=LONG_AGO)
    counts = sweep(db_session, config, WINDOW_END + timedelta(hours=1))
    # Saturday to Monday: the windows that closed (grace included) in the last 72 hours, one absence of three.
    assert counts["missed_checkin"] == 1
    [alert] = alerts_of(db_session, person.id)
    assert alert.dedupe_key[-10:] == "2026-11-28"
    assert (alert.evidence["missed_windows"], alert.evidence["period_start"], alert.evidence["period_end"]) == (
        3, "2026-11-28T08:00:00+08:00", "2026-11-30T20:00:00+08:00")
    assert alert.occurred_at == WINDOW_END


def test_one_absence_is_one_alert_that_grows_with_each_missed_window(db_session, config, newcomer):
    assert sweep(db_session, config, WINDOW_END + timedelta(hours=1))["missed_checkin"] == 1
    [alert] = alerts_of(db_session, newcomer.id)
    assert alert.evidence["missed_windows"] == 1

    for day in (1, 2):
        assert sweep(db_session, config, WINDOW_END + timedelta(days=day, hours=1))["missed_checkin"] == 0
        assert sweep(db_session, config, WINDOW_END + timedelta(days=day, hours=2))["missed_checkin"] == 0

    [grown] = alerts_of(db_session, newcomer.id)
    assert grown.id == alert.id and grown.status == "open"
    assert (grown.evidence["missed_windows"], grown.evidence["period_start"], grown.evidence["period_end"]) == (
        3, "2026-11-30T08:00:00+08:00", "2026-12-02T20:00:00+08:00")
    assert grown.evidence["window_start"] == "2026-11-30T08:00:00+08:00"  # the first missed window, as before
    assert grown.occurred_at == WINDOW_END + timedelta(days=2)


def test_a_checkin_ends_the_absence_and_the_next_miss_opens_a_new_alert(db_session, config, newcomer):
    sweep(db_session, config, WINDOW_END + timedelta(hours=1))
    add_checkin(db_session, newcomer, WINDOW_START + timedelta(days=1, hours=3))  # Tuesday: reported
    sweep(db_session, config, WINDOW_END + timedelta(days=1, hours=1))
    assert sweep(db_session, config, WINDOW_END + timedelta(days=2, hours=1))["missed_checkin"] == 1

    first, second = alerts_of(db_session, newcomer.id)
    assert (first.evidence["missed_windows"], first.evidence["period_end"]) == (1, "2026-11-30T20:00:00+08:00")
    assert (second.dedupe_key, second.evidence["missed_windows"]) == (f"missed_checkin:{newcomer.id}:2026-12-02", 1)
    # A late sweep that sees Monday to Wednesday at once tells the same story.
    assert sweep(db_session, config, WINDOW_END + timedelta(days=2, hours=3))["missed_checkin"] == 0
    assert [a.evidence["missed_windows"] for a in alerts_of(db_session, newcomer.id)] == [1, 1]


def test_after_the_alert_is_resolved_a_further_miss_opens_a_new_alert(db_session, config, newcomer, officer):
    sweep(db_session, config, WINDOW_END + timedelta(hours=1))
    sweep(db_session, config, WINDOW_END + timedelta(days=1, hours=1))
    [alert] = alerts_of(db_session, newcomer.id)
    resolve_alert(session=db_session, actor=actor_for_account(officer), alert_id=alert.id, action="dismiss",
                  note="已电话联系，本人在医院", now=WINDOW_END + timedelta(days=1, hours=2))
    db_session.commit()
    # The windows the resolved alert covered are not raised again.
    assert sweep(db_session, config, WINDOW_END + timedelta(days=1, hours=3))["missed_checkin"] == 0

    assert sweep(db_session, config, WINDOW_END + timedelta(days=2, hours=1))["missed_checkin"] == 1
    resolved, new = alerts_of(db_session, newcomer.id)
    assert (resolved.status, resolved.evidence["missed_windows"]) == ("resolved", 2)
    assert (new.status, new.evidence["missed_windows"], new.evidence["period_start"]) == (
        "open", 1, "2026-12-02T08:00:00+08:00")


def test_office_overrides_change_the_window(app, db_session, office):
    other = make_office(db_session, "O3", county="C1")
    here = make_person(db_session, office, "P108", supervision_level="strict", created_at=MONDAY_MORNING)
    there = make_person(db_session, other, "P109", supervision_level="strict", created_at=MONDAY_MORNING)
    settings = SweepSettings.from_config({**app.config["CHECKIN"],
                                          "DUTY_OFFICE_OVERRIDES": {"O3": {"strict": {"end": "22:00"}}}})
    run_sweep(session=db_session, now=WINDOW_END + timedelta(hours=1), settings=settings)
    db_session.commit()
    assert [a.person_id for a in alerts_of(db_session)] == [here.id]
    run_sweep(session=db_session, now=WINDOW_END + timedelta(hours=2, minutes=11), settings=settings)
    db_session.commit()
    assert sorted(a.person_id for a in alerts_of(db_session)) == sorted([here.id, there.id])


def test_unanswered_spot_check_becomes_missed(db_session, config, officer, person):
    task = tasks.create_spot_check(session=db_session, actor=actor_for_account(officer), person=person,
                                   now=WINDOW_START, policy=tasks.SpotCheckPolicy())
    db_session.commit()
    assert task.due_at == WINDOW_START + timedelta(minutes=60)
    assert sweep(db_session, config, task.due_at + timedelta(minutes=5))["spot_check_missed"] == 0
    assert task_status(db_session, task.id) == "open"
    counts = sweep(db_session, config, task.due_at + timedelta(minutes=11))
    assert (counts["tasks_missed"], counts["spot_check_missed"]) == (1, 1)
    assert task_status(db_session, task.id) == "missed"
    for _ in range(2):
        assert sweep(db_session, config, task.due_at + timedelta(minutes=30))["spot_check_missed"] == 0
    alerts = alerts_of(db_session, person.id, "spot_check_missed")
    assert [(a.dedupe_key, a.occurred_at, a.evidence["task_id"]) for a in alerts] == [
        (f"spot_check_missed:{task.id}", task.due_at, task.id)]


def test_unanswered_video_inspection_becomes_missed(db_session, config, officer, person):
    from supervision import video_inspections

    task = video_inspections.create_inspection(session=db_session, actor=actor_for_account(officer), person=person,
                                               respond_within_minutes=30, now=WINDOW_START)
    db_session.commit()
    assert sweep(db_session, config, task.due_at + timedelta(minutes=5))["video_inspection_missed"] == 0
    counts = sweep(db_session, config, task.due_at + timedelta(minutes=11))
    assert (counts["tasks_missed"], counts["video_inspection_missed"], counts["spot_check_missed"]) == (1, 1, 0)
    assert task_status(db_session, task.id) == "missed"
    assert sweep(db_session, config, task.due_at + timedelta(minutes=40))["video_inspection_missed"] == 0
    alerts = alerts_of(db_session, person.id, "video_inspection_missed")
    assert [(a.dedupe_key, a.evidence["task_id"]) for a in alerts] == [(f"video_inspection_missed:{task.id}", task.id)]


def test_answered_spot_check_is_not_missed(db_session, config, officer, person):
    task = tasks.create_spot_check(session=db_session, actor=actor_for_account(officer), person=person,
                                   now=WINDOW_START, policy=tasks.SpotCheckPolicy())
    task.status = "completed"
    db_session.commit()
    assert sweep(db_session, config, task.due_at + timedelta(hours=1))["spot_check_missed"] == 0


def test_repeated_failures(db_session, config, person):
    start = WINDOW_START
    add_checkin(db_session, person, start - timedelta(hours=30), "failed")  # outside the 24 hours
    add_checkin(db_session, person, start, "failed")
    add_checkin(db_session, person, start + timedelta(minutes=1), "rejected")
    add_checkin(db_session, person, start + timedelta(minutes=2), "needs_review")
    assert sweep(db_session, config, start + timedelta(minutes=5))["repeated_failures"] == 0
    third = add_checkin(db_session, person, start + timedelta(minutes=3), "failed")
    assert sweep(db_session, config, start + timedelta(minutes=5))["repeated_failures"] == 1
    assert sweep(db_session, config, start + timedelta(minutes=6))["repeated_failures"] == 0
    # Attempts an alert already counted do not count again: it takes three new ones.
    add_checkin(db_session, person, start + timedelta(minutes=10), "failed")
    add_checkin(db_session, person, start + timedelta(minutes=11), "failed")
    assert sweep(db_session, config, start + timedelta(minutes=12))["repeated_failures"] == 0
    add_checkin(db_session, person, start + timedelta(minutes=13), "rejected")
    assert sweep(db_session, config, start + timedelta(minutes=14))["repeated_failures"] == 1
    alerts = alerts_of(db_session, person.id, "repeated_failures")
    assert alerts[0].evidence == {"attempts": 3, "last_checkin_id": third.id}
    assert alerts[0].occurred_at == start + timedelta(minutes=3)
    assert len(alerts) == 2


def test_the_sweep_is_set_based(app, db_session, config, office):
    """The number of statements does not grow with the number of persons."""

    def statements_for(persons: int, first: int) -> int:
        for n in range(first, first + persons):
            person = make_person(db_session, office, f"Q{n:03d}", supervision_level=("strict", "ordinary")[n % 2],
                                 created_at=LONG_AGO)
            add_checkin(db_session, person, WINDOW_START, "failed")
        seen: list[str] = []
        engine = app.extensions["checkin.db"].engine

        def count(*args: Any) -> None:
            seen.append(args[2])

        event.listen(engine, "before_cursor_execute", count)
        try:
            sweep(db_session, config, WINDOW_END + timedelta(hours=1))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len([s for s in seen if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))])

    few = statements_for(2, 0)
    many = statements_for(40, 100)
    assert few == many
    # A fixed handful per step (duties, spot checks, leave, failures, idempotency, activities and inbox reminders,
    # the location pass): 19 on SQLite today; the bound catches a step that starts issuing a statement per row.
    assert many < 25


def test_sweep_marks_leave_overdue_once(db_session, config, office):
    from storage.models import LeaveRequest

    person = make_person(db_session, office, "P300", created_at=LONG_AGO)
    leave = LeaveRequest(person_id=person.id, office_id=office.id, start_at=WINDOW_END - timedelta(days=5),
                         end_at=WINDOW_END - timedelta(days=2), destination="Beijing", reason="family",
                         status="approved", approval_level="office", created_at=LONG_AGO)
    db_session.add(leave)
    db_session.commit()
    counts = sweep(db_session, config, WINDOW_END)
    assert counts["leave_overdue"] == 1
    assert [a.type for a in alerts_of(db_session, person.id) if a.type == "leave_overdue"] == ["leave_overdue"]
    assert sweep(db_session, config, WINDOW_END)["leave_overdue"] == 0
    db_session.refresh(leave)
    assert leave.status == "overdue"
