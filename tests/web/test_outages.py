"""Outages answered as outages: a dead database is 503, a full or unwritable blob store 507/503, and a missing or
altered evidence file a stable 410/409 answer with an audit event and one alert for the office."""

from __future__ import annotations

import errno
import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from storage.blobs import BlobStoreFull, BlobStoreUnavailable, FilesystemBlobStore
from storage.models import AuditEvent, IdempotencyRecord, LeaveRequest, ReferenceFace
from supervision.audit import AuditAction
from tests.factories import World
from tests.leave.conftest import LEAVE, NOW, PASSWORD, leave_body
from tests.supervision.helpers import add_checkin, alerts_of


@pytest.fixture
def staff(auth: Any, world: World) -> dict[str, str]:
    return auth.headers("officer1", PASSWORD)


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == code and body["status"] == status
    return body


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def blob_file(app: Any, key: str) -> Path:
    return Path(app.config["CHECKIN"]["BLOB_PATH"]) / key[:2] / key[2:4] / key


# ------------------------------------------------------------------------------------------------ database


def test_a_database_that_is_down_is_503_with_retry_after(client: Any, app: Any, staff: dict[str, str]) -> None:
    from storage.db import Database

    unreachable = Database()
    unreachable.configure("postgresql+psycopg://nobody@127.0.0.1:1/none")
    working = app.extensions["checkin.db"]
    app.extensions["checkin.db"] = unreachable
    try:
        response = client.get("/api/v1/officer/checkins", headers=staff)
        body = assert_problem(response, 503, "service_unavailable")
        assert int(response.headers["Retry-After"]) > 0
        assert "psycopg" not in body["detail"] and "127.0.0.1" not in body["detail"]  # no internals
    finally:
        app.extensions["checkin.db"] = working
        unreachable.engine.dispose()  # type: ignore[union-attr]


