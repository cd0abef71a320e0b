"""Retention of fixes (enforced by the sweep, audit-logged) and the monthly partitions on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from storage import partitions
from storage.models import AuditEvent, LocationFix, Person
from supervision import tracking
from tests.location.conftest import JINGAN_TEMPLE, START, series
from tests.location.helpers import sweep, upload


def _count(session, person_id: int) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(LocationFix).where(LocationFix.person_id == person_id))


def test_fixes_are_kept_while_supervised_and_purged_after_the_retention(app, client, clock, db_session, tracked,
                                                                        phone):
    clock.advance(timedelta(hours=1))
    upload(client, phone, series("f", START, [JINGAN_TEMPLE] * 6, timedelta(minutes=5)))
    assert sweep(app, START + timedelta(days=400))["location_fixes_purged"] == 0  # still under supervision
    assert _count(db_session, tracked.id) == 6

    person = db_session.get(Person, tracked.id)
    person.status, person.released_at = "released", START + timedelta(days=2)
    db_session.commit()
    assert sweep(app, START + timedelta(days=100))["location_fixes_purged"] == 0  # within the 180 days
    assert sweep(app, START + timedelta(days=183))["location_fixes_purged"] == 6

    assert _count(db_session, tracked.id) == 0
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "location.purged")).all()
    assert [(e.person_id, e.actor_role, e.details["retention_days"]) for e in events] == [(tracked.id, "system", 180)]
    assert sweep(app, START + timedelta(days=184))["location_fixes_purged"] == 0


def test_month_arithmetic():
    assert partitions.months_between(date(2026, 11, 15), datetime(2027, 2, 1, tzinfo=UTC)) == [
        date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)]
    assert partitions.partition_name(date(2027, 1, 1)) == "location_fix_y2027m01"


def test_fixes_land_in_their_month_partition_on_postgresql(app, client, clock, db_session, tracked, phone):
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: set CHECKIN_TEST_DATABASE_URL to a postgresql+psycopg:// URL")
    clock.advance(timedelta(hours=1))
    upload(client, phone, series("f", START, [JINGAN_TEMPLE] * 3, timedelta(minutes=5)))
    rows = db_session.execute(text("SELECT tableoid::regclass::text, count(*) FROM location_fix GROUP BY 1")).all()
    assert rows == [("location_fix_y2026m11", 3)]
    # The sweep creates the months ahead; a far-off month without a partition goes to the default one, and
    # creating its partition later moves those rows over.
    sweep(app, datetime(2027, 6, 10, tzinfo=UTC))
    have = partitions.existing_partitions(db_session.connection())
    assert {"location_fix_y2027m06", "location_fix_y2027m07", "location_fix_y2027m08"} <= have
    db_session.execute(text("INSERT INTO location_fix (person_id, fixed_at, client_id, received_at, lat, lon, "
                            "accuracy_m, mock) VALUES (:p, '2030-03-05T00:00:00Z', 'far', now(), 31.2, 121.4, 10, "
                            "false)"), {"p": tracked.id})
    assert db_session.execute(text("SELECT count(*) FROM location_fix_default")).scalar() == 1
    partitions.ensure_partitions(db_session, [date(2030, 3, 1)])
    assert db_session.execute(text("SELECT count(*) FROM location_fix_default")).scalar() == 0
    assert db_session.execute(text("SELECT count(*) FROM location_fix_y2030m03")).scalar() == 1
    db_session.rollback()


def test_release_ends_tracking_and_its_gap_alerts(app, client, clock, db_session, tracked, phone):
    person = db_session.get(Person, tracked.id)
    person.status, person.released_at = "released", START + timedelta(hours=1)
    db_session.commit()

    assert sweep(app, START + timedelta(hours=8))["location_gap"] == 0
    assert tracking.active_tracking(db_session, person, START + timedelta(hours=2)) is None


def test_tracking_without_any_fix_is_a_gap_from_its_start(app, tracked):
    assert sweep(app, START + timedelta(hours=8))["location_gap"] == 1
