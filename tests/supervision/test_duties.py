"""Check-in duties: windows per level in the office's time zone, next_due and the compliance summary."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from supervision.duties import DutyPolicy, LevelDuty, compliance, next_due, parse_weekdays
from tests.factories import make_office, make_person
from tests.supervision.conftest import LONG_AGO, MONDAY_11H
from tests.supervision.helpers import add_checkin

SHANGHAI_MONDAY = date(2026, 11, 30)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time as UTC (Shanghai is UTC+8 all year)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def days_with_windows(level: str, policy: DutyPolicy | None = None) -> list[str]:
    duties = (policy or DutyPolicy()).for_office("O1", "Asia/Shanghai")
    start = local(SHANGHAI_MONDAY, 0)
    return [w.start.strftime("%a") for w in duties.windows(level, start, start + timedelta(days=7))]


def test_default_frequency_by_level():
    assert days_with_windows("strict") == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert days_with_windows("ordinary") == ["Mon", "Thu"]
    assert days_with_windows("lenient") == ["Mon"]


def test_windows_are_in_the_office_time_zone():
    window = DutyPolicy().for_office("O1", "Asia/Shanghai").window_on("strict", SHANGHAI_MONDAY)
    assert window is not None
    assert window.as_dict()["start"] == "2026-11-30T08:00:00+08:00"
    assert window.as_dict()["end"] == "2026-11-30T20:00:00+08:00"
    assert window.start == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    urumqi = DutyPolicy().for_office("O9", "Asia/Urumqi").window_on("strict", SHANGHAI_MONDAY)
    assert urumqi is not None and urumqi.start == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def test_unknown_office_zone_falls_back_to_the_default():
    window = DutyPolicy().for_office("O1", "Mars/Olympus").window_on("strict", SHANGHAI_MONDAY)
    assert window is not None and window.start.utcoffset() == timedelta(hours=8)


def test_config_and_office_overrides():
    policy = DutyPolicy.from_config({
        "DUTY_ORDINARY_DAYS": "tue,fri",
        "DUTY_WINDOW_START": "09:30",
        "DUTY_OFFICE_OVERRIDES": '{"O2": {"timezone": "Asia/Urumqi", "lenient": {"days": ["wed"], "end": "12:00"}}}',
    })
    assert days_with_windows("ordinary", policy) == ["Tue", "Fri"]
    assert policy.duty("ordinary").start == time(9, 30)
    o2 = policy.for_office("O2", "Asia/Shanghai")
    assert o2.duty("lenient") == LevelDuty(weekdays=(2,), start=time(9, 30), end=time(12, 0))
    assert o2.duty("ordinary").weekdays == (1, 4)  # not overridden: the deployment's days
    assert str(o2.zone) == "Asia/Urumqi"


@pytest.mark.parametrize("config", [
    {"DUTY_STRICT_DAYS": "mon,funday"},
    {"DUTY_WINDOW_START": "20:00", "DUTY_WINDOW_END": "08:00"},
    {"DUTY_TIMEZONE": "Nowhere/City"},
    {"DUTY_OFFICE_OVERRIDES": {"O1": {"strictest": {"days": "mon"}}}},
    {"DUTY_OFFICE_OVERRIDES": {"O1": {"timezone": "Nowhere/City"}}},
    {"DUTY_OFFICE_OVERRIDES": {"O1": {"strict": {"days": "mon", "every": 2}}}},
])
def test_bad_settings_fail_at_start(config):
    with pytest.raises(ValueError):
        DutyPolicy.from_config(config)


def test_parse_weekdays():
    assert parse_weekdays("Thu, mon,MONDAY") == (0, 3)
    assert parse_weekdays([6, "sat"]) == (5, 6)


def test_next_due_moves_on_once_the_window_is_met(db_session, office):
    person = make_person(db_session, office, "P010", supervision_level="ordinary", created_at=LONG_AGO)
    policy = DutyPolicy()
    before = next_due(session=db_session, person=person, now=local(SHANGHAI_MONDAY, 7), policy=policy)
    assert before is not None and before.day == SHANGHAI_MONDAY
    current = next_due(session=db_session, person=person, now=MONDAY_11H, policy=policy)
    assert current is not None and current.day == SHANGHAI_MONDAY
    add_checkin(db_session, person, local(SHANGHAI_MONDAY, 9))
    after = next_due(session=db_session, person=person, now=MONDAY_11H, policy=policy)
    assert after is not None and after.day == date(2026, 12, 3)  # Thursday
    late = next_due(session=db_session, person=person, now=local(SHANGHAI_MONDAY, 21), policy=policy)
    assert late is not None and late.day == date(2026, 12, 3)


def test_next_due_is_none_after_supervision_ends(db_session, office):
    person = make_person(db_session, office, "P011", supervision_level="strict", created_at=LONG_AGO,
                         end_date=SHANGHAI_MONDAY)
    assert next_due(session=db_session, person=person, now=local(SHANGHAI_MONDAY, 21), policy=DutyPolicy()) is None


def test_compliance_counts_met_missed_and_pending(db_session, office):
    person = make_person(db_session, office, "P012", supervision_level="strict", created_at=LONG_AGO)
    now = local(SHANGHAI_MONDAY, 21)
    for back in range(1, 31):
        day = SHANGHAI_MONDAY - timedelta(days=back)
        if back % 3 == 0:
            continue  # missed
        add_checkin(db_session, person, local(day, 10), "needs_review" if back == 1 else "verified")
    add_checkin(db_session, person, local(SHANGHAI_MONDAY, 7), "verified")  # before the window: does not count
    add_checkin(db_session, person, local(SHANGHAI_MONDAY - timedelta(days=2), 12), "rejected")
    summary = compliance(session=db_session, person=person, now=now, policy=DutyPolicy())
    # The window of 31 October closed at 12:00 UTC, before "30 days ago" (31 October 13:00 UTC): 30 windows.
    assert (summary.met, summary.pending, summary.missed, summary.total) == (19, 1, 10, 30)
    missed_days = [w["date"] for w in summary.as_dict()["missed_windows"]]
    assert missed_days[-1] == "2026-11-30" and "2026-11-27" in missed_days


def test_compliance_ignores_windows_before_registration(db_session, office):
    person = make_person(db_session, office, "P013", supervision_level="strict",
                         created_at=local(SHANGHAI_MONDAY - timedelta(days=2), 12))
    summary = compliance(session=db_session, person=person, now=local(SHANGHAI_MONDAY, 21), policy=DutyPolicy())
    assert [w.day for w, _ in summary.windows] == [date(2026, 11, 29), date(2026, 11, 30)]


def test_office_row_zone_is_used(db_session):
    office = make_office(db_session, "OU", county="C1")
    office.timezone = "Asia/Urumqi"
    db_session.commit()
    person = make_person(db_session, office, "P014", supervision_level="strict", created_at=LONG_AGO)
    due = next_due(session=db_session, person=person, now=MONDAY_11H, policy=DutyPolicy())
    assert due is not None and due.as_dict()["start"].endswith("+06:00")


def test_settings_as_they_come_from_the_environment():
    from supervision.sweep import SweepSettings

    settings = SweepSettings.from_config({
        "DUTY_OFFICE_OVERRIDES": " ", "SPOT_CHECK_RANDOM_RATES": '{"ordinary": "0.5"}', "DUTY_GRACE_MINUTES": "15",
        "SPOT_CHECK_RESPOND_MINUTES": "30", "REPEATED_FAILURES_COUNT": "4", "SWEEP_LOOKBACK_HOURS": "24"})
    assert settings.duties.grace == timedelta(minutes=15) and settings.duties.office_overrides == {}
    assert settings.spot_checks.respond_within == timedelta(minutes=30)
    assert settings.spot_checks.random_rates == {"strict": 0.2, "ordinary": 0.5, "lenient": 0.0}
    assert (settings.failure_count, settings.lookback) == (4, timedelta(hours=24))
    with pytest.raises(ValueError):
        SweepSettings.from_config({"SPOT_CHECK_RANDOM_RATES": {"strict": 2}})
