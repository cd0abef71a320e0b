"""Retention: what is deleted when, enforced by `checkin purge` (and the sweep schedule).

Sensitive personal data (PIPL Art. 28: face images and templates, video, location) is kept for supervision only.
After the retention period a purge deletes the blobs and clears the row fields that point to them, but keeps the
decision records (status, reasons, match figures, who reviewed, notes): the case file (档案) needs those.

Each kind of purgeable data is a PurgeKind in PURGE_KINDS; a new kind (e.g. location fixes, once they are stored) is
one more register_purge_kind() call with its retention setting. Every run is idempotent: a purged row no longer
holds anything a kind selects, so a second run finds nothing. Blobs are deleted only after the commit that cleared
their rows (storage.db.on_commit): an interrupted run leaves at most orphans, which `checkin fsck --repair` removes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.blobs import BlobStore
from storage.db import on_commit
from storage.enums import CheckinStatus, PersonStatus, TaskKind
from storage.models import AuditEvent, Checkin, LeaveRequest, Person, ReferenceFace, ReferenceTemplate, Task
from supervision.actors import SYSTEM, Actor
from supervision.audit import AuditAction, record_event

# The CHECKIN_RETENTION_* settings, in days (0: keep forever).
PERIOD_SETTINGS = {
    "released": "RETENTION_RELEASED_DAYS",
    "key_frames": "RETENTION_KEY_FRAMES_DAYS",
    "failed_attempts": "RETENTION_FAILED_ATTEMPT_DAYS",
    "audit": "RETENTION_AUDIT_DAYS",
}


@dataclass(frozen=True)
class RetentionSettings:
    """How long each kind of data is kept; None keeps it forever."""

    periods: Mapping[str, timedelta | None] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetentionSettings:
        """Build the settings from CHECKIN_RETENTION_* (days; 0 keeps forever)."""
        periods: dict[str, timedelta | None] = {}
        for name, key in PERIOD_SETTINGS.items():
            days = float(config.get(key, 0) or 0)
            if days < 0:
                raise ValueError(f"{key} must not be negative")
            periods[name] = timedelta(days=days) if days else None
        if periods["audit"] is not None and any(p is not None and p > periods["audit"]
                                                for n, p in periods.items() if n != "audit"):
            raise ValueError("RETENTION_AUDIT_DAYS must be at least every other retention period (the audit log "
                             "is kept longest)")
        return cls(periods)

    def period(self, name: str) -> timedelta | None:
        """The retention period of one setting name, or None."""
        return self.periods.get(name)


@dataclass(frozen=True)
class PurgeKind:
    """One kind of purgeable data: which rows are due, which blobs a row holds, how its row is cleared."""

    name: str
    period: str  # a key of PERIOD_SETTINGS
    due_ids: Callable[[Session, datetime], list[int]]  # ids of rows still holding data, older than the cutoff
    load: Callable[[Session, list[int]], list[Any]]
    keys: Callable[[Any], list[str]]  # the blob keys a row still holds
    clear: Callable[[Session, Any, datetime], int]  # clear the row; the number of items removed


PURGE_KINDS: dict[str, PurgeKind] = {}


def register_purge_kind(kind: PurgeKind) -> PurgeKind:
    """Add a kind of purgeable data (its name must be new, its period one of PERIOD_SETTINGS)."""
    if kind.name in PURGE_KINDS:
        raise ValueError(f"purge kind {kind.name!r} is already registered")
    if kind.period not in PERIOD_SETTINGS:
        raise ValueError(f"unknown retention period {kind.period!r}")
    PURGE_KINDS[kind.name] = kind
    return kind


def _released_before(cutoff: datetime) -> Any:
    return select(Person.id).where(Person.released_at.is_not(None), Person.released_at < cutoff,
                                   Person.status != PersonStatus.ACTIVE)


def _loader(model: Any) -> Callable[[Session, list[int]], list[Any]]:
    def load(session: Session, ids: list[int]) -> list[Any]:
        return list(session.scalars(select(model).where(model.id.in_(ids)).order_by(model.id)))
    return load


# Check-in photos of persons released longer ago than the period.

def _checkin_photo_due(session: Session, cutoff: datetime) -> list[int]:
    return list(session.scalars(select(Checkin.id).where(Checkin.person_id.in_(_released_before(cutoff)),
                                                         Checkin.photo_blob_key.is_not(None)).order_by(Checkin.id)))


def _failed_photo_due(session: Session, cutoff: datetime) -> list[int]:
    return list(session.scalars(select(Checkin.id).where(Checkin.status == CheckinStatus.FAILED,
                                                         Checkin.received_at < cutoff,
                                                         Checkin.photo_blob_key.is_not(None)).order_by(Checkin.id)))


def _clear_checkin_photo(_session: Session, checkin: Checkin, now: datetime) -> int:
    # photo_sha256 stays: it identifies the evidence in the file and keeps duplicate detection working.
    checkin.photo_blob_key = None
    checkin.photo_content_type = None
    checkin.photo_size = None
    checkin.exif = None  # raw metadata may carry a GPS position; the decision does not need it
    checkin.purged_at = now
    return 1


def _frame_keys(task: Task) -> list[str]:
    return [frame["blob_key"] for frame in (task.result or {}).get("key_frames") or [] if frame.get("blob_key")]


def _strip_frames(task: Task, now: datetime) -> int:
    result = dict(task.result or {})
    frames = result.get("key_frames") or []
    removed = sum(1 for frame in frames if frame.get("blob_key"))
    if removed:
        result["key_frames"] = [{**{k: v for k, v in frame.items() if k != "blob_key"}, "purged": True}
                                for frame in frames]
        result["key_frames_purged_at"] = now.isoformat()
        task.result = result  # a new dict, so the JSON column is written
    return removed


def _clip_due(session: Session, cutoff: datetime) -> list[int]:
    return list(session.scalars(select(Task.id).where(Task.kind == TaskKind.VIDEO_INSPECTION,
                                                      Task.person_id.in_(_released_before(cutoff)),
                                                      Task.purged_at.is_(None)).order_by(Task.id)))


def _clip_keys(task: Task) -> list[str]:
    return ([task.clip_blob_key] if task.clip_blob_key else []) + _frame_keys(task)


def _clear_clip(_session: Session, task: Task, now: datetime) -> int:
    removed = (1 if task.clip_blob_key else 0) + _strip_frames(task, now)
    task.clip_blob_key = None
    task.clip_content_type = None
    task.clip_size = None
    task.purged_at = now
    return removed


def _key_frames_due(session: Session, cutoff: datetime) -> list[int]:
    # Key frames live in the task's JSON result: filter in Python (video inspections are few next to check-ins).
    rows = session.execute(select(Task.id, Task.result).where(Task.kind == TaskKind.VIDEO_INSPECTION,
                                                              Task.created_at < cutoff).order_by(Task.id))
    return [task_id for task_id, result in rows
            if any(frame.get("blob_key") for frame in (result or {}).get("key_frames") or [])]


def _clear_key_frames(_session: Session, task: Task, now: datetime) -> int:
    return _strip_frames(task, now)


def _attachment_due(session: Session, cutoff: datetime) -> list[int]:
    return list(session.scalars(select(LeaveRequest.id).where(LeaveRequest.person_id.in_(_released_before(cutoff)),
                                                              LeaveRequest.attachment_blob_key.is_not(None))
                                .order_by(LeaveRequest.id)))


def _clear_attachment(_session: Session, leave: LeaveRequest, now: datetime) -> int:
    leave.attachment_blob_key = None
    leave.attachment_content_type = None
    leave.attachment_size = None
    leave.purged_at = now
    return 1


def _reference_due(session: Session, cutoff: datetime) -> list[int]:
    return list(session.scalars(select(ReferenceFace.id).where(ReferenceFace.person_id.in_(_released_before(cutoff)),
                                                               ReferenceFace.purged_at.is_(None))
                                .order_by(ReferenceFace.id)))


def _clear_reference(session: Session, reference: ReferenceFace, now: datetime) -> int:
    # The face template is biometric data too: it goes with the photo.
    templates = session.execute(delete(ReferenceTemplate).where(ReferenceTemplate.reference_id == reference.id)
                                .execution_options(synchronize_session=False))
    reference.blob_key = ""
    reference.encoding = None
    reference.encoding_key_id = None
    reference.purged_at = now
    return 1 + int(getattr(templates, "rowcount", 0) or 0)


def _audit_due(session: Session, cutoff: datetime) -> list[int]:
    return list(session.scalars(select(AuditEvent.id).where(AuditEvent.at < cutoff).order_by(AuditEvent.id)))


def _clear_audit(session: Session, event: AuditEvent, _now: datetime) -> int:
    session.delete(event)
    return 1


def _no_keys(_row: Any) -> list[str]:
    return []


register_purge_kind(PurgeKind("checkin_photos", "released", _checkin_photo_due, _loader(Checkin),
                              lambda c: [c.photo_blob_key] if c.photo_blob_key else [], _clear_checkin_photo))
register_purge_kind(PurgeKind("failed_attempt_photos", "failed_attempts", _failed_photo_due, _loader(Checkin),
                              lambda c: [c.photo_blob_key] if c.photo_blob_key else [], _clear_checkin_photo))
register_purge_kind(PurgeKind("video_clips", "released", _clip_due, _loader(Task), _clip_keys, _clear_clip))
register_purge_kind(PurgeKind("key_frames", "key_frames", _key_frames_due, _loader(Task), _frame_keys,
                              _clear_key_frames))
register_purge_kind(PurgeKind("leave_attachments", "released", _attachment_due, _loader(LeaveRequest),
                              lambda r: [r.attachment_blob_key] if r.attachment_blob_key else [], _clear_attachment))
register_purge_kind(PurgeKind("reference_faces", "released", _reference_due, _loader(ReferenceFace),
                              lambda r: [r.blob_key] if r.blob_key else [], _clear_reference))
# The audit log is kept longest; the event this purge records is new, so it is never its own victim.
register_purge_kind(PurgeKind("audit_events", "audit", _audit_due, _loader(AuditEvent), _no_keys, _clear_audit))


@dataclass
class PurgeCounts:
    """What one kind's purge found (rows) and removed (items, blobs)."""

    rows: int = 0
    items: int = 0
    blobs: int = 0


