"""Fixtures for the supervision rules: a fixed Monday in Shanghai, offices, officers, persons and check-in rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from supervision.clock import FrozenClock
from tests.factories import make_office, make_officer, make_person

# Monday 30 November 2026, 11:00 in Shanghai (03:00 UTC): inside the default 08:00-20:00 window.
MONDAY_11H = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
# Registered well before: every window of the last weeks applies to them unless a test says otherwise.
LONG_AGO = datetime(2026, 10, 1, tzinfo=UTC)

@pytest.fixture
def clock() -> FrozenClock:
    """The app clock, at a known Monday so duty windows are predictable."""
    return FrozenClock(MONDAY_11H)


@pytest.fixture
def other_office(db_session: Any) -> Any:
    return make_office(db_session, "O2", county="C2")


@pytest.fixture
def other_officer(db_session: Any, other_office: Any) -> Any:
    return make_officer(db_session, other_office, "officer2")


@pytest.fixture
def person(db_session: Any, office: Any) -> Any:
    return make_person(db_session, office, "P001", supervision_level="strict", created_at=LONG_AGO)


@pytest.fixture
def config(app: Any) -> dict[str, Any]:
    """The app's resolved settings, as the CLI would hand them to the sweep."""
    return app.config["CHECKIN"]
