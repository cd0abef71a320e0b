"""Access/refresh tokens: rotation, reuse detection, logout, expiry and malformed tokens."""

from __future__ import annotations

from datetime import timedelta

from flask_jwt_extended import create_access_token, decode_token
from sqlalchemy import select

from storage.blobs import generate_key
from storage.models import AuthSession
from tests.factories import PASSWORD
from tests.foundation.helpers import LOGIN, LOGOUT, PROBE_ME, REFRESH, assert_problem, bearer


def _login(client) -> dict:
    response = client.post(LOGIN, json={"username": "officer1", "password": PASSWORD})
    assert response.status_code == 200
    return response.get_json()


def test_refresh_returns_new_working_pair(client, officer, probe_calls):
    first = _login(client)

    response = client.post(REFRESH, headers=bearer(first["refresh_token"]))

    assert response.status_code == 200
    second = response.get_json()
    assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in", "role"}
    assert second["role"] == "officer" and second["token_type"] == "Bearer"
    assert second["refresh_token"] != first["refresh_token"]
    me = client.get(PROBE_ME, headers=bearer(second["access_token"]))
    assert me.status_code == 200 and me.get_json()["id"] == officer.id
    assert client.post(REFRESH, headers=bearer(second["refresh_token"])).status_code == 200


def test_reused_refresh_token_revokes_whole_session(app, client, db_session, officer, probe_calls):
    first = _login(client)
    second = client.post(REFRESH, headers=bearer(first["refresh_token"])).get_json()

    reuse = client.post(REFRESH, headers=bearer(first["refresh_token"]))

    assert_problem(reuse, 401, "token_revoked")
    assert_problem(client.post(REFRESH, headers=bearer(second["refresh_token"])), 401, "token_revoked")
    assert_problem(client.get(PROBE_ME, headers=bearer(second["access_token"])), 401, "token_revoked")
    assert_problem(client.get(PROBE_ME, headers=bearer(first["access_token"])), 401, "token_revoked")
    db_session.rollback()
    auth = db_session.scalars(select(AuthSession)).one()
    assert auth.revoked_at is not None and auth.revoked_reason == "refresh_reuse"
    assert probe_calls == []


def test_reuse_does_not_end_other_sessions(client, officer, probe_calls):
    stolen = _login(client)
    other = _login(client)
    client.post(REFRESH, headers=bearer(stolen["refresh_token"]))

    assert_problem(client.post(REFRESH, headers=bearer(stolen["refresh_token"])), 401, "token_revoked")

    assert client.get(PROBE_ME, headers=bearer(other["access_token"])).status_code == 200


def test_access_token_is_not_a_refresh_token(client, officer):
    tokens = _login(client)

    response = client.post(REFRESH, headers=bearer(tokens["access_token"]))

    assert_problem(response, 401, "invalid_token")
    # The failed attempt did not rotate anything: the real refresh token still works.
    assert client.post(REFRESH, headers=bearer(tokens["refresh_token"])).status_code == 200


def test_refresh_token_is_not_an_access_token(client, officer, probe_calls):
    tokens = _login(client)

    for response in (client.get(PROBE_ME, headers=bearer(tokens["refresh_token"])),
                     client.post(LOGOUT, headers=bearer(tokens["refresh_token"]))):
        assert_problem(response, 401, "invalid_token")
    assert probe_calls == []
    assert client.get(PROBE_ME, headers=bearer(tokens["access_token"])).status_code == 200


def test_logout_revokes_access_and_refresh_tokens(client, db_session, officer, probe_calls):
    tokens = _login(client)

    response = client.post(LOGOUT, headers=bearer(tokens["access_token"]))

    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(client.get(PROBE_ME, headers=bearer(tokens["access_token"])), 401, "token_revoked")
    assert_problem(client.post(LOGOUT, headers=bearer(tokens["access_token"])), 401, "token_revoked")
    assert_problem(client.post(REFRESH, headers=bearer(tokens["refresh_token"])), 401, "token_revoked")
    db_session.rollback()
    assert db_session.scalars(select(AuthSession.revoked_reason)).one() == "logout"


def test_disabling_an_account_revokes_its_tokens(client, db_session, officer, probe_calls):
    tokens = _login(client)
    officer.is_active = False
    db_session.commit()

    assert_problem(client.get(PROBE_ME, headers=bearer(tokens["access_token"])), 401, "token_revoked")
    assert_problem(client.post(REFRESH, headers=bearer(tokens["refresh_token"])), 401, "token_revoked")


def _token_for_session(app, access_token: str, expires_delta: timedelta) -> str:
    with app.app_context():
        claims = decode_token(access_token)
        return create_access_token(identity=claims["sub"], additional_claims={"sid": claims["sid"],
                                                                              "role": claims["role"]},
                                    expires_delta=expires_delta)


def test_expired_access_token_is_token_expired(app, client, officer, probe_calls):
    tokens = _login(client)
    expired = _token_for_session(app, tokens["access_token"], timedelta(seconds=-1))
    fresh = _token_for_session(app, tokens["access_token"], timedelta(minutes=5))

    response = client.get(PROBE_ME, headers=bearer(expired))

    assert_problem(response, 401, "token_expired")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert probe_calls == []
    # The same claims with a future expiry are accepted, so expiry is what was refused.
    assert client.get(PROBE_ME, headers=bearer(fresh)).status_code == 200


def test_missing_authorization_header_is_unauthorized(client, probe_calls):
    for response in (client.get(PROBE_ME), client.post(LOGOUT), client.post(REFRESH)):
        assert_problem(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert probe_calls == []


def test_garbage_token_is_invalid_token(client, probe_calls):
    for token in ("garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.invalidsignature"):
        assert_problem(client.get(PROBE_ME, headers=bearer(token)), 401, "invalid_token")
    assert probe_calls == []


def test_token_signed_with_another_key_is_invalid(app, client, officer, probe_calls):
    import jwt as pyjwt

    tokens = _login(client)
    with app.app_context():
        claims = decode_token(tokens["access_token"])
    forged = pyjwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256")

    assert_problem(client.get(PROBE_ME, headers=bearer(forged)), 401, "invalid_token")
    assert probe_calls == []


def test_token_lifetimes_follow_config(app, client, officer):
    tokens = _login(client)

    with app.app_context():
        access = decode_token(tokens["access_token"])
        refresh = decode_token(tokens["refresh_token"])

    assert access["type"] == "access" and refresh["type"] == "refresh"
    assert access["exp"] - access["iat"] == 15 * 60 == tokens["expires_in"]
    assert refresh["exp"] - refresh["iat"] == 30 * 24 * 3600
    assert access["sid"] == refresh["sid"]
    assert access["sub"] == f"officer:{officer.id}"


def test_two_apps_in_one_process_each_accept_their_own_tokens(app, client, database_url, tmp_path, officer,
                                                              probe_calls):
    from server import create_app

    other = create_app({"ENV": "testing", "INSTANCE_PATH": str(tmp_path / "other"), "DATABASE_URL": database_url,
                        "JWT_SECRET_KEY": "another-secret-" + "z" * 40, "ENCRYPTION_KEY": generate_key(),
                        "RATELIMIT_STORAGE_URL": "memory://"})
    try:
        tokens = _login(client)
        response = client.get(PROBE_ME, headers=bearer(tokens["access_token"]))
    finally:
        other.extensions["checkin.db"].engine.dispose()

    assert response.status_code == 200, response.get_json()
