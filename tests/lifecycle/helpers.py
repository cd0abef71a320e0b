"""Rows with stored evidence, made directly (no face engine): a check-in, a reference, a clip, an attachment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from storage.models import Checkin, LeaveRequest, Person, ReferenceFace, Task
from supervision.faces import add_templates

JPEG = b"\xff\xd8\xff\xe0" + b"evidence " * 64


def add_photo_checkin(session: Session, blobs: Any, person: Person, at: datetime, *, status: str = "needs_review",
                      reviewer_id: int | None = None) -> Checkin:
    stored = blobs.put(JPEG + str(at).encode(), content_type="image/jpeg")
    checkin = Checkin(person_id=person.id, office_id=person.office_id, kind="scheduled", received_at=at,
                      captured_at=at, latitude=31.23, longitude=121.47, accuracy_m=10.0,
                      photo_blob_key=stored.key, photo_content_type="image/jpeg", photo_size=stored.size,
                      photo_sha256=stored.sha256, status=status, reasons=["face_inconclusive"], flags=[],
                      match={"distance": 0.4, "band": "needs_review"}, exif={"GPSLatitude": 31.2},
                      review_decision="accept" if reviewer_id else None, reviewed_by_id=reviewer_id,
                      reviewed_at=at + timedelta(hours=1) if reviewer_id else None,
                      review_note="seen" if reviewer_id else None)
    session.add(checkin)
    session.flush()
    return checkin


def add_reference(session: Session, blobs: Any, person: Person, officer_id: int, at: datetime,
                  vector: np.ndarray | None = None) -> ReferenceFace:
    stored = blobs.put(JPEG + b"ref" + str(at).encode(), content_type="image/jpeg")
    reference = ReferenceFace(person_id=person.id, blob_key=stored.key, content_type="image/jpeg", size=stored.size,
                              sha256=stored.sha256, quality={}, engine_version="test", created_by_id=officer_id,
                              created_at=at)
    session.add(reference)
    session.flush()
    add_templates(session=session, reference=reference,
                  templates={"sface-test": vector if vector is not None else np.linspace(0, 1, 128)},
                  engine_version="test", now=at)
    return reference


def add_clip_task(session: Session, blobs: Any, person: Person, at: datetime) -> Task:
    clip = blobs.put(b"\x00\x00\x00\x18ftypmp42" + b"clip" * 100, content_type="video/mp4")
    frames = [blobs.put(JPEG + b"frame%d" % n, content_type="image/jpeg") for n in range(2)]
    task = Task(person_id=person.id, office_id=person.office_id, kind="video_inspection", status="completed",
                created_at=at, due_at=at + timedelta(hours=1), completed_at=at, clip_blob_key=clip.key,
                clip_content_type="video/mp4", clip_size=clip.size, clip_sha256=clip.sha256,
                result={"band": "verified", "reasons": [],
                        "key_frames": [{"n": n, "blob_key": f.key, "sha256": f.sha256} for n, f in enumerate(frames)]})
    session.add(task)
    session.flush()
    return task


def add_leave_with_attachment(session: Session, blobs: Any, person: Person, at: datetime) -> LeaveRequest:
    stored = blobs.put(b"%PDF-1.4 hospital letter", content_type="application/pdf")
    leave = LeaveRequest(person_id=person.id, office_id=person.office_id, start_at=at, end_at=at + timedelta(days=2),
                         destination="Hospital", reason="Surgery", attachment_blob_key=stored.key,
                         attachment_content_type="application/pdf", attachment_size=stored.size,
                         attachment_sha256=stored.sha256, status="returned", approval_level="office", created_at=at)
    session.add(leave)
    session.flush()
    return leave


def evidence_keys(checkin: Checkin, reference: ReferenceFace, task: Task, leave: LeaveRequest) -> list[str]:
    frames = [f["blob_key"] for f in task.result["key_frames"]]
    return [checkin.photo_blob_key, reference.blob_key, task.clip_blob_key, leave.attachment_blob_key, *frames]
