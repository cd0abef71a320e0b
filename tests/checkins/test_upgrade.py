"""Upgrading an instance made by the dlib-only version: init-db + reencode keep every reference usable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, Table, create_engine, func, insert, select, text
from sqlalchemy.orm import Session

from server.cli import main
from server.config import load_config
from storage import migrate
from storage.blobs import FilesystemBlobStore, decode_key
from storage.models import ReferenceTemplate
from supervision.passwords import hash_password as password_hash
from tests.checkins.helpers import CHECKINS, checkin_form
from tests.factories import PASSWORD, make_office, make_officer, person_values
from verification.embedders import DLIB, SFACE
from verification.engine import FaceEngine
from verification.evaluation import natural_key
from verification.settings import EngineSettings

IDENTITIES = {"P_OLD_A": "Roger_Federer", "P_OLD_B": "Colin_Powell"}
OLD_ENGINE_VERSION = "dlib-resnet-v1/hog640/1"


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    env = {"CHECKIN_ENV": "development", "CHECKIN_INSTANCE_PATH": str(tmp_path / "instance"),
           "CHECKIN_DATABASE_URL": f"sqlite:///{tmp_path / 'old.db'}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CHECKIN_JWT_SECRET_KEY", raising=False)
    monkeypatch.delenv("CHECKIN_ENCRYPTION_KEY", raising=False)
    return {"env": env, "url": env["CHECKIN_DATABASE_URL"], "config": load_config()}


def _photos(faces_dir: Path, identity: str) -> list[Path]:
    return sorted((faces_dir / "people" / identity).iterdir(), key=lambda p: natural_key(p.name))


def _previous_version_person(session: Session, office_id: int, code: str) -> int:
    """A person row as the previous release stored it: the factory's values for the columns its schema has (the
    model of today has columns revision 0001 lacks, so the ORM cannot write this row)."""
    table = Table("person", MetaData(), autoload_with=session.connection())
    now = datetime.now(UTC)
    values = {**person_values(code), "code": code, "office_id": office_id, "employment_status": "unknown",
              "password_hash": password_hash(PASSWORD), "created_at": now, "updated_at": now}
    row = {name: value for name, value in values.items() if name in table.c}
    return int(session.execute(insert(table).values(**row).returning(table.c.id)).scalar_one())


def _make_previous_version_instance(instance: dict[str, Any], faces_dir: Path) -> dict[str, int]:
    """The schema of the previous release (revision 0001) with references as it stored them: a dlib encoding from
    HOG + 68 landmarks in reference_face.encoding, the photo encrypted in the blob store."""
    url, config = instance["url"], instance["config"]
    migrate.upgrade(url, "0001")
    blobs = FilesystemBlobStore(config["BLOB_PATH"], decode_key(config["ENCRYPTION_KEY"]))
    old_engine = FaceEngine(EngineSettings(matcher="dlib", detector="hog"))
    engine = create_engine(url)
    ids = {}
    with Session(engine) as session:
        office = make_office(session)
        officer = make_officer(session, office)
        for code, identity in IDENTITIES.items():
            person_id = _previous_version_person(session, office.id, code)
            ids[code] = person_id
            for path in _photos(faces_dir, identity)[:5]:
                data = path.read_bytes()
                analysis = old_engine.analyze(data, purpose="checkin")
                stored = blobs.put(data, content_type=analysis.content_type)
                session.execute(text(
                    "INSERT INTO reference_face (person_id, blob_key, content_type, size, sha256, encoding, quality,"
                    " engine_version, forced, created_by_id, created_at) VALUES (:p, :k, :t, :s, :h, :e, '{}', :v, 0,"
                    " :o, :at)"), {"p": person_id, "k": stored.key, "t": stored.content_type, "s": stored.size,
                                   "h": stored.sha256, "e": analysis.encoding.astype("<f8").tobytes(),
                                   "v": OLD_ENGINE_VERSION, "o": officer.id, "at": datetime.now(UTC)})
        session.commit()
    engine.dispose()
    return ids


def _templates(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with Session(engine) as session:
        rows = session.execute(select(ReferenceTemplate.template, func.count()).group_by(ReferenceTemplate.template))
        counts = {template: count for template, count in rows}
    engine.dispose()
    return counts


def _check_in(instance: dict[str, Any], code: str, photo: Path) -> dict[str, Any]:
    from server import create_app

    app = create_app({"RATELIMIT_STORAGE_URL": "memory://"})
    try:
        client = app.test_client()
        login = client.post("/api/v1/auth/login", json={"username": code, "password": PASSWORD, "device_id": "p1"})
        token = login.get_json()["access_token"]
        form = checkin_form(photo.read_bytes(), captured_at=datetime.now(UTC))
        response = client.post(CHECKINS, headers={"Authorization": f"Bearer {token}"}, data=form,
                               content_type="multipart/form-data")
        assert response.status_code == 201, response.get_json()
        return response.get_json()
    finally:
        app.extensions["checkin.db"].engine.dispose()


def test_init_db_and_reencode_keep_the_previous_versions_references_usable(instance, faces_dir):
    ids = _make_previous_version_instance(instance, faces_dir)
    runner = CliRunner(env=instance["env"])

    upgraded = runner.invoke(main, ["init-db"], catch_exceptions=False)
    assert upgraded.exit_code == 0, upgraded.output
    assert _templates(instance["url"]) == {DLIB: 10}  # the stored dlib encodings moved over unchanged

    # Person A checks in before anyone re-encodes: the missing SFace templates are made from the photos on the fly.
    first = _check_in(instance, "P_OLD_A", _photos(faces_dir, IDENTITIES["P_OLD_A"])[6])
    assert first["status"] == "verified", first
    assert _templates(instance["url"]) == {DLIB: 10, SFACE: 5}

    reencoded = runner.invoke(main, ["reencode"], catch_exceptions=False)
    assert reencoded.exit_code == 0, reencoded.output
    assert "encoded=5 present=5 unusable=0" in reencoded.output
    assert _templates(instance["url"]) == {DLIB: 10, SFACE: 10}
    again = runner.invoke(main, ["reencode"], catch_exceptions=False)
    assert "encoded=0 present=10 unusable=0" in again.output  # idempotent

    second = _check_in(instance, "P_OLD_B", _photos(faces_dir, IDENTITIES["P_OLD_B"])[6])
    assert second["status"] == "verified", second
    # An impostor against the upgraded references is not verified.
    impostor = _check_in(instance, "P_OLD_B", _photos(faces_dir, IDENTITIES["P_OLD_A"])[7])
    assert impostor["status"] != "verified"
    engine = create_engine(instance["url"])
    with engine.connect() as conn:
        versions = {row[0] for row in conn.execute(text("SELECT engine_version FROM checkin"))}
        audit = conn.execute(text("SELECT count(*) FROM audit_event WHERE action = 'face.reencoded'")).scalar_one()
        person_b = conn.execute(text("SELECT match FROM checkin WHERE person_id = :p ORDER BY id LIMIT 1"),
                                {"p": ids["P_OLD_B"]}).scalar_one()
    engine.dispose()
    assert versions == {FaceEngine().version} and audit == 2
    assert '"template": "sface-2021dec-int8bq"' in person_b


def test_references_that_cannot_be_templated_send_the_check_in_to_review(client, person, officer, phone, clock,
                                                                         db_session, faces_dir):
    # A reference of the previous engine whose photo is gone: no SFace template can be made, and its dlib
    # encoding is never compared with an SFace one.
    from storage.models import ReferenceFace

    db_session.add(ReferenceFace(person_id=person.id, blob_key="gone00000000", content_type="image/jpeg", size=1,
                                 sha256="0" * 64, encoding=b"\x00" * 1024, quality={},
                                 engine_version=OLD_ENGINE_VERSION, created_by_id=officer.id))
    db_session.commit()
    photo = _photos(faces_dir, IDENTITIES["P_OLD_A"])[6].read_bytes()

    response = client.post(CHECKINS, headers=phone, content_type="multipart/form-data",
                           data=checkin_form(photo, captured_at=clock.now()))

    body = response.get_json()
    assert response.status_code == 201, body
    assert body["status"] == "needs_review" and "references_not_encoded" in body["reasons"]
    from storage.models import Checkin

    db_session.expire_all()
    match = db_session.scalar(select(Checkin.match))
    assert match["references"]["used"] == 0 and len(match["references"]["unusable"]) == 1
