"""POST /api/v1/auth/login for officers and persons."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import AuthSession, Device
from tests.factories import PASSWORD, make_person
from tests.foundation.helpers import LOGIN, assert_problem, count_rows


def test_officer_login_returns_token_pair(client, db_session, officer):
    response = client.post(LOGIN, json={"username": "officer1", "password": PASSWORD})

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "role"}
    assert body["token_type"] == "Bearer"
    assert body["role"] == "officer"
    assert body["expires_in"] == 15 * 60
    assert body["access_token"] != body["refresh_token"]
    db_session.rollback()
    auth = db_session.scalars(select(AuthSession)).one()
    assert (auth.account_id, auth.person_id, auth.role, auth.revoked_at) == (officer.id, None, "officer", None)


def test_wrong_password_and_unknown_user_answer_alike(client, db_session, officer):
    wrong = client.post(LOGIN, json={"username": "officer1", "password": "not-the-password"})
    unknown = client.post(LOGIN, json={"username": "nobody", "password": "not-the-password"})

    wrong_body = assert_problem(wrong, 401, "invalid_credentials")
    assert assert_problem(unknown, 401, "invalid_credentials") == wrong_body
    assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")
    assert count_rows(db_session, AuthSession) == 0


def test_disabled_officer_answers_like_wrong_password(client, db_session, officer):
    officer.is_active = False
    db_session.commit()

    disabled = client.post(LOGIN, json={"username": "officer1", "password": PASSWORD})
    wrong = client.post(LOGIN, json={"username": "officer1", "password": "not-the-password"})

    assert assert_problem(disabled, 401, "invalid_credentials") == assert_problem(wrong, 401, "invalid_credentials")
    assert count_rows(db_session, AuthSession) == 0


def test_person_login_needs_device_id(client, db_session, person):
    response = client.post(LOGIN, json={"username": "P001", "password": PASSWORD})

    body = assert_problem(response, 422, "validation_failed")
    assert "device_id" in body["errors"]
    assert count_rows(db_session, AuthSession) == 0
    assert count_rows(db_session, Device) == 0


def test_person_first_device_is_bound_second_is_allowed_but_not_bound(client, db_session, person):
    first = client.post(LOGIN, json={"username": "P001", "password": PASSWORD, "device_id": "phone-1"})
    again = client.post(LOGIN, json={"username": "P001", "password": PASSWORD, "device_id": "phone-1"})
    second = client.post(LOGIN, json={"username": "P001", "password": PASSWORD, "device_id": "phone-2"})

    assert first.status_code == 200 and first.get_json()["role"] == "person"
    assert again.status_code == 200
    assert second.status_code == 200 and second.get_json()["role"] == "person"
    db_session.rollback()
    devices = {d.device_id: d.is_bound for d in db_session.scalars(select(Device).where(Device.person_id == person.id))}
    assert devices == {"phone-1": True, "phone-2": False}
    sessions = db_session.scalars(select(AuthSession).order_by(AuthSession.created_at)).all()
    assert [(s.role, s.person_id) for s in sessions] == [("person", person.id)] * 3
    assert sorted(s.device_id for s in sessions) == ["phone-1", "phone-1", "phone-2"]


def test_released_person_cannot_log_in(client, db_session, office):
    make_person(db_session, office, "P002", status="released")

    released = client.post(LOGIN, json={"username": "P002", "password": PASSWORD, "device_id": "phone-1"})
    wrong = client.post(LOGIN, json={"username": "P002", "password": "not-the-password", "device_id": "phone-1"})

    assert assert_problem(released, 401, "invalid_credentials") == assert_problem(wrong, 401, "invalid_credentials")
    assert count_rows(db_session, AuthSession) == 0
    assert count_rows(db_session, Device) == 0