def test_a_connection_lost_at_commit_is_503_and_frees_the_idempotency_key(
        client: Any, phone: dict[str, str], db_session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.orm import Session

    real_commit = Session.commit
    lost = DBAPIError("COMMIT", {}, Exception("server closed the connection unexpectedly"),
                      connection_invalidated=True)

    def commit(self: Session) -> None:
        # The leave request is in this transaction (flushed, maybe no longer referenced): lose the connection.
        if self.in_transaction() and self.scalar(select(func.count(LeaveRequest.id))):
            raise lost
        real_commit(self)

    monkeypatch.setattr(Session, "commit", commit)
    headers = {**phone, "Idempotency-Key": "lost-1"}
    response = client.post(LEAVE, json=leave_body(), headers=headers)
    assert_problem(response, 503, "service_unavailable")
    assert response.headers["Retry-After"]
    monkeypatch.setattr(Session, "commit", real_commit)
    assert db_session.scalar(select(func.count(IdempotencyRecord.id))) == 0  # the retry will run again
    retry = client.post(LEAVE, json=leave_body(), headers=headers)
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers


def test_readyz_is_503_when_the_database_is_down(client: Any, app: Any) -> None:
    from storage.db import Database

    unreachable = Database()
    unreachable.configure("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app.extensions["checkin.db"] = unreachable
    assert_problem(client.get("/readyz"), 503, "database_unavailable")


# ------------------------------------------------------------------------------------------------ blob store


class FullStore:
    """A blob store on a disk that has run out of space."""

    def __init__(self, inner: Any, error: int = errno.ENOSPC) -> None:
        self.inner, self.error = inner, error

    def put(self, data: Any, *, content_type: str, key: str | None = None) -> Any:
        raise OSError(self.error, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def attachment_form() -> dict[str, Any]:
    return {**leave_body(), "attachment": (io.BytesIO(jpeg()), "note.jpg")}


def test_a_full_blob_store_is_507_storage_full(client: Any, app: Any, phone: dict[str, str],
                                               db_session: Any) -> None:
    app.extensions["checkin.blobs"] = FullStore(app.extensions["checkin.blobs"])
    response = client.post(LEAVE, data=attachment_form(), headers=phone)
    assert_problem(response, 507, "storage_full")
    assert response.headers["Retry-After"]
    assert db_session.scalar(select(func.count(LeaveRequest.id))) == 0


@pytest.mark.parametrize("error", [errno.EROFS, errno.EACCES])
def test_an_unwritable_blob_store_is_503_storage_unavailable(client: Any, app: Any, phone: dict[str, str],
                                                             error: int) -> None:
    app.extensions["checkin.blobs"] = FullStore(app.extensions["checkin.blobs"], error)
    response = client.post(LEAVE, data=attachment_form(), headers=phone)
    assert_problem(response, 503, "storage_unavailable")
    assert response.headers["Retry-After"]


def test_the_filesystem_store_names_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage import blobs
    from storage.blobs import decode_key, generate_key

    store = FilesystemBlobStore(tmp_path / "blobs", decode_key(generate_key()))

    def fail(error: int) -> Any:
        def call(*_args: Any, **_kwargs: Any) -> Any:
            raise OSError(error, "simulated")
        return call

    monkeypatch.setattr(blobs.os, "fsync", fail(errno.ENOSPC))  # the data did not fit
    with pytest.raises(BlobStoreFull):
        store.put(b"photo", content_type="image/jpeg")
    assert not [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]  # no temp file left behind
    monkeypatch.setattr(blobs.tempfile, "mkstemp", fail(errno.EDQUOT))  # not even a new file
    with pytest.raises(BlobStoreFull):
        store.probe()
    monkeypatch.setattr(blobs.tempfile, "mkstemp", fail(errno.EROFS))
    with pytest.raises(BlobStoreUnavailable) as raised:
        store.put(b"photo", content_type="image/jpeg")
    assert not isinstance(raised.value, BlobStoreFull) and raised.value.errno == errno.EROFS


def test_readyz_writes_a_probe_and_fails_when_the_blob_store_cannot_take_it(client: Any, app: Any) -> None:
    root = Path(app.config["CHECKIN"]["BLOB_PATH"])
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["blobs"] == "ok"
    assert not list(root.glob(".probe-*"))  # the probe file is deleted again
    shutil.rmtree(root)
    root.write_text("not a directory")  # the volume is gone; the path is unusable
    assert_problem(client.get("/readyz"), 503, "storage_unavailable")


# ------------------------------------------------------------------------------------------------ evidence


def stored_checkin(app: Any, db_session: Any, world: World) -> Any:
    stored = app.extensions["checkin.blobs"].put(jpeg(), content_type="image/jpeg")
    return add_checkin(db_session, world.person, NOW, "needs_review", photo_blob_key=stored.key,
                       photo_content_type="image/jpeg")


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))


def audit_actions(db_session: Any) -> list[str]:
    db_session.rollback()
    return list(db_session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_tampered_selfie_is_409_evidence_tampered_audited_and_alerted_once(
        client: Any, app: Any, staff: dict[str, str], world: World, db_session: Any) -> None:
    checkin = stored_checkin(app, db_session, world)
    url = f"/api/v1/officer/checkins/{checkin.id}/photo"
    assert client.get(url, headers=staff).data == jpeg()
    flip_a_byte(blob_file(app, checkin.photo_blob_key))
    assert_problem(client.get(url, headers=staff), 409, "evidence_tampered")
    assert_problem(client.get(url, headers=staff), 409, "evidence_tampered")
    actions = audit_actions(db_session)
    assert actions.count(AuditAction.EVIDENCE_TAMPERED) == 2
    assert AuditAction.CHECKIN_PHOTO_VIEWED in actions  # only the read that worked
    alerts = alerts_of(db_session, world.person.id, "evidence_integrity")
    assert len(alerts) == 1  # one per blob, however often it is read
    assert alerts[0].office_id == world.office.id
    assert alerts[0].evidence["problem"] == "tampered" and alerts[0].evidence["target_id"] == str(checkin.id)


def test_a_deleted_selfie_is_410_evidence_unavailable(client: Any, app: Any, staff: dict[str, str], world: World,
                                                      db_session: Any) -> None:
    checkin = stored_checkin(app, db_session, world)
    blob_file(app, checkin.photo_blob_key).unlink()
    assert_problem(client.get(f"/api/v1/officer/checkins/{checkin.id}/photo", headers=staff), 410,
                   "evidence_unavailable")
    assert audit_actions(db_session) == [AuditAction.EVIDENCE_UNAVAILABLE]
    [alert] = alerts_of(db_session, world.person.id, "evidence_integrity")
    assert alert.evidence["problem"] == "missing" and alert.evidence["target_type"] == "checkin"


def test_a_missing_reference_photo_is_410_and_a_tampered_one_409(client: Any, app: Any, staff: dict[str, str],
                                                                  world: World, db_session: Any) -> None:
    store = app.extensions["checkin.blobs"]
    references = []
    for _ in range(2):
        stored = store.put(jpeg(), content_type="image/jpeg")
        reference = ReferenceFace(person_id=world.person.id, blob_key=stored.key, content_type="image/jpeg",
                                  size=stored.size, sha256=stored.sha256, quality={}, engine_version="test",
                                  created_by_id=world.officer.id)
        db_session.add(reference)
        references.append(reference)
    db_session.commit()
    blob_file(app, references[0].blob_key).unlink()
    flip_a_byte(blob_file(app, references[1].blob_key))
    base = f"/api/v1/officer/persons/{world.person.id}/faces"
    assert_problem(client.get(f"{base}/{references[0].id}/photo", headers=staff), 410, "evidence_unavailable")
    assert_problem(client.get(f"{base}/{references[1].id}/photo", headers=staff), 409, "evidence_tampered")
    assert audit_actions(db_session) == [AuditAction.EVIDENCE_UNAVAILABLE, AuditAction.EVIDENCE_TAMPERED]
    alerts = alerts_of(db_session, world.person.id, "evidence_integrity")
    assert sorted(a.evidence["target_id"] for a in alerts) == sorted(str(r.id) for r in references)


def test_a_tampered_key_frame_is_409_evidence_tampered(client: Any, app: Any, staff: dict[str, str], world: World,
                                                       db_session: Any) -> None:
    from datetime import timedelta

    from storage.models import Task

    stored = app.extensions["checkin.blobs"].put(jpeg(), content_type="image/jpeg")
    task = Task(person_id=world.person.id, office_id=world.office.id, kind="video_inspection", status="completed",
                created_by_id=world.officer.id, due_at=NOW + timedelta(hours=1), completed_at=NOW,
                result={"key_frames": [{"n": 0, "blob_key": stored.key, "sha256": stored.sha256}]})
    db_session.add(task)
    db_session.commit()
    url = f"/api/v1/officer/video-inspections/{task.id}/key-frames/0"
    assert client.get(url, headers=staff).status_code == 200
    flip_a_byte(blob_file(app, stored.key))
    assert_problem(client.get(url, headers=staff), 409, "evidence_tampered")
    assert audit_actions(db_session)[-1] == AuditAction.EVIDENCE_TAMPERED
    [alert] = alerts_of(db_session, world.person.id, "evidence_integrity")
    assert alert.evidence["target_type"] == "task"
