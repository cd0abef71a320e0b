"""Remote video inspections (远程视频督察): an officer asks for a short clip, the person uploads it, and who is in
it is checked frame by frame off the request thread, because one matching frame is not enough (relayed video calls
have been answered by someone else)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.blobs import BlobStore, Payload, as_payload
from storage.db import on_rollback
from storage.enums import AlertType, ReviewDecision, TaskKind, TaskStatus
from storage.models import Person, Task
from supervision import messages
from supervision.actors import Actor
from supervision.alerts import raise_alert
from supervision.audit import AuditAction, record_event
from supervision.clock import Clock
from supervision.errors import Conflict, NotFound, UnusableVideo, ValidationFailed
from supervision.evidence import EvidencePurged, EvidenceSubject, view_evidence
from supervision.faces import load_reference_set
from supervision.locks import lock_person
from supervision.paging import keyset
from supervision.scope import get_in_scope, office_condition
from verification import video
from verification.engine import FaceEngine

log = logging.getLogger(__name__)

KEY_FRAME_TYPE = "image/jpeg"
MAX_RESPONSE_MINUTES = 24 * 60


class _AlreadyProcessed(Exception):
    """Another run finished the task first (a retried job)."""


def _has_open_inspection(session: Session, person_id: int, now: datetime) -> bool:
    return session.scalar(select(Task.id).where(Task.person_id == person_id, Task.kind == TaskKind.VIDEO_INSPECTION,
                                                Task.status == TaskStatus.OPEN, Task.due_at > now).limit(1)) is not None


def create_inspection(*, session: Session, actor: Actor, person: Person, respond_within_minutes: int,
                      now: datetime) -> Task:
    """Ask the person for a video within the given minutes; audit-logged."""
    if not 1 <= respond_within_minutes <= MAX_RESPONSE_MINUTES:
        raise ValidationFailed({"respond_within_minutes": [f"Use 1 to {MAX_RESPONSE_MINUTES} minutes."]})
    # One open inspection per person; the lock makes a second officer's concurrent request see the first task.
    lock_person(session, person.id)
    if _has_open_inspection(session, person.id, now):
        raise Conflict("The person already has an open video inspection.", code="video_inspection_open")
    task = Task(person_id=person.id, office_id=person.office_id, kind=TaskKind.VIDEO_INSPECTION,
                status=TaskStatus.OPEN, created_by_id=actor.id, created_at=now,
                due_at=now + timedelta(minutes=respond_within_minutes))
    session.add(task)
    session.flush()
    record_event(session=session, actor=actor, action=AuditAction.TASK_CREATED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="task", target_id=task.id,
                 details={"kind": TaskKind.VIDEO_INSPECTION, "due_at": task.due_at.isoformat()})
    messages.on_tasks_created(session=session, tasks=[task], now=now)
    return task


def submit_clip(*, session: Session, blobs: BlobStore, person: Person, task_id: int, data: bytes | Payload,
                limits: video.VideoLimits, now: datetime) -> Task:
    """Store the person's clip (encrypted) for an open inspection and mark it processing; refuses unusable clips.

    The clip's sha256 is the upload's (the Payload read once at the HTTP edge), not computed again."""
    clip = as_payload(data)
    task = session.get(Task, task_id, with_for_update=True)
    if task is None or task.person_id != person.id or task.kind != TaskKind.VIDEO_INSPECTION:
        raise NotFound("No such video inspection.")
    # An inspection the sweep marked missed can still be answered: the late clip is evidence too (never verified).
    if task.status not in (TaskStatus.OPEN, TaskStatus.MISSED):
        raise Conflict("This video inspection is already answered or closed.", code="task_closed")
    try:
        info = video.probe_video(clip.data, limits)
    except video.VideoError as exc:
        raise UnusableVideo.refusing(exc) from exc
    stored = blobs.put(clip, content_type=info.content_type)
    on_rollback(session, lambda: blobs.delete(stored.key))
    task.clip_blob_key = stored.key
    task.clip_content_type = stored.content_type
    task.clip_size = stored.size
    task.clip_sha256 = stored.sha256
    task.status = TaskStatus.PROCESSING
    task.result = {
        "submitted_at": now.isoformat(),
        "late": now > task.due_at,
        "clip": {"width": info.width, "height": info.height, "fps": round(info.fps, 3),
                 "duration_s": None if info.duration_s is None else round(info.duration_s, 3)},
    }
    session.flush()
    return task


def _processing_limits(task: Task, size: int) -> video.VideoLimits:
    # The clip passed the configured limits at upload; processing only has to stay within what it was.
    clip = (task.result or {}).get("clip") or {}
    duration = clip.get("duration_s") or video.VideoLimits().max_seconds
    pixels = (clip.get("width") or 0) * (clip.get("height") or 0) or video.VideoLimits().max_pixels
    return video.VideoLimits(max_bytes=size, max_seconds=float(duration) + 1.0, max_pixels=pixels)


def process_clip(*, session: Session, blobs: BlobStore, engine: FaceEngine, task_id: int, now: datetime,
                 settings: video.InspectionSettings | None = None) -> Task:
    """Analyse the uploaded clip: summary into task.result, key frames into the blob store, task completed."""
    task = session.get(Task, task_id)
    if task is None or task.kind != TaskKind.VIDEO_INSPECTION:
        raise NotFound("No such video inspection.")
    if task.status != TaskStatus.PROCESSING or not task.clip_blob_key:
        return task  # nothing to do: not uploaded yet, or already processed
    data = blobs.get(task.clip_blob_key)
    refs = load_reference_set(session=session, blobs=blobs, engine=engine, person_id=task.person_id, now=now)
    references = refs.of(engine.primary_key)  # the frames carry the deciding template (SFace by default)
    previous = dict(task.result or {})
    try:
        inspection = video.inspect_clip(data, engine=engine, references=references,
                                        limits=_processing_limits(task, len(data)), settings=settings)
        summary, key_frames = inspection.summary, inspection.key_frames
    except video.VideoError as exc:
        summary = {"band": "needs_review", "reasons": [exc.code], "error": exc.code}
        key_frames = []
    if previous.get("late") and summary["band"] == "verified":
        summary["band"] = "needs_review"
    if previous.get("late"):
        summary["reasons"] = [*summary["reasons"], "late"]

    stored_frames = []
    for n, frame in enumerate(key_frames):
        stored = blobs.put(frame.jpeg, content_type=KEY_FRAME_TYPE)
        on_rollback(session, lambda key=stored.key: blobs.delete(key))
        stored_frames.append({"n": n, "frame": frame.number, "time_s": frame.time_s, "reason": frame.reason,
                              "blob_key": stored.key, "sha256": stored.sha256, "size": stored.size})

    # Lock only now: the analysis takes seconds and must not hold a row lock.
    session.refresh(task, with_for_update=True)
    if task.status != TaskStatus.PROCESSING:
        raise _AlreadyProcessed(task_id)
    task.result = {**previous, **summary, "key_frames": stored_frames, "processed_at": now.isoformat()}
    task.status = TaskStatus.COMPLETED
    task.completed_at = now
    session.flush()
    # Only a clip that shows someone else (or nobody) is a failed inspection; a clip that cannot be decoded is
    # left to the officer (needs_review), as it may be the phone's fault.
    if summary["band"] == "rejected":
        raise_alert(session=session, person_id=task.person_id, office_id=task.office_id,
                    alert_type=AlertType.VIDEO_INSPECTION_FAILED, dedupe_key=f"video_inspection_failed:{task.id}",
                    occurred_at=now, now=now,
                    evidence={"task_id": task.id, "band": summary["band"], "reasons": summary["reasons"],
                              "frames_matching": summary.get("frames_matching"),
                              "frames_other_person": summary.get("frames_other_person")})
    return task


def _mark_failed(open_session: Callable[[], Session], task_id: int, now: datetime) -> None:
    session = open_session()
    try:
        task = session.get(Task, task_id, with_for_update=True)
        if task is not None and task.status == TaskStatus.PROCESSING:
            task.result = {**(task.result or {}), "band": "needs_review", "reasons": ["processing_failed"],
                           "error": "processing_failed", "processed_at": now.isoformat()}
            task.status = TaskStatus.COMPLETED
            task.completed_at = now
            session.commit()
    except Exception:  # noqa: BLE001  (already failing: log, keep the original error in the log)
        session.rollback()
        log.exception("could not record the failure of video inspection %s", task_id)
    finally:
        session.close()


def run_clip_job(*, open_session: Callable[[], Session], blobs: BlobStore, engine: FaceEngine, clock: Clock,
                 task_id: int) -> None:
    """Job entry: process one clip in its own transaction; a failure is recorded on the task, not raised."""
    session = open_session()
    try:
        process_clip(session=session, blobs=blobs, engine=engine, task_id=task_id, now=clock.now())
        session.commit()
    except _AlreadyProcessed:
        session.rollback()
    except Exception:  # noqa: BLE001  (a job has no caller to report to: log it and mark the task)
        session.rollback()
        log.exception("processing video inspection %s failed", task_id)
        _mark_failed(open_session, task_id, clock.now())
    finally:
        session.close()


def get_inspection(*, session: Session, actor: Actor, task_id: int) -> Task:
    """An inspection the actor may see (officers: their office; admins: their county), else NotFound."""
    task = get_in_scope(session, actor, Task, task_id, what="video inspection", persons_see_own=False)
    if task.kind != TaskKind.VIDEO_INSPECTION:
        raise NotFound("No such video inspection.")
    return task


def list_inspections(*, session: Session, actor: Actor, status: str | None, person_id: int | None,
                     after_id: int | None, limit: int) -> list[Task]:
    """Inspections in the actor's scope, newest first."""
    stmt = select(Task).where(Task.kind == TaskKind.VIDEO_INSPECTION, office_condition(actor, Task.office_id))
    if status:
        stmt = stmt.where(Task.status == status)
    if person_id is not None:
        stmt = stmt.where(Task.person_id == person_id)
    return keyset(session, stmt, Task.id, after_id=after_id, limit=limit)


