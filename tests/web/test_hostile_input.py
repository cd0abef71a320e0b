"""Hostile input is a 4xx with a stable code, never a 500: ids, cursors, JSON bodies and dates out of range."""

from __future__ import annotations

import base64
import io
import json
from types import SimpleNamespace
from typing import Any

import pytest

from supervision.passive import exif_capture_time, exif_time_invalid, passive_flags
from web import jsonsafe

PERSONS = "/api/v1/officer/persons"
HUGE = "9" * 20
HOSTILE_IDS = [HUGE, "2147483648", "0", "-1", "00", "9" * 5000]


def _cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", [
    "/api/v1/officer/persons/{}", "/api/v1/officer/checkins/{}", "/api/v1/officer/checkins/{}/photo",
    "/api/v1/officer/alerts/{}", "/api/v1/officer/leave-requests/{}", "/api/v1/officer/tasks/{}",
    "/api/v1/officer/video-inspections/{}", "/api/v1/officer/persons/1/faces/{}/photo",
])
def test_a_path_id_no_row_can_have_is_404(client, officer_headers, path):
    for value in HOSTILE_IDS:
        response = client.get(path.format(value), headers=officer_headers)

        assert response.status_code == 404, value
        assert response.get_json()["code"] == "not_found"


def test_the_largest_id_still_reaches_the_endpoint(client, officer_headers):
    response = client.get(f"{PERSONS}/2147483647", headers=officer_headers)

    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


