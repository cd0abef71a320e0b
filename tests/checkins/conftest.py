"""Fixtures for the check-in tests: an office with its staff, a supervised person and their phone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import make_office, make_officer, make_person


@pytest.fixture
def office(db_session: Any) -> Any:
    return make_office(db_session, "O1", county="C1")


@pytest.fixture
def officer(db_session: Any, office: Any) -> Any:
    return make_officer(db_session, office, "officer1")


@pytest.fixture
def officer_headers(auth: Any, officer: Any) -> dict[str, str]:
    return auth.headers(officer.username)


@pytest.fixture
def person(db_session: Any, office: Any) -> Any:
    """A supervised person living at helpers.HOME (3 km radius), without reference photos."""
    return make_person(db_session, office, "P001")


@pytest.fixture
def phone(auth: Any, person: Any) -> dict[str, str]:
    """The person's headers from their first phone, which the first login binds."""
    return auth.person(person.code, device_id="phone-1")
