"""storage.db: rollback clean-ups (e.g. deleting a blob written for an insert that failed) and UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError, StatementError

from storage.db import Base, Database, on_rollback
from storage.models import Office


@pytest.fixture
def memory_db():
    db = Database()
    db.configure("sqlite://")
    Base.metadata.create_all(db.engine)
    yield db
    db.engine.dispose()


def test_rollback_runs_cleanups(memory_db):
    ran: list[str] = []
    session = memory_db.session()
    session.add(Office(code="A", name="a", county="c"))
    session.flush()
    on_rollback(session, lambda: ran.append("delete blob"))

    session.rollback()

    assert ran == ["delete blob"]
    session.close()


def test_commit_forgets_cleanups(memory_db):
    ran: list[str] = []
    session = memory_db.session()
    session.add(Office(code="A", name="a", county="c"))
    on_rollback(session, lambda: ran.append("delete blob"))

    session.commit()
    session.rollback()
    session.close()

    assert ran == []


def test_failing_cleanup_does_not_hide_the_others(memory_db):
    ran: list[str] = []
    session = memory_db.session()
    on_rollback(session, lambda: 1 / 0)
    on_rollback(session, lambda: ran.append("second"))
    session.add(Office(code="A", name="a", county="c"))
    session.flush()

    session.rollback()

    assert ran == ["second"]
    session.close()


def test_transaction_context_rolls_back_and_cleans_up_on_error(memory_db):
    ran: list[str] = []

    with pytest.raises(RuntimeError), memory_db.transaction() as session:
        session.add(Office(code="A", name="a", county="c"))
        session.flush()
        on_rollback(session, lambda: ran.append("delete blob"))
        raise RuntimeError("boom")

    assert ran == ["delete blob"]
    with memory_db.transaction() as session:
        assert session.query(Office).count() == 0


def test_savepoint_rollback_keeps_outer_cleanups(memory_db):
    # As in supervision.alerts.raise_alert: a savepoint that loses a dedupe race inside a check-in request.
    ran: list[str] = []
    session = memory_db.session()
    session.add(Office(code="A", name="a", county="c"))
    session.flush()
    on_rollback(session, lambda: ran.append("delete check-in photo"))
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(Office(code="A", name="duplicate", county="c"))

    session.commit()
    session.close()

    assert ran == []


def test_timestamps_come_back_aware_utc(db_session):
    shanghai = timezone(timedelta(hours=8))
    at = datetime(2026, 11, 26, 9, 30, tzinfo=shanghai)
    db_session.add(Office(code="TZ", name="tz", county="c", created_at=at))
    db_session.commit()
    db_session.expire_all()

    stored = db_session.query(Office).filter_by(code="TZ").one().created_at

    assert stored == at
    assert stored.utcoffset() == timedelta(0) and stored.tzinfo is not None
    assert stored.hour == 1


def test_naive_timestamp_is_refused(db_session):
    db_session.add(Office(code="TZ", name="tz", county="c", created_at=datetime(2026, 11, 26, 9, 30)))

    with pytest.raises(StatementError, match="naive datetime"):
        db_session.flush()


def test_default_timestamp_is_now_utc(db_session):
    before = datetime.now(UTC)
    db_session.add(Office(code="TZ", name="tz", county="c"))
    db_session.commit()
    db_session.expire_all()

    created = db_session.query(Office).filter_by(code="TZ").one().created_at

    assert before - timedelta(seconds=1) <= created <= datetime.now(UTC) + timedelta(seconds=1)


def test_savepoint_rollback_runs_cleanups_registered_inside_it(memory_db):
    ran: list[str] = []
    session = memory_db.session()
    on_rollback(session, lambda: ran.append("outer"))
    with pytest.raises(RuntimeError), session.begin_nested():
        on_rollback(session, lambda: ran.append("inner"))
        raise RuntimeError("savepoint fails")
    assert ran == ["inner"]
    session.rollback()
    session.close()
    assert ran == ["inner", "outer"]