def test_the_openapi_document_states_the_id_range(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    param = next(p for p in spec["paths"]["/api/v1/officer/persons/{person_id}"]["parameters"]
                 if p["name"] == "person_id")
    frame = next(p for p in spec["paths"]["/api/v1/officer/video-inspections/{task_id}/key-frames/{n}"]["parameters"]
                 if p["name"] == "n")

    assert param["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    assert frame["schema"]["minimum"] == 0


@pytest.mark.parametrize("path", ["/api/v1/officer/checkins", "/api/v1/officer/alerts", "/api/v1/officer/audit",
                                  "/api/v1/officer/tasks", "/api/v1/officer/leave-requests",
                                  "/api/v1/officer/video-inspections"])
def test_a_query_id_out_of_range_is_422(client, officer_headers, path):
    for value in [HUGE, "2147483648", "0", "-3", "1.5", "abc", "9" * 5000]:
        response = client.get(f"{path}?person_id={value}", headers=officer_headers)

        assert response.status_code == 422, value
        body = response.get_json()
        assert body["code"] == "validation_failed" and "person_id" in body["errors"]


def test_a_form_id_out_of_range_is_422(client, auth, person):
    headers = auth.person("P001")
    for value in [HUGE, "2147483648", "0", "-1"]:
        _assert_form_refused(client, headers, value)


def _assert_form_refused(client: Any, headers: dict[str, str], value: str) -> None:
    form = {"latitude": "31.23", "longitude": "121.47", "accuracy_m": "10",
            "captured_at": "2026-01-01T00:00:00+00:00", "task_id": value,
            "photo": (io.BytesIO(b"not really a photo"), "selfie.jpg")}
    response = client.post("/api/v1/checkins", data=form, headers=headers, content_type="multipart/form-data")

    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_failed" and "task_id" in body["errors"]


BAD_CURSORS = [
    "!!!", "bm90IGpzb24", _cursor("x"), _cursor(2**40), _cursor(0), _cursor(-1), _cursor(True), _cursor([1]),
    _cursor(1.5), _cursor(None), base64.urlsafe_b64encode(b'{"before": 1}').decode(), "A" * 1000,
    base64.urlsafe_b64encode(b'{"after": ' + b"[" * 5000 + b"]" * 5000 + b"}").decode()[:500],
    "é€",
]


@pytest.mark.parametrize("path", ["/api/v1/officer/checkins", "/api/v1/officer/persons", "/api/v1/officer/alerts"])
def test_a_bad_cursor_is_422_on_the_cursor_field(client, officer_headers, path):
    for cursor in BAD_CURSORS:
        response = client.get(path, query_string={"cursor": cursor}, headers=officer_headers)

        assert response.status_code == 422, (cursor, response.get_json())
        body = response.get_json()
        assert body["code"] == "validation_failed" and "cursor" in body["errors"]


def test_a_bad_task_cursor_is_422(client, auth, person):
    headers = auth.person("P001")
    for position in [["2026-01-01T00:00:00+00:00", 2**40], ["x", True], [1, 2], "x", 5]:
        response = client.get("/api/v1/tasks", query_string={"cursor": _cursor(position)}, headers=headers)

        assert response.status_code == 422, position
        assert "cursor" in response.get_json()["errors"]


def test_a_good_cursor_still_pages(client, officer_headers):
    response = client.get("/api/v1/officer/checkins", query_string={"cursor": _cursor(5)}, headers=officer_headers)

    assert response.status_code == 200 and response.get_json()["items"] == []


HOSTILE_JSON = {
    "deep_lists": "[" * 10_000 + "]" * 10_000,
    "deep_objects": '{"a":' * 10_000 + "1" + "}" * 10_000,
    "moderately_deep": "[" * 40 + "]" * 40,
    "long_int": '{"respond_within_minutes": ' + "9" * 100_000 + "}",
    "long_float": '{"respond_within_minutes": 1.' + "0" * 5000 + "}",
    "huge_float": '{"respond_within_minutes": 1e400}',
    "nan": '{"respond_within_minutes": NaN}',
    "infinity": '{"respond_within_minutes": -Infinity}',
    "lone_surrogate": '{"respond_within_minutes": 10, "\\ud800": 1}',
    "surrogate_value": '{"note": "\\udc00x"}',
    "not_utf8": b'{"note": "\xff\xfe"}',
    "truncated": '{"respond_within_minutes": ',
}


def test_hostile_json_is_400_invalid_json(client, officer_headers, person):
    for name, body in HOSTILE_JSON.items():
        response = client.post(f"{PERSONS}/{person.id}/spot-checks", data=body, headers=officer_headers,
                               content_type="application/json")

        assert response.status_code == 400, (name, response.get_json())
        assert response.get_json()["code"] == "invalid_json"


def test_a_nul_character_in_a_string_is_422(client, officer_headers, db_session):
    response = client.get(PERSONS, query_string={"q": "a\x00b"}, headers=officer_headers)

    assert response.status_code == 422 and "q" in response.get_json()["errors"]


def test_hostile_json_on_login_is_400_not_a_crash_in_the_rate_limit_key(client):
    response = client.post("/api/v1/auth/login", data="[" * 10_000 + "]" * 10_000, content_type="application/json")

    assert response.status_code == 400 and response.get_json()["code"] == "invalid_json"


def test_the_app_json_provider_refuses_the_same(app):
    for body in ("[" * 10_000 + "]" * 10_000, "9" * 100_000, '"\\ud800"'):
        with pytest.raises(ValueError):
            app.json.loads(body)
    assert app.json.loads('{"a": [1, 2.5, "\\u00e9"]}') == {"a": [1, 2.5, "é"]}


def test_a_request_get_json_failure_is_invalid_json(app):
    with app.test_request_context("/", method="POST", data="[" * 10_000, content_type="application/json"):
        from flask import request

        with pytest.raises(jsonsafe.InvalidJsonBody):
            request.get_json()
        assert request.get_json(silent=True) is None


def _leave(start_at: str, end_at: str) -> dict[str, Any]:
    return {"start_at": start_at, "end_at": end_at, "destination": "Shanghai", "reason": "Visit"}


@pytest.mark.parametrize(("body", "field"), [
    (_leave("0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00+00:00"), "start_at"),
    (_leave("2026-01-01T00:00:00+00:00", "9999-12-31T23:59:59-12:00"), "end_at"),
    (_leave("1899-12-31T00:00:00+00:00", "2026-01-01T00:00:00+00:00"), "start_at"),
])
def test_an_implausible_leave_time_is_422(client, auth, person, body, field):
    response = client.post("/api/v1/leave-requests", json=body, headers=auth.person("P001"))

    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize("captured_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_an_implausible_capture_time_is_422(client, auth, person, captured_at):
    form = {"latitude": "31.23", "longitude": "121.47", "accuracy_m": "10", "captured_at": captured_at,
            "photo": (io.BytesIO(b"not really a photo"), "selfie.jpg")}
    response = client.post("/api/v1/checkins", data=form, headers=auth.person("P001"),
                           content_type="multipart/form-data")

    assert response.status_code == 422
    assert "captured_at" in response.get_json()["errors"]


@pytest.mark.parametrize("field", ["birth_date", "start_date", "end_date"])
@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31"])
def test_an_implausible_person_date_is_422(client, officer_headers, office, field, value):
    body = {"code": "HX1", "name": "Hostile", "gender": "male", "birth_date": "1990-01-01",
            "sentence_type": "probation", "supervision_level": "ordinary", "start_date": "2026-01-01",
            "end_date": "2027-01-01", "office_code": office.code, "password": "long-enough-pw", field: value}
    response = client.post(PERSONS, json=body, headers=officer_headers)

    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_an_implausible_end_date_update_is_422(client, officer_headers, person):
    response = client.patch(f"{PERSONS}/{person.id}", json={"end_date": "9999-12-31"}, headers=officer_headers)

    assert response.status_code == 422 and "end_date" in response.get_json()["errors"]


@pytest.mark.parametrize("raw", ["0000:00:00 00:00:00", "9999:12:31 23:59:59", "0001:01:01 00:00:00", "garbage",
                                 "2026:13:45 99:99:99", "    ", "2026:01:01\x0000:00:00"])
def test_an_implausible_exif_time_is_a_flag_not_an_exception(raw):
    exif = {"DateTimeOriginal": raw, "OffsetTimeOriginal": "+14:00"}
    person = SimpleNamespace(id=1, office=SimpleNamespace(timezone="Asia/Shanghai"))
    captured = exif_capture_time({"DateTimeOriginal": "2026:01:01 08:00:00"}, "Asia/Shanghai")
    assert captured is not None

    assert exif_capture_time(exif, "Asia/Shanghai") is None
    flags = passive_flags(session=None, person=person, device_id=None, exif=exif,  # type: ignore[arg-type]
                          captured_at=captured)
    assert ("exif_time_invalid" in flags) == bool(raw.strip())
    assert "exif_time_mismatch" not in flags


def test_a_plausible_exif_time_is_not_flagged_invalid():
    exif = {"DateTimeOriginal": "2026:01:01 08:00:00", "OffsetTimeOriginal": "+08:00"}

    assert not exif_time_invalid(exif)
    assert exif_capture_time(exif, "UTC") is not None
    assert not exif_time_invalid({})


@pytest.mark.parametrize("path", ["/console/persons/{}", "/console/checkins/{}", "/console/video-inspections/{}",
                                  "/console/video-inspections/1/key-frames/{}"])
def test_console_paths_bound_their_ids_too(client, path):
    for value in (HUGE, "2147483648", "9" * 5000):
        assert client.get(path.format(value)).status_code == 404, value
