"""Shared fixtures: app, client, db_session, blobs, clock and an auth helper.

Database tests run against SQLite by default, or against CHECKIN_TEST_DATABASE_URL (CI sets PostgreSQL).
Each test gets an empty database: tables are emptied after every test that used the app.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from storage import migrate
from storage.blobs import generate_key
from storage.db import Base
from supervision.clock import FrozenClock

REPO_ROOT = Path(__file__).resolve().parent.parent
FACES_DIR = REPO_ROOT.parent / "shared" / "faces"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "database_url" in names:
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """../shared/faces, or skip when it is not there."""
    if not (FACES_DIR / "people").is_dir():
        pytest.skip(f"test photos not found at {FACES_DIR} (see DEVELOPERS.md: ../shared/faces)")
    return FACES_DIR


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for the whole session."""
    url = os.environ.get("CHECKIN_TEST_DATABASE_URL")
    if url:
        engine = create_engine(url)
        with engine.begin() as conn:
            # Start from nothing so the migrations themselves are exercised on this server.
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    migrate.upgrade(url)
    yield url


def _empty_tables(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    engine.dispose()


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at production cost takes ~0.4 s a hash on this machine; tests that are not about it use a cheap one."""
    from argon2 import PasswordHasher

    from supervision import passwords

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def clock() -> FrozenClock:
    """The app's clock, frozen at the real time the test started (tests may move it)."""
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


def blob_backends() -> list[str]:
    """The blob stores the parametrised tests run on: CHECKIN_TEST_BLOB_BACKENDS (default both)."""
    raw = os.environ.get("CHECKIN_TEST_BLOB_BACKENDS", "filesystem,s3")
    return [name.strip() for name in raw.split(",") if name.strip()]


TEST_BUCKET = "checkin-test"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint (moto's server mode) on a free 127.0.0.1 port, with bucket TEST_BUCKET."""
    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    # Test credentials for the SDK; the app reads AWS_* like any SDK user would.
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=TEST_BUCKET)
        try:
            yield url
        finally:
            server.stop()


def s3_settings(endpoint: str) -> dict[str, Any]:
    """App settings for the S3 store on endpoint, under a prefix of its own (a fresh, empty store)."""
    return {"BLOB_BACKEND": "s3", "S3_BUCKET": TEST_BUCKET, "S3_PREFIX": f"t-{secrets.token_hex(6)}",
            "S3_ENDPOINT_URL": endpoint, "S3_REGION": "us-east-1"}


@pytest.fixture
def blob_settings() -> dict[str, Any]:
    """The app's blob store settings; the filesystem store unless a package parametrises it (see blob_backend)."""
    return {}


@pytest.fixture(params=blob_backends())
def blob_backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings for each blob store in turn (filesystem, then S3 on the moto endpoint)."""
    if request.param == "s3":
        return s3_settings(request.getfixturevalue("s3_endpoint"))
    return {}


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Extra config for the app fixture; override in a test module to change settings."""
    return {}


@pytest.fixture
def app(database_url: str, tmp_path: Path, clock: FrozenClock, app_overrides: dict[str, Any],
        blob_settings: dict[str, Any]) -> Iterator[Any]:
    from server import create_app
    from web.limiter import limiter

    config = {
        "ENV": "testing",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": "test-secret-" + "x" * 40,
        "ENCRYPTION_KEY": generate_key(),
        "RATELIMIT_STORAGE_URL": "memory://",
        "CLOCK": clock,
        **blob_settings,
        **app_overrides,
    }
    application = create_app(config)
    limiter.reset()
    try:
        yield application
    finally:
        application.extensions["checkin.db"].engine.dispose()
        _empty_tables(database_url)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def db_session(app: Any) -> Iterator[Any]:
    """A session on the app's database, outside any request."""
    session = app.extensions["checkin.db"].session()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def blobs(app: Any) -> Any:
    return app.extensions["checkin.blobs"]


@pytest.fixture
def office(db_session: Any) -> Any:
    """Office O1 of county C1."""
    from tests.factories import make_office

    return make_office(db_session)


@pytest.fixture
def officer(db_session: Any, office: Any) -> Any:
    """officer1 of office O1."""
    from tests.factories import make_officer

    return make_officer(db_session, office)


@pytest.fixture
def officer_headers(auth: Any, officer: Any) -> dict[str, str]:
    return auth.headers(officer.username)


@pytest.fixture
def person(db_session: Any, office: Any) -> Any:
    """P001 of office O1, home at 31.2304,121.4737 (3 km), no reference photos."""
    from tests.factories import make_person

    return make_person(db_session, office)


class AuthHelper:
    """Logs users in through the API and hands back Authorization headers."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def tokens(self, username: str, password: str = "correct-horse-1", device_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"username": username, "password": password}
        if device_id is not None:
            body["device_id"] = device_id
        response = self.client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def headers(self, username: str, password: str = "correct-horse-1", device_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens(username, password, device_id)['access_token']}"}

    def person(self, code: str, device_id: str = "phone-1", password: str = "correct-horse-1") -> dict[str, str]:
        return self.headers(code, password, device_id)


@pytest.fixture
def auth(client: Any) -> AuthHelper:
    return AuthHelper(client)
