"""Login rate limits: per username for failures (LOGIN_FAILURE_LIMIT) and per address (LOGIN_RATE_LIMIT)."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD
from tests.foundation.helpers import LOGIN, assert_problem


def _login(client, username: str, password: str):
    return client.post(LOGIN, json={"username": username, "password": password})


def test_repeated_failures_for_one_username_are_rate_limited(client, officer):
    # Default LOGIN_FAILURE_LIMIT is "5 per 5 minutes".
    for _ in range(5):
        assert_problem(_login(client, "officer1", "wrong-password"), 401, "invalid_credentials")

    locked = _login(client, "officer1", PASSWORD)

    body = assert_problem(locked, 429, "rate_limited")
    assert "access_token" not in body
    assert locked.headers.get("Retry-After")


class TestSmallFailureLimit:
    @pytest.fixture
    def app_overrides(self):
        return {"LOGIN_FAILURE_LIMIT": "2 per 5 minutes"}

    def test_failure_limit_is_per_username(self, client, officer):
        for _ in range(2):
            assert_problem(_login(client, "someone-else", "wrong-password"), 401, "invalid_credentials")
        assert_problem(_login(client, "someone-else", "wrong-password"), 429, "rate_limited")

        assert _login(client, "officer1", PASSWORD).status_code == 200

    def test_successful_logins_do_not_count_towards_failure_limit(self, client, officer):
        for _ in range(3):
            assert _login(client, "officer1", PASSWORD).status_code == 200
        for _ in range(2):
            assert_problem(_login(client, "officer1", "wrong-password"), 401, "invalid_credentials")

        assert_problem(_login(client, "officer1", "wrong-password"), 429, "rate_limited")

    def test_rejected_bodies_do_not_count_towards_failure_limit(self, client, officer):
        for _ in range(3):
            assert_problem(client.post(LOGIN, json={"username": "officer1"}), 422, "validation_failed")

        assert _login(client, "officer1", PASSWORD).status_code == 200


class TestPerAddressLimit:
    @pytest.fixture
    def app_overrides(self):
        return {"LOGIN_RATE_LIMIT": "3 per minute", "LOGIN_FAILURE_LIMIT": "100 per minute"}

    def test_any_login_counts_towards_address_limit(self, client, officer):
        assert _login(client, "officer1", PASSWORD).status_code == 200
        assert_problem(_login(client, "nobody", "wrong-password"), 401, "invalid_credentials")
        assert _login(client, "officer1", PASSWORD).status_code == 200

        assert_problem(_login(client, "officer1", PASSWORD), 429, "rate_limited")