def plan_purge(*, session: Session, now: datetime, settings: RetentionSettings,
               kinds: list[str] | None = None) -> dict[str, tuple[datetime, list[int]]]:
    """The due row ids of every enabled kind, with its cutoff (nothing is changed)."""
    plan: dict[str, tuple[datetime, list[int]]] = {}
    for name, kind in PURGE_KINDS.items():
        period = settings.period(kind.period)
        if period is None or (kinds is not None and name not in kinds):
            continue
        cutoff = now - period
        plan[name] = (cutoff, kind.due_ids(session, cutoff))
    return plan


def purge_rows(*, session: Session, blobs: BlobStore, kind: str, ids: list[int], now: datetime,
               apply: bool) -> PurgeCounts:
    """Purge (or, without apply, count) the given rows of one kind; blobs are deleted after the commit."""
    spec = PURGE_KINDS[kind]
    counts = PurgeCounts()
    for row in spec.load(session, ids):
        keys = spec.keys(row)
        counts.rows += 1
        counts.blobs += len(keys)
        if not apply:
            counts.items += max(len(keys), 1)
            continue
        counts.items += spec.clear(session, row, now)
        for key in keys:
            on_commit(session, lambda key=key: blobs.delete(key))
    session.flush()
    return counts


def record_purge(*, session: Session, now: datetime, counts: Mapping[str, PurgeCounts], apply: bool,
                 settings: RetentionSettings, actor: Actor = SYSTEM) -> None:
    """Audit-log one purge run with its counts per kind."""
    record_event(session=session, actor=actor, action=AuditAction.DATA_PURGED if apply else AuditAction.PURGE_PLANNED,
                 at=now, target_type="retention",
                 details={"apply": apply,
                          "periods_days": {name: None if p is None else p.days for name, p in settings.periods.items()},
                          "counts": {name: vars(c) for name, c in counts.items()}})


