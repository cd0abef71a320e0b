"""Login limits counted in the database: shared by the API and console logins, by every app instance (gunicorn
worker) on one database, holding against the right password and under concurrent guesses, until the window passes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.blobs import generate_key
from storage.models import LoginAttempt
from supervision.sweep import run_sweep
from tests.console.conftest import Console
from tests.factories import PASSWORD
from tests.foundation.helpers import LOGIN, assert_problem


def _login(client: Any, username: str = "officer1", password: str = PASSWORD) -> Any:
    return client.post(LOGIN, json={"username": username, "password": password})


@pytest.fixture
def second_app(app: Any, database_url: str, tmp_path: Path, clock: Any, app_overrides: dict[str, Any]) -> Iterator[Any]:
    """Another app (as another gunicorn worker would be) on the same database, with its own in-memory limiter."""
    from server import create_app

    other = create_app({"ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance2"), "DATABASE_URL": database_url,
                        "JWT_SECRET_KEY": "test-secret-" + "y" * 40, "ENCRYPTION_KEY": generate_key(),
                        "RATELIMIT_STORAGE_URL": "memory://", "CLOCK": clock, **app_overrides})
    try:
        yield other
    finally:
        other.extensions["checkin.db"].engine.dispose()


def test_the_right_password_is_refused_while_locked_until_the_window_passes(client, officer, clock):
    for _ in range(5):  # LOGIN_FAILURE_LIMIT "5 per 5 minutes"
        assert_problem(_login(client, password="wrong-password"), 401, "invalid_credentials")

    locked = _login(client)
    assert_problem(locked, 429, "rate_limited")
    assert 1 <= int(locked.headers["Retry-After"]) <= 300

    clock.advance(timedelta(minutes=4, seconds=59))
    assert_problem(_login(client), 429, "rate_limited")
    clock.advance(timedelta(seconds=2))
    assert _login(client).status_code == 200


def test_failures_add_up_across_the_api_and_the_console(client, officer):
    console = Console(client)
    for _ in range(3):
        assert_problem(_login(client, password="wrong-password"), 401, "invalid_credentials")
    for _ in range(2):
        assert console.login(password="wrong-password").status_code == 401

    assert_problem(_login(client), 429, "rate_limited")
    refused = console.login(password=PASSWORD)
    assert refused.status_code == 429 and refused.headers.get("Retry-After")


def test_the_limit_holds_across_two_app_instances_on_one_database(client, second_app, officer):
    other = second_app.test_client()
    for n in range(5):
        assert_problem(_login(client if n % 2 else other, password="wrong-password"), 401, "invalid_credentials")

    assert_problem(_login(client), 429, "rate_limited")
    assert_problem(_login(other), 429, "rate_limited")


def test_a_successful_login_forgives_earlier_failures(client, officer):
    for _ in range(4):
        assert_problem(_login(client, password="wrong-password"), 401, "invalid_credentials")
    assert _login(client).status_code == 200
    for _ in range(5):
        assert_problem(_login(client, password="wrong-password"), 401, "invalid_credentials")

    assert_problem(_login(client), 429, "rate_limited")


def test_a_right_password_without_a_device_is_not_a_failure(client, person):
    for _ in range(6):
        assert_problem(_login(client, "P001"), 422, "validation_failed")

    logged_in = client.post(LOGIN, json={"username": "P001", "password": PASSWORD, "device_id": "phone-1"})
    assert logged_in.status_code == 200


def test_the_username_is_normalised_as_the_console_does(client, officer):
    for name in ("OFFICER1", " officer1", "Officer1 ", "officer1", "oFFicer1"):
        _login(client, username=name, password="wrong-password")

    assert_problem(_login(client), 429, "rate_limited")


class TestAddressLimit:
    @pytest.fixture
    def app_overrides(self):
        return {"LOGIN_RATE_LIMIT": "4 per minute", "LOGIN_FAILURE_LIMIT": "100 per minute"}

    def test_successes_and_failures_count_and_success_does_not_reset_it(self, client, second_app, officer, clock):
        other = second_app.test_client()
        assert _login(client).status_code == 200
        assert_problem(_login(other, "nobody", "wrong-password"), 401, "invalid_credentials")
        assert _login(other).status_code == 200
        assert _login(client).status_code == 200

        refused = _login(client)
        assert_problem(refused, 429, "rate_limited")
        assert_problem(_login(other, "someone-else", "x"), 429, "rate_limited")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        clock.advance(timedelta(seconds=61))
        assert _login(other).status_code == 200

    def test_another_address_is_not_limited(self, client, officer):
        for _ in range(4):
            _login(client, "nobody", "wrong-password")
        assert_problem(_login(client), 429, "rate_limited")

        elsewhere = client.post(LOGIN, json={"username": "officer1", "password": PASSWORD},
                                environ_overrides={"REMOTE_ADDR": "10.0.0.9"})
        assert elsewhere.status_code == 200


class TestConcurrentGuesses:
    @pytest.fixture
    def app_overrides(self):
        return {"LOGIN_FAILURE_LIMIT": "3 per 5 minutes"}

    def test_parallel_wrong_passwords_never_pass_the_limit(self, app, second_app, officer):
        apps = [app, second_app]
        statuses: list[int] = []
        start = threading.Barrier(8)

        def guess(n: int) -> None:
            client = apps[n % 2].test_client()
            start.wait()
            statuses.append(_login(client, password=f"wrong-{n}").status_code)

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(statuses) == [401] * 3 + [429] * 5, statuses
        assert_problem(_login(app.test_client()), 429, "rate_limited")


def test_the_sweep_prunes_old_attempts(client, officer, clock, db_session):
    _login(client, password="wrong-password")
    clock.advance(timedelta(days=1, minutes=1))
    _login(client, password="wrong-password")

    counts = run_sweep(session=db_session, now=clock.now(), settings={})
    db_session.commit()

    assert counts["login_attempts_pruned"] == 1
    assert db_session.scalar(select(func.count()).select_from(LoginAttempt)) == 1
