"""Consistency of rows and blobs: rows that point to missing blobs, and blobs no row points to (orphans).

Orphans come from a crash between storing a blob and committing its row, or between a purge's commit and its
deletes. A blob younger than the grace period may belong to a request still in flight, so it is never an orphan,
unless its key names an idempotent request that is over: blobs of such requests have keys derived from their
reservation (storage.blobs.DerivedKeys), and a reservation that finished, or whose lease ran out twice over, has no
request left that could still reference them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.blobs import KEY_STEM_LENGTH, ManagedBlobStore, key_stem
from storage.enums import TaskKind
from storage.models import Checkin, IdempotencyRecord, LeaveRequest, ReferenceFace, Task
from supervision.actors import SYSTEM, Actor
from supervision.audit import AuditAction, record_event

DEFAULT_GRACE = timedelta(hours=1)
DEFAULT_LEASE = timedelta(seconds=120)  # CHECKIN_IDEMPOTENCY_LEASE_SECONDS's default


def referenced_blobs(session: Session) -> Iterator[tuple[str, str, int]]:
    """Every blob key a row points to, as (key, table, row id)."""
    for key, row_id in session.execute(select(Checkin.photo_blob_key, Checkin.id)
                                       .where(Checkin.photo_blob_key.is_not(None))):
        yield str(key), "checkin", row_id
    for key, row_id in session.execute(select(ReferenceFace.blob_key, ReferenceFace.id)
                                       .where(ReferenceFace.blob_key != "")):
        yield key, "reference_face", row_id
    for key, row_id in session.execute(select(LeaveRequest.attachment_blob_key, LeaveRequest.id)
                                       .where(LeaveRequest.attachment_blob_key.is_not(None))):
        yield str(key), "leave_request", row_id
    for row_id, clip, result in session.execute(select(Task.id, Task.clip_blob_key, Task.result)
                                                .where(Task.kind == TaskKind.VIDEO_INSPECTION)):
        if clip:
            yield clip, "task", row_id
        for frame in (result or {}).get("key_frames") or []:
            if frame.get("blob_key"):
                yield frame["blob_key"], "task_key_frame", row_id


@dataclass
class FsckReport:
    """What fsck found."""

    rows_checked: int = 0
    blobs_listed: int = 0
    missing: list[tuple[str, str, int]] = field(default_factory=list)  # (key, table, row id)
    orphans: list[str] = field(default_factory=list)
    young_unreferenced: int = 0  # unreferenced but within the grace period (uploads in flight)
    removed: int = 0

    def as_dict(self) -> dict[str, object]:
        """A summary for the audit log and the CLI (lists cut to 200 entries)."""
        return {"rows_checked": self.rows_checked, "blobs_listed": self.blobs_listed,
                "missing": len(self.missing), "orphans": len(self.orphans),
                "young_unreferenced": self.young_unreferenced, "removed": self.removed,
                "missing_sample": [list(m) for m in self.missing[:200]], "orphan_sample": self.orphans[:200]}


def finished_request_stems(session: Session, *, now: datetime, lease: timedelta) -> set[str]:
    """Key stems of the idempotent requests that can no longer store or reference a blob: answered, or holding a
    reservation whose lease ran out twice over (its worker is gone; a retry would take the lease over first)."""
    rows = session.execute(
        select(IdempotencyRecord.id, IdempotencyRecord.scope, IdempotencyRecord.key, IdempotencyRecord.request_hash)
        .where(IdempotencyRecord.completed_at.is_not(None) | (IdempotencyRecord.created_at <= now - 2 * lease)))
    return {key_stem(str(row_id), scope, key, request_hash) for row_id, scope, key, request_hash in rows}


def check_blobs(*, session: Session, blobs: ManagedBlobStore, now: datetime,
                grace: timedelta = DEFAULT_GRACE, lease: timedelta = DEFAULT_LEASE) -> FsckReport:
    """Compare the rows' blob keys with the store's listing (nothing is changed)."""
    report = FsckReport()
    referenced: dict[str, tuple[str, str, int]] = {}
    for key, table, row_id in referenced_blobs(session):
        report.rows_checked += 1
        referenced.setdefault(key, (key, table, row_id))
    stored: set[str] = set()
    finished: set[str] | None = None  # looked up on the first young unreferenced blob
    for entry in blobs.keys():
        report.blobs_listed += 1
        stored.add(entry.key)
        if entry.key in referenced:
            continue
        if entry.modified_at > now - grace:
            if finished is None:
                finished = finished_request_stems(session, now=now, lease=lease)
            if entry.key[:KEY_STEM_LENGTH] not in finished:
                report.young_unreferenced += 1
                continue
        report.orphans.append(entry.key)
    report.missing = [ref for key, ref in referenced.items() if key not in stored]
    return report


def repair_orphans(*, blobs: ManagedBlobStore, report: FsckReport) -> int:
    """Delete the orphans of a report; how many were deleted."""
    for key in report.orphans:
        blobs.delete(key)
        report.removed += 1
    return report.removed


def record_fsck(*, session: Session, now: datetime, report: FsckReport, repair: bool,
                actor: Actor = SYSTEM) -> None:
    """Audit-log one fsck run."""
    record_event(session=session, actor=actor, action=AuditAction.BLOBS_CHECKED, at=now, target_type="blob_store",
                 details={"repair": repair, **report.as_dict()})
