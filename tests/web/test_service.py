"""Service endpoints and the generated OpenAPI document."""

from __future__ import annotations


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_reports_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


def test_readyz_503_when_database_unreachable(client, app):
    from storage.db import Database

    broken = Database()
    broken.configure("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app.extensions["checkin.db"] = broken
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "database_unavailable"


def test_openapi_document_is_generated(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/auth/login" in spec["paths"]


def test_unknown_path_is_problem_json(client):
    response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "not_found"


def test_multipart_endpoints_document_form_fields_and_files(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    body = spec["paths"]["/api/v1/checkins"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    refs = {part["$ref"].rsplit("/", 1)[-1] for part in body["allOf"]}
    assert refs == {"CheckinForm", "Photo"}
    assert {"latitude", "longitude", "accuracy_m", "captured_at"} <= set(spec["components"]["schemas"]["CheckinForm"]
                                                                         ["properties"])


def test_api_reference_page_lists_the_endpoints(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert "/api/v1/officer/checkins/{checkin_id}/review" in response.get_data(as_text=True)
