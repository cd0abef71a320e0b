"""Bodies over MAX_CONTENT_LENGTH are refused with 413 problem+json before anything is written."""

from __future__ import annotations

import io
import json

import pytest
from flask import jsonify, request

from storage.models import AuthSession
from tests.factories import PASSWORD
from tests.foundation.helpers import LOGIN, assert_problem, count_rows


@pytest.fixture
def app_overrides():
    return {"MAX_CONTENT_LENGTH": 1000}


def test_oversize_json_is_request_too_large(client, db_session, officer):
    body = json.dumps({"username": "officer1", "password": PASSWORD, "device_id": "x" * 2000})

    response = client.post(LOGIN, data=body, content_type="application/json")

    assert_problem(response, 413, "request_too_large")
    assert count_rows(db_session, AuthSession) == 0


def test_body_under_limit_is_accepted(client, officer):
    response = client.post(LOGIN, json={"username": "officer1", "password": PASSWORD})

    assert response.status_code == 200


def test_oversize_multipart_is_image_too_large(app, client):
    # The upload endpoints are not written yet; a test-only one reads the parts the way they will.
    seen: list[int] = []

    def upload():
        seen.append(len(request.files))
        return jsonify(parts=len(request.files))

    app.add_url_rule("/_test/upload", "test_upload", upload, methods=["POST"])

    response = client.post("/_test/upload", data={"photo": (io.BytesIO(b"\xff\xd8" + b"x" * 2000), "a.jpg")},
                           content_type="multipart/form-data")

    assert_problem(response, 413, "image_too_large")
    assert seen == []
    small = client.post("/_test/upload", data={"photo": (io.BytesIO(b"\xff\xd8" + b"x" * 100), "a.jpg")},
                        content_type="multipart/form-data")
    assert small.status_code == 200 and small.get_json() == {"parts": 1}
