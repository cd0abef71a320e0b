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
