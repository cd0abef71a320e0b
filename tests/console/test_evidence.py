"""Evidence read from the console and leave attachments anywhere: a missing file is 410, an altered one 409, each
attempt audit-logged and one evidence_integrity alert per file, as the officer API answers for selfies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from storage.models import Alert
from supervision.audit import AuditAction
from tests.console.helpers import FAKE_JPEG, audit_actions, make_checkin, make_leave, make_reference


def blob_path(app: Any, key: str) -> Path:
    return Path(app.config["CHECKIN"]["BLOB_PATH"]) / key[:2] / key[2:4] / key


def damage(app: Any, key: str, how: str) -> None:
    path = blob_path(app, key)
    if how == "missing":
        path.unlink()
    else:
        data = bytearray(path.read_bytes())
        data[-5] ^= 0xFF
        path.write_bytes(bytes(data))


def integrity_alerts(db_session: Any, person_id: int) -> list[Alert]:
    db_session.rollback()
    return list(db_session.scalars(select(Alert).where(Alert.person_id == person_id,
                                                       Alert.type == "evidence_integrity")))


EXPECTED = {"missing": (410, AuditAction.EVIDENCE_UNAVAILABLE), "tampered": (409, AuditAction.EVIDENCE_TAMPERED)}


def with_attachment(db_session: Any, blobs: Any, world: Any, at: Any) -> Any:
    leave = make_leave(db_session, world.person, at)
    stored = blobs.put(FAKE_JPEG, content_type="image/jpeg")
    leave.attachment_blob_key, leave.attachment_content_type = stored.key, "image/jpeg"
    db_session.commit()
    return leave


@pytest.mark.parametrize("how", ["missing", "tampered"])
@pytest.mark.parametrize("kind", ["selfie", "reference", "attachment"])
def test_console_evidence_reads_report_a_bad_file(officer_console, app, world, db_session, blobs, clock, kind, how):
    if kind == "selfie":
        checkin = make_checkin(db_session, blobs, world.person, clock.now())
        key, url, target = checkin.photo_blob_key, f"/console/checkins/{checkin.id}/photo", ("checkin", checkin.id)
    elif kind == "reference":
        reference = make_reference(db_session, blobs, world.person, world.officer, clock.now())
        key, target = reference.blob_key, ("reference_face", reference.id)
        url = f"/console/persons/{world.person.id}/faces/{reference.id}/photo"
    else:
        leave = with_attachment(db_session, blobs, world, clock.now())
        key, url, target = leave.attachment_blob_key, f"/console/leave/{leave.id}/attachment", ("leave_request",
                                                                                                 leave.id)
    assert officer_console.get(url).status_code == 200
    damage(app, key, how)
    status, action = EXPECTED[how]
    assert officer_console.get(url).status_code == status
    assert officer_console.get(url).status_code == status
    actions = [a for a, _, _ in audit_actions(db_session, person_id=world.person.id)]
    assert actions.count(action) == 2
    [alert] = integrity_alerts(db_session, world.person.id)  # one per file, however often it is read
    assert alert.evidence["problem"] == how
    assert (alert.evidence["target_type"], alert.evidence["target_id"]) == (target[0], str(target[1]))


@pytest.mark.parametrize("how", ["missing", "tampered"])
def test_leave_attachments_in_the_apis_report_a_bad_file(client, auth, app, world, db_session, blobs, clock, how):
    from tests.console.conftest import PASSWORD

    leave = with_attachment(db_session, blobs, world, clock.now())
    damage(app, leave.attachment_blob_key, how)
    status, action = EXPECTED[how]
    officer = client.get(f"/api/v1/officer/leave-requests/{leave.id}/attachment",
                         headers=auth.headers("officer1", PASSWORD))
    assert officer.status_code == status and officer.mimetype == "application/problem+json"
    assert officer.get_json()["code"] == {"missing": "evidence_unavailable", "tampered": "evidence_tampered"}[how]
    person = client.get(f"/api/v1/leave-requests/{leave.id}/attachment",
                        headers=auth.headers(world.person.code, PASSWORD, device_id="phone-1"))
    assert person.status_code == status
    actions = [a for a, _, _ in audit_actions(db_session, person_id=world.person.id)]
    assert actions.count(action) == 2
    assert len(integrity_alerts(db_session, world.person.id)) == 1
