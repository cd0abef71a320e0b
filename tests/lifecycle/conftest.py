"""Fixtures for the data-lifecycle tests: every test runs on the filesystem store and on the S3 endpoint."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def blob_settings(blob_backend: dict[str, Any]) -> dict[str, Any]:
    return blob_backend