def run_purge(*, session: Session, blobs: BlobStore, now: datetime, settings: RetentionSettings | Mapping[str, Any],
              apply: bool, batch: int = 200, progress: Callable[[int], None] | None = None,
              commit: Callable[[], None] | None = None,
              plan: Mapping[str, tuple[datetime, list[int]]] | None = None) -> dict[str, PurgeCounts]:
    """Purge every kind due under the retention settings (dry run unless apply) and audit-log the counts.

    commit, when given, is called after each batch (the CLI commits there, so an interrupted run keeps its work and
    deletes the blobs of what it committed); without it everything is one transaction, as in the sweep.
    """
    if not isinstance(settings, RetentionSettings):
        settings = RetentionSettings.from_config(settings)
    counts: dict[str, PurgeCounts] = {}
    if plan is None:
        plan = plan_purge(session=session, now=now, settings=settings)
    for name, (cutoff, planned) in plan.items():
        # An earlier kind may have cleared rows this one planned (a released person's clip takes its key frames):
        # ask again, so nothing is counted twice.
        ids = PURGE_KINDS[name].due_ids(session, cutoff) if apply else planned
        total = counts.setdefault(name, PurgeCounts())
        for start in range(0, len(ids), batch):
            done = purge_rows(session=session, blobs=blobs, kind=name, ids=ids[start:start + batch], now=now,
                              apply=apply)
            total.rows += done.rows
            total.items += done.items
            total.blobs += done.blobs
            if commit is not None and apply:
                commit()
            if progress is not None:
                progress(len(ids[start:start + batch]))
    record_purge(session=session, now=now, counts=counts, apply=apply, settings=settings)
    return counts


def due_total(plan: Mapping[str, tuple[datetime, list[int]]]) -> int:
    """How many rows a plan touches."""
    return sum(len(ids) for _cutoff, ids in plan.values())


def iter_kinds() -> Iterator[PurgeKind]:
    """The registered kinds, in registration order."""
    return iter(PURGE_KINDS.values())
