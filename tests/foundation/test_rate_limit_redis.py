"""With flask-limiter on Redis (CHECKIN_TEST_REDIS_URL) the login limits hold too: they are counted in the database."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.foundation.helpers import LOGIN, assert_problem


@pytest.fixture
def app_overrides():
    url = os.environ.get("CHECKIN_TEST_REDIS_URL")
    if not url:
        pytest.skip("CHECKIN_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {url} is not reachable: {exc}")
    return {"RATELIMIT_STORAGE_URL": url, "LOGIN_FAILURE_LIMIT": "3 per minute"}


def test_failed_logins_are_limited_with_redis_storage(app, client, db_session):
    from sqlalchemy import func, select

    from storage.models import LoginAttempt
    from web.limiter import limiter

    assert type(limiter.storage).__name__.lower().startswith("redis")
    username = f"nobody-{uuid.uuid4().hex[:12]}"
    for _ in range(3):
        assert_problem(client.post(LOGIN, json={"username": username, "password": "wrong"}), 401,
                       "invalid_credentials")

    assert_problem(client.post(LOGIN, json={"username": username, "password": "wrong"}), 429, "rate_limited")
    # The counter is shared through the database (every worker, API and console), not through Redis.
    assert db_session.scalar(select(func.count()).where(LoginAttempt.username == username)) == 3