def view_inspection(*, session: Session, actor: Actor, task_id: int, now: datetime) -> Task:
    """An inspection with its summary for an officer; the access is audit-logged."""
    task = get_inspection(session=session, actor=actor, task_id=task_id)
    record_event(session=session, actor=actor, action=AuditAction.VIDEO_VIEWED, at=now, person_id=task.person_id,
                 office_id=task.office_id, target_type="task", target_id=task.id, details={"view": "summary"})
    return task


def read_key_frame(*, session: Session, blobs: BlobStore, actor: Actor, task_id: int, n: int,
                   now: datetime) -> tuple[bytes, str]:
    """The JPEG of one key frame; every access is audit-logged (a missing or altered file raises EvidenceError)."""
    task = get_inspection(session=session, actor=actor, task_id=task_id)
    frames = (task.result or {}).get("key_frames") or []
    if not 0 <= n < len(frames):
        raise NotFound("No such key frame.")
    if not frames[n].get("blob_key"):
        raise EvidencePurged("This key frame was deleted at the end of its retention period.")
    subject = EvidenceSubject(person_id=task.person_id, office_id=task.office_id, target_type="task", target_id=task.id)
    data = view_evidence(session=session, blobs=blobs, actor=actor, key=frames[n]["blob_key"], subject=subject,
                         action=AuditAction.VIDEO_VIEWED, now=now,
                         details={"view": "key_frame", "n": n, "sha256": frames[n].get("sha256")})
    return data, KEY_FRAME_TYPE


