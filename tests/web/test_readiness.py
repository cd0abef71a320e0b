"""/readyz tells the truth about the schema: 503 until the database is at the Alembic head, 200 after init-db."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from server import create_app
from server.cli import main
from storage import migrate
from storage.blobs import generate_key


def _app(tmp_path: Path, url: str) -> Any:
    return create_app({"ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": url,
                       "JWT_SECRET_KEY": "ready-" + "r" * 40, "ENCRYPTION_KEY": generate_key()})


@pytest.fixture
def fresh_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fresh.db'}"


def test_readyz_is_503_without_the_schema_and_200_after_init_db(tmp_path, fresh_url):
    app = _app(tmp_path, fresh_url)
    try:
        before = app.test_client().get("/readyz")
        result = CliRunner(env={"CHECKIN_ENV": "development", "CHECKIN_DATABASE_URL": fresh_url,
                                "CHECKIN_INSTANCE_PATH": str(tmp_path / "instance")}).invoke(main, ["init-db"])
        after = app.test_client().get("/readyz")
    finally:
        app.extensions["checkin.db"].engine.dispose()

    assert before.status_code == 503
    assert before.mimetype == "application/problem+json"
    body = before.get_json()
    assert body["code"] == "schema_not_current"
    assert body["schema_revision"] == [] and body["schema_head"] == sorted(migrate.head_revisions())
    assert "checkin init-db" in body["detail"]
    assert result.exit_code == 0, result.output
    assert after.status_code == 200, after.get_json()
    assert after.get_json()["schema"] == ",".join(sorted(migrate.head_revisions()))


def test_readyz_is_503_on_a_schema_behind_the_head(tmp_path, fresh_url):
    migrate.upgrade(fresh_url, "0002")
    app = _app(tmp_path, fresh_url)
    try:
        response = app.test_client().get("/readyz")
    finally:
        app.extensions["checkin.db"].engine.dispose()

    assert response.status_code == 503
    assert response.get_json()["code"] == "schema_not_current"
    assert response.get_json()["schema_revision"] == ["0002"]


def test_readyz_on_the_test_database_is_ready(client, database_url):
    # The suite's database is migrated by the fixtures (SQLite, or PostgreSQL in CI): ready.
    response = client.get("/readyz")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["schema"] == ",".join(sorted(migrate.head_revisions()))
