"""Fixtures for the check-in tests: an office with its staff, a supervised person and their phone."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def phone(auth: Any, person: Any) -> dict[str, str]:
    """The person's headers from their first phone, which the first login binds."""
    return auth.person(person.code, device_id="phone-1")


@pytest.fixture
def blob_settings(blob_backend: dict[str, Any]) -> dict[str, Any]:
    """Every check-in test runs on the filesystem store and on the S3 endpoint."""
    return blob_backend