def review_inspection(*, session: Session, actor: Actor, task_id: int, decision: str, note: str | None,
                      now: datetime) -> Task:
    """Record the officer's judgement of a processed inspection (a reject needs a note); audit-logged."""
    task = get_inspection(session=session, actor=actor, task_id=task_id)
    if decision not in tuple(ReviewDecision):
        raise ValidationFailed({"decision": ["Use accept or reject."]})
    if decision == ReviewDecision.REJECT and not (note and note.strip()):
        raise ValidationFailed({"note": ["A note is required to reject an inspection."]})
    if task.status != TaskStatus.COMPLETED:
        raise Conflict("The clip has not been processed yet.", code="not_processed")
    # The decision sits beside the machine summary (the task table has no decision column); once completed, only
    # a review changes the result, so building it from this read is safe.
    result = {**(task.result or {}), "review_decision": decision}
    # One conditional UPDATE decides between officers reviewing at once: the second matches no row.
    won = session.execute(
        update(Task)
        .where(Task.id == task.id, Task.status == TaskStatus.COMPLETED, Task.reviewed_at.is_(None))
        .values(review_note=note, reviewed_by_id=actor.id, reviewed_at=now, result=result)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.refresh(task)
    if not won:
        if task.status != TaskStatus.COMPLETED:
            raise Conflict("The clip has not been processed yet.", code="not_processed")
        raise Conflict("This inspection was already reviewed.", code="already_reviewed")
    record_event(session=session, actor=actor, action=AuditAction.VIDEO_REVIEWED, at=now, person_id=task.person_id,
                 office_id=task.office_id, target_type="task", target_id=task.id,
                 details={"decision": decision, "note": note, "band": (task.result or {}).get("band")})
    return task


def summary_of(task: Task) -> dict[str, Any] | None:
    """The officer-facing summary of a processed task (no blob keys), or None before processing."""
    result = task.result or {}
    if task.status != TaskStatus.COMPLETED:
        return None
    keys = ("band", "reasons", "frames_sampled", "frames_with_face", "frames_matching", "frames_person_seen",
            "frames_inconclusive", "frames_other_person", "frames_multiple_faces", "frames_no_face",
            "other_identities", "movement", "best_distance", "verify_threshold", "reject_threshold", "video",
            "late", "error", "submitted_at", "processed_at", "engine_version")
    return {key: result.get(key) for key in keys}
