"""Retention purge: released persons lose photos, clips, frames, attachments and templates after the period; the
decision records stay; persons under supervision lose nothing; a second run changes nothing; every run is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from storage.models import AuditEvent, Checkin, LeaveRequest, ReferenceFace, ReferenceTemplate, Task
from supervision import retention
from supervision.audit import AuditAction
from tests.factories import make_person
from tests.lifecycle.helpers import (
    add_clip_task,
    add_leave_with_attachment,
    add_photo_checkin,
    add_reference,
    evidence_keys,
)

YEAR = timedelta(days=365)


@pytest.fixture
def settings(app: Any) -> retention.RetentionSettings:
    return retention.RetentionSettings.from_config(app.config["CHECKIN"])


def _evidence(db_session: Any, blobs: Any, person: Any, officer: Any, at: Any) -> dict[str, Any]:
    rows = {"checkin": add_photo_checkin(db_session, blobs, person, at, reviewer_id=officer.id),
            "reference": add_reference(db_session, blobs, person, officer.id, at),
            "task": add_clip_task(db_session, blobs, person, at),
            "leave": add_leave_with_attachment(db_session, blobs, person, at)}
    db_session.commit()
    rows["keys"] = evidence_keys(rows["checkin"], rows["reference"], rows["task"], rows["leave"])
    return rows


@pytest.fixture
def released_and_active(db_session: Any, blobs: Any, office: Any, officer: Any, clock: Any) -> tuple[dict, dict]:
    now = clock.now()
    released = make_person(db_session, office, "P-REL", status="released", released_at=now - 6 * YEAR)
    active = make_person(db_session, office, "P-ACT")
    # The active person's evidence is as old as the released person's: age alone never purges it.
    return (_evidence(db_session, blobs, released, officer, now - 7 * YEAR),
            _evidence(db_session, blobs, active, officer, now - 7 * YEAR + timedelta(days=1)))


def _run(db_session: Any, blobs: Any, clock: Any, settings: Any, apply: bool) -> dict[str, retention.PurgeCounts]:
    counts = retention.run_purge(session=db_session, blobs=blobs, now=clock.now(), settings=settings, apply=apply)
    db_session.commit()
    return counts


def test_dry_run_counts_and_deletes_nothing(db_session, blobs, clock, settings, released_and_active):
    released, active = released_and_active

    counts = _run(db_session, blobs, clock, settings, apply=False)

    assert counts["checkin_photos"].rows == 1
    assert counts["reference_faces"].rows == 1
    assert counts["video_clips"].blobs == 3  # the clip and its two key frames
    assert counts["leave_attachments"].rows == 1
    assert all(blobs.exists(key) for key in released["keys"] + active["keys"])
    db_session.expire_all()
    assert db_session.get(Checkin, released["checkin"].id).photo_blob_key is not None
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == AuditAction.PURGE_PLANNED))
    assert event.details["counts"]["checkin_photos"]["rows"] == 1 and event.details["apply"] is False


def test_apply_purges_the_released_person_and_keeps_the_decision_records(db_session, blobs, clock, settings,
                                                                          released_and_active, officer):
    released, active = released_and_active

    counts = _run(db_session, blobs, clock, settings, apply=True)

    assert not any(blobs.exists(key) for key in released["keys"])
    # Only the active person's key frames went (their own one-year period); the rest is kept.
    assert all(blobs.exists(key) for key in active["keys"][:4])
    db_session.expire_all()
    checkin = db_session.get(Checkin, released["checkin"].id)
    assert checkin.photo_blob_key is None and checkin.purged_at is not None and checkin.exif is None
    # The case file keeps the decision: status, reasons, match figures, who reviewed and the note.
    assert (checkin.status, checkin.reasons, checkin.review_decision, checkin.reviewed_by_id, checkin.review_note) == (
        "needs_review", ["face_inconclusive"], "accept", officer.id, "seen")
    assert checkin.match["distance"] == 0.4 and checkin.photo_sha256
    task = db_session.get(Task, released["task"].id)
    assert task.clip_blob_key is None and task.result["band"] == "verified"
    assert all("blob_key" not in frame and frame["sha256"] for frame in task.result["key_frames"])
    leave = db_session.get(LeaveRequest, released["leave"].id)
    assert leave.attachment_blob_key is None and leave.status == "returned" and leave.reason == "Surgery"
    reference = db_session.get(ReferenceFace, released["reference"].id)
    assert reference.purged_at is not None and reference.blob_key == ""
    assert db_session.scalar(select(func.count()).select_from(ReferenceTemplate)
                             .where(ReferenceTemplate.reference_id == reference.id)) == 0
    # The person under supervision lost nothing, old as the evidence is (its key frames have their own period).
    kept = db_session.get(Checkin, active["checkin"].id)
    assert kept.photo_blob_key and kept.purged_at is None
    assert db_session.scalar(select(func.count()).select_from(ReferenceTemplate)
                             .where(ReferenceTemplate.reference_id == active["reference"].id)) == 1
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == AuditAction.DATA_PURGED))
    assert event.details["counts"]["checkin_photos"] == {"rows": 1, "items": 1, "blobs": 1}
    assert counts["video_clips"].blobs == 3


def test_a_second_run_changes_nothing(db_session, blobs, clock, settings, released_and_active):
    _run(db_session, blobs, clock, settings, apply=True)
    stored_after_first = sorted(entry.key for entry in blobs.keys())

    second = _run(db_session, blobs, clock, settings, apply=True)

    assert all(c.rows == 0 and c.blobs == 0 for name, c in second.items() if name != "key_frames")
    assert sorted(entry.key for entry in blobs.keys()) == stored_after_first


def test_key_frames_have_their_own_period_whatever_the_status(db_session, blobs, clock, settings,
                                                               released_and_active):
    _released, active = released_and_active
    frames = [f["blob_key"] for f in active["task"].result["key_frames"]]

    counts = _run(db_session, blobs, clock, settings, apply=True)

    assert counts["key_frames"].rows == 1  # the active person's task (the released one's went with its clip)
    assert not any(blobs.exists(key) for key in frames)
    assert blobs.exists(active["task"].clip_blob_key)


def test_a_person_released_recently_keeps_everything(db_session, blobs, clock, settings, office, officer):
    recent = make_person(db_session, office, "P-NEW", status="released", released_at=clock.now() - YEAR)
    rows = _evidence(db_session, blobs, recent, officer, clock.now() - 2 * YEAR)

    counts = _run(db_session, blobs, clock, settings, apply=True)

    assert counts["checkin_photos"].rows == 0
    assert blobs.exists(rows["checkin"].photo_blob_key) and blobs.exists(rows["reference"].blob_key)


def test_failed_attempt_photos_go_after_their_period(db_session, blobs, clock, settings, person):
    old = add_photo_checkin(db_session, blobs, person, clock.now() - YEAR, status="failed")
    new = add_photo_checkin(db_session, blobs, person, clock.now() - timedelta(days=3), status="failed")
    db_session.commit()
    old_key, new_key = old.photo_blob_key, new.photo_blob_key

    _run(db_session, blobs, clock, settings, apply=True)

    assert not blobs.exists(old_key) and blobs.exists(new_key)


def test_old_audit_events_go_after_the_audit_period(db_session, blobs, clock, settings):
    from supervision.actors import SYSTEM
    from supervision.audit import record_event

    record_event(session=db_session, actor=SYSTEM, action="test.old", at=clock.now() - 16 * YEAR)
    record_event(session=db_session, actor=SYSTEM, action="test.recent", at=clock.now() - YEAR)
    db_session.commit()

    _run(db_session, blobs, clock, settings, apply=True)

    actions = set(db_session.scalars(select(AuditEvent.action)))
    assert "test.recent" in actions and "test.old" not in actions and AuditAction.DATA_PURGED in actions


def test_a_failed_commit_deletes_no_blob(db_session, blobs, clock, settings, released_and_active):
    released, _active = released_and_active

    retention.run_purge(session=db_session, blobs=blobs, now=clock.now(), settings=settings, apply=True)
    db_session.rollback()

    assert all(blobs.exists(key) for key in released["keys"])
    assert db_session.get(Checkin, released["checkin"].id).photo_blob_key is not None


def test_new_kinds_register_with_a_period(monkeypatch):
    monkeypatch.setattr(retention, "PURGE_KINDS", dict(retention.PURGE_KINDS))
    kind = retention.PurgeKind("old_notes", "audit", lambda s, c: [], lambda s, ids: [], lambda r: [],
                               lambda s, r, n: 0)

    retention.register_purge_kind(kind)

    assert retention.PURGE_KINDS["old_notes"] is kind
    with pytest.raises(ValueError, match="already registered"):
        retention.register_purge_kind(kind)
    with pytest.raises(ValueError, match="unknown retention period"):
        retention.register_purge_kind(retention.PurgeKind("x", "forever", kind.due_ids, kind.load, kind.keys,
                                                          kind.clear))


def test_audit_period_must_be_the_longest():
    with pytest.raises(ValueError, match="audit log"):
        retention.RetentionSettings.from_config({"RETENTION_AUDIT_DAYS": 30, "RETENTION_RELEASED_DAYS": 365})


def test_cli_purge_is_a_dry_run_unless_applied(app, db_session, blobs, released_and_active, monkeypatch):
    from server.cli import main

    released, _active = released_and_active
    config = app.config["CHECKIN"]
    env = {"CHECKIN_ENV": "testing", "CHECKIN_INSTANCE_PATH": config["INSTANCE_PATH"],
           "CHECKIN_DATABASE_URL": config["DATABASE_URL"], "CHECKIN_BLOB_PATH": config["BLOB_PATH"],
           "CHECKIN_ENCRYPTION_KEY": config["ENCRYPTION_KEY"], "CHECKIN_JWT_SECRET_KEY": config["JWT_SECRET_KEY"],
           "CHECKIN_BLOB_BACKEND": config["BLOB_BACKEND"], "CHECKIN_S3_BUCKET": config["S3_BUCKET"],
           "CHECKIN_S3_PREFIX": config["S3_PREFIX"], "CHECKIN_S3_ENDPOINT_URL": config["S3_ENDPOINT_URL"],
           "CHECKIN_S3_REGION": config["S3_REGION"]}
    runner = CliRunner(env=env)

    dry = runner.invoke(main, ["purge"], catch_exceptions=False)
    assert dry.exit_code == 0, dry.output
    assert "checkin_photos: due rows=1" in dry.output and "dry run" in dry.output
    assert all(blobs.exists(key) for key in released["keys"])

    applied = runner.invoke(main, ["purge", "--apply"], catch_exceptions=False)
    assert applied.exit_code == 0, applied.output
    assert "checkin_photos: purged rows=1" in applied.output
    assert not any(blobs.exists(key) for key in released["keys"])

    again = runner.invoke(main, ["purge", "--apply"], catch_exceptions=False)
    assert "checkin_photos: purged rows=0" in again.output


def test_purged_evidence_answers_purged_without_an_integrity_alert(db_session, blobs, clock, settings,
                                                                   released_and_active, officer):
    from storage.models import Alert, Person
    from supervision import checkins, faces, video_inspections
    from supervision.accounts import actor_for_account
    from supervision.evidence import EvidencePurged

    released, _active = released_and_active
    _run(db_session, blobs, clock, settings, apply=True)
    actor = actor_for_account(officer)
    person = db_session.get(Person, released["reference"].person_id)

    with pytest.raises(EvidencePurged):
        faces.read_reference_photo(session=db_session, blobs=blobs, actor=actor, person=person,
                                   face_id=released["reference"].id, now=clock.now())
    with pytest.raises(EvidencePurged):
        video_inspections.read_key_frame(session=db_session, blobs=blobs, actor=actor, task_id=released["task"].id,
                                         n=0, now=clock.now())
    with pytest.raises(EvidencePurged):
        checkins.read_checkin_photo(session=db_session, blobs=blobs, actor=actor, checkin_id=released["checkin"].id,
                                    now=clock.now())
    assert faces.active_references(db_session, person.id) == []
    assert db_session.scalar(select(func.count()).select_from(Alert)) == 0


def test_the_sweep_schedule_runs_the_purge_and_fsck_as_a_job(app, db_session, blobs, clock, released_and_active):
    from supervision.sweep import lifecycle_job

    released, _active = released_and_active
    config = app.config["CHECKIN"]
    retention_settings = {key: config[key] for key in retention.PERIOD_SETTINGS.values()}

    counts = lifecycle_job(open_session=app.extensions["checkin.db"].session, blobs=blobs, engine=None, clock=clock,
                           retention=retention_settings, purge=True, fsck=True)

    assert counts["purged_rows"] >= 4 and counts["blobs_missing"] == 0
    assert not any(blobs.exists(key) for key in released["keys"])
    actions = set(db_session.scalars(select(AuditEvent.action)))
    assert {AuditAction.DATA_PURGED, AuditAction.BLOBS_CHECKED} <= actions
