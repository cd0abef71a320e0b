"""Console login: session cookie flags, CSRF, persons refused, logout and revocation, idle timeout, lockout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from storage.blobs import generate_key
from storage.models import AuthSession, Device
from supervision import accounts
from tests.console.conftest import PASSWORD, csrf_of
from tests.console.helpers import count


def _session_cookie(response: Any) -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("checkin_console=")]
    assert cookies, response.headers
    return cookies[-1]


def test_login_page_is_chinese_and_sets_a_strict_session_cookie(client):
    page = client.get("/console/login")

    assert page.status_code == 200
    assert "登录" in page.get_data(as_text=True)
    cookie = _session_cookie(page)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # ENV=testing serves plain http


def test_cookie_is_secure_outside_development(tmp_path, database_url):
    from officer_console.blueprint import console_bp
    from server import create_app

    app = create_app({"ENV": "production", "INSTANCE_PATH": str(tmp_path / "instance"),
                      "DATABASE_URL": database_url, "JWT_SECRET_KEY": "prod-secret-" + "y" * 40,
                      "ENCRYPTION_KEY": generate_key(),
                      # The database and rate-limit store of the test run, not the ones production would need.
                      "ALLOW_SQLITE_IN_PRODUCTION": True, "ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION": True})
    if "console" not in app.blueprints:
        app.register_blueprint(console_bp)
    try:
        cookie = _session_cookie(app.test_client().get("/console/login"))
    finally:
        app.extensions["checkin.db"].engine.dispose()

    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_opens_a_session_and_logout_revokes_it(console, world, db_session):
    response = console.login()

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/console/")
    auth = db_session.scalar(select(AuthSession).where(AuthSession.account_id == world.officer.id))
    assert auth is not None and auth.revoked_at is None
    queue = console.get("/console/")
    assert queue.status_code == 200
    assert "officer1" in queue.get_data(as_text=True)

    out = console.post("/console/logout")

    assert out.status_code == 303
    db_session.refresh(auth)
    assert auth.revoked_at is not None and auth.revoked_reason == "logout"
    after = console.get("/console/persons")
    assert after.status_code == 303 and "/console/login" in after.headers["Location"]


def test_cookie_holds_no_more_than_ids(console, world, app):
    console.login()
    serializer = app.session_interface.get_signing_serializer(app)
    cookie = console.client.get_cookie("checkin_console", path="/console")

    data = serializer.loads(cookie.value)

    assert set(data) <= {"console_login", "csrf", "lang", "_flashes"}
    assert set(data["console_login"]) == {"aid", "sid", "seen"}
    assert data["console_login"]["aid"] == world.officer.id


def test_wrong_password_is_refused_with_a_message(console, world):
    response = console.login(password="wrong-password-1")

    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_a_supervised_person_cannot_use_the_console(console, world, db_session):
    response = console.login(username="P001", password=PASSWORD)

    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert count(db_session, AuthSession) == 0
    assert count(db_session, Device) == 0


def test_pages_need_a_login(client, world):
    response = client.get("/console/persons?q=x")

    assert response.status_code == 303
    assert "/console/login?next=/console/persons?q%3Dx" in response.headers["Location"]


def test_post_without_csrf_token_is_refused_visibly(officer_console, world, db_session):
    response = officer_console.client.post(f"/console/persons/{world.person.id}/spot-checks", data={"minutes": "30"})

    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)


def test_post_with_a_foreign_csrf_token_is_refused(officer_console, world):
    response = officer_console.client.post("/console/logout", data={"csrf_token": "not-the-token"})

    assert response.status_code == 400
    assert officer_console.get("/console/persons").status_code == 200  # still logged in


def test_login_itself_needs_the_csrf_token(client, world):
    response = client.post("/console/login", data={"username": "officer1", "password": PASSWORD})

    assert response.status_code == 400


def test_login_replaces_the_csrf_token(console, world):
    before = csrf_of(console.client.get("/console/login"))

    console.login()

    assert console.token and console.token != before


def test_idle_session_expires_and_is_revoked(officer_console, clock, db_session, world):
    clock.advance(timedelta(minutes=29))
    assert officer_console.get("/console/persons").status_code == 200  # activity slides the window
    clock.advance(timedelta(minutes=29))
    assert officer_console.get("/console/persons").status_code == 200

    clock.advance(timedelta(minutes=31))
    response = officer_console.get("/console/persons")

    assert response.status_code == 303 and "/console/login" in response.headers["Location"]
    page = officer_console.get(response.headers["Location"])
    assert "长时间未操作" in page.get_data(as_text=True)
    auth = db_session.scalar(select(AuthSession).where(AuthSession.account_id == world.officer.id))
    assert auth.revoked_reason == "idle_timeout"


class TestShortIdleTimeout:
    @pytest.fixture
    def app_overrides(self):
        return {"CONSOLE_IDLE_MINUTES": 5}

    def test_configured_idle_minutes_apply(self, officer_console, clock):
        clock.advance(timedelta(minutes=6))

        assert officer_console.get("/console/persons").status_code == 303


def test_revoking_the_login_session_ends_the_console_session(officer_console, world, db_session, clock):
    auth = db_session.scalar(select(AuthSession).where(AuthSession.account_id == world.officer.id))
    accounts.revoke_session(session=db_session, session_id=auth.id, now=clock.now(), reason="admin")
    db_session.commit()

    assert officer_console.get("/console/persons").status_code == 303


def test_disabled_account_is_logged_out(officer_console, world, db_session):
    world.officer.is_active = False
    db_session.commit()

    assert officer_console.get("/console/persons").status_code == 303


class TestLockout:
    @pytest.fixture
    def app_overrides(self):
        return {"LOGIN_FAILURE_LIMIT": "2 per 5 minutes"}

    def test_repeated_failures_lock_the_username(self, console, world):
        for _ in range(2):
            assert console.login(password="wrong-password-1").status_code == 401

        locked = console.login()

        assert locked.status_code == 429
        assert "登录尝试过多" in locked.get_data(as_text=True)
        assert locked.headers.get("Retry-After")

    def test_other_usernames_are_not_locked(self, console, world):
        for _ in range(3):
            console.login(username="someone", password="wrong-password-1")

        assert console.login().status_code == 303


def test_next_stays_inside_the_console(console, world):
    token = csrf_of(console.client.get("/console/login"))
    response = console.client.post("/console/login", data={"username": "officer1", "password": PASSWORD,
                                                           "csrf_token": token, "next": "//evil.example/x"})

    assert response.status_code == 303
    assert response.headers["Location"] == "/console/"


def test_language_switch_to_english_and_back(officer_console):
    assert "审核队列" in officer_console.get("/console/").get_data(as_text=True)

    switched = officer_console.get("/console/lang/en?next=/console/persons")

    assert switched.headers["Location"] == "/console/persons"
    assert "Supervised persons" in officer_console.get("/console/persons").get_data(as_text=True)
    officer_console.get("/console/lang/zh")
    assert "矫正对象" in officer_console.get("/console/persons").get_data(as_text=True)


def test_pages_carry_security_headers(officer_console):
    response = officer_console.get("/console/")

    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "no-store" in response.headers["Cache-Control"]


def test_static_assets_are_served_by_the_app(client):
    page = client.get("/console/login").get_data(as_text=True)

    for asset in ("/console/static/console.css", "/console/static/console.js"):
        assert asset in page
        with client.get(asset) as response:
            assert response.status_code == 200 and response.data
