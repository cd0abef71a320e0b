"""Every error is application/problem+json with a stable code, and a rejected request writes nothing."""

from __future__ import annotations

import json

from storage.models import AuthSession, Device
from tests.factories import PASSWORD
from tests.foundation.helpers import LOGIN, assert_problem, count_rows


def test_malformed_json_is_invalid_json(client, db_session, officer):
    response = client.post(LOGIN, data='{"username": "officer1", "password": ', content_type="application/json")

    assert_problem(response, 400, "invalid_json")
    assert count_rows(db_session, AuthSession) == 0


def test_wrong_types_name_each_field(client, db_session, officer):
    response = client.post(LOGIN, json={"username": 123, "password": ["x"], "device_id": {"a": 1}})

    body = assert_problem(response, 422, "validation_failed")
    assert set(body["errors"]) == {"username", "password", "device_id"}
    assert count_rows(db_session, AuthSession) == 0


def test_missing_fields_are_named(client):
    body = assert_problem(client.post(LOGIN, json={}), 422, "validation_failed")

    assert set(body["errors"]) == {"username", "password"}


def test_unknown_field_is_rejected_even_with_good_credentials(client, db_session, officer):
    response = client.post(LOGIN, json={"username": "officer1", "password": PASSWORD, "remember_me": True})

    body = assert_problem(response, 422, "validation_failed")
    assert list(body["errors"]) == ["remember_me"]
    assert count_rows(db_session, AuthSession) == 0


def test_json_that_is_not_an_object_is_validation_failed(client, db_session, person):
    response = client.post(LOGIN, data=json.dumps(["P001", PASSWORD, "phone-1"]), content_type="application/json")

    assert_problem(response, 422, "validation_failed")
    assert count_rows(db_session, AuthSession) == 0
    assert count_rows(db_session, Device) == 0


def test_empty_strings_are_validation_failed(client, db_session, officer):
    response = client.post(LOGIN, json={"username": "", "password": "", "device_id": ""})

    body = assert_problem(response, 422, "validation_failed")
    assert set(body["errors"]) == {"username", "password", "device_id"}


def test_wrong_method_is_405_with_allow_header(client):
    response = client.get(LOGIN)

    assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    assert "GET" not in response.headers["Allow"]


def test_unknown_route_is_404_problem(client):
    assert_problem(client.get("/api/v1/no/such/route"), 404, "not_found")
    assert_problem(client.post("/api/v1/no/such/route", json={}), 404, "not_found")


def test_unexpected_exception_is_500_without_internals(app, client):
    def boom():
        raise RuntimeError("secret internal detail at /srv/checkin")

    app.add_url_rule("/_test/boom", "test_boom", boom)

    body = assert_problem(client.get("/_test/boom"), 500, "internal_error")
    assert "secret internal detail" not in json.dumps(body)
