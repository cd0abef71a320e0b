"""`checkin fsck` finds rows pointing to missing blobs and orphaned blobs; `checkin export-person` writes a zip."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from storage.models import AuditEvent
from supervision import fsck
from supervision.audit import AuditAction
from supervision.export import export_person
from tests.lifecycle.helpers import JPEG, add_clip_task, add_photo_checkin, add_reference


def test_fsck_reports_missing_blobs_and_old_orphans_and_repairs_only_orphans(db_session, blobs, person, officer,
                                                                              clock):
    checkin = add_photo_checkin(db_session, blobs, person, clock.now())
    reference = add_reference(db_session, blobs, person, officer.id, clock.now())
    task = add_clip_task(db_session, blobs, person, clock.now())
    db_session.commit()
    blobs.delete(checkin.photo_blob_key)
    orphan = blobs.put(b"left by a crash", content_type="image/jpeg").key
    # Listing times are the store's real clock: look from an hour and a half ahead, so the orphan is old enough.
    later = clock.now() + timedelta(minutes=90)

    fresh = fsck.check_blobs(session=db_session, blobs=blobs, now=clock.now() - timedelta(minutes=5))
    assert fresh.orphans == [] and fresh.young_unreferenced == 1

    report = fsck.check_blobs(session=db_session, blobs=blobs, now=later)
    assert report.missing == [(checkin.photo_blob_key, "checkin", checkin.id)]
    assert report.orphans == [orphan]
    assert report.rows_checked == 5  # photo, reference, clip and two key frames

    fsck.repair_orphans(blobs=blobs, report=report)
    fsck.record_fsck(session=db_session, now=later, report=report, repair=True)
    db_session.commit()

    assert not blobs.exists(orphan)
    assert blobs.exists(reference.blob_key) and blobs.exists(task.clip_blob_key)
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == AuditAction.BLOBS_CHECKED))
    assert event.details["missing"] == 1 and event.details["removed"] == 1


def test_export_person_has_records_and_decrypted_files_and_is_audited(db_session, blobs, person, officer, clock):
    checkin = add_photo_checkin(db_session, blobs, person, clock.now())
    add_reference(db_session, blobs, person, officer.id, clock.now())
    db_session.commit()

    payload, summary = export_person(session=db_session, blobs=blobs, code=person.code, now=clock.now(),
                                     reason="court order 2026-17")
    db_session.commit()

    archive = zipfile.ZipFile(io.BytesIO(payload))
    data = json.loads(archive.read("data.json"))
    assert data["person"]["code"] == person.code and "password_hash" not in data["person"]
    assert [c["id"] for c in data["checkins"]] == [checkin.id]
    assert archive.read(f"files/checkin-{checkin.id}.jpg").startswith(JPEG)
    assert summary["files"] == 2 and summary["records"]["reference_faces"] == 1
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == AuditAction.PERSON_EXPORTED))
    assert event.person_id == person.id and event.details["reason"] == "court order 2026-17"


def test_cli_export_and_fsck(app, db_session, blobs, person, clock, tmp_path):
    from click.testing import CliRunner

    from server.cli import main
    from tests.lifecycle.test_keys import _env

    add_photo_checkin(db_session, blobs, person, clock.now())
    db_session.commit()
    config: dict[str, Any] = app.config["CHECKIN"]
    runner = CliRunner(env=_env(config, CHECKIN_ENCRYPTION_KEY=config["ENCRYPTION_KEY"]))
    output = tmp_path / "export.zip"

    result = runner.invoke(main, ["export-person", person.code, "-o", str(output), "--reason", "lawful request"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (output.stat().st_mode & 0o777) == 0o600
    assert "data.json" in zipfile.ZipFile(output).namelist()

    checked = runner.invoke(main, ["fsck"], catch_exceptions=False)
    assert checked.exit_code == 0, checked.output
    assert "missing=0 orphans=0" in checked.output
