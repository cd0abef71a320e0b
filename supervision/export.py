"""Export of one person's data for a lawful request: a zip with data.json and the decrypted evidence files.

Every export is audit-logged with what it contained. Secrets (password hashes) and derived biometric templates are
left out: the photos they were computed from are in the archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.blobs import BlobError, BlobStore
from storage.models import Alert, AuditEvent, Checkin, Device, LeaveRequest, Person, ReferenceFace, Sanction, Task
from supervision.actors import SYSTEM, Actor
from supervision.audit import AuditAction, record_event
from supervision.errors import NotFound

_LEFT_OUT = frozenset({"password_hash", "encoding", "vector"})
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/heic": "heic", "image/webp": "webp",
               "video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm", "application/pdf": "pdf"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def row_dict(row: Any) -> dict[str, Any]:
    """A model row as JSON-ready values (secrets and templates left out)."""
    return {column.key: _plain(getattr(row, column.key)) for column in row.__table__.columns
            if column.key not in _LEFT_OUT}


def _rows(session: Session, model: Any, person_id: int) -> list[Any]:
    return list(session.scalars(select(model).where(model.person_id == person_id).order_by(model.id)))


def export_person(*, session: Session, blobs: BlobStore, code: str, now: datetime, reason: str,
                  actor: Actor = SYSTEM) -> tuple[bytes, dict[str, Any]]:
    """The zip archive of one person's records and evidence, and its summary; the export is audit-logged."""
    person = session.scalar(select(Person).where(Person.code == code))
    if person is None:
        raise NotFound(f"No person {code}.")
    data: dict[str, Any] = {"exported_at": now.isoformat(), "reason": reason, "person": row_dict(person)}
    tables = {"devices": Device, "reference_faces": ReferenceFace, "checkins": Checkin, "tasks": Task,
              "leave_requests": LeaveRequest, "alerts": Alert, "sanctions": Sanction, "audit_events": AuditEvent}
    files: list[tuple[str, str, str]] = []  # (archive name, blob key, row description)
    for name, model in tables.items():
        rows = _rows(session, model, person.id)
        data[name] = [row_dict(row) for row in rows]
        for row in rows:
            for key, content_type, label in _blob_fields(row):
                extension = _EXTENSIONS.get(content_type or "", "bin")
                files.append((f"files/{label}.{extension}", key, label))
    buffer = io.BytesIO()
    missing: list[str] = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for archive_name, key, label in files:
            try:
                archive.writestr(archive_name, blobs.get(key))
            except BlobError as exc:
                missing.append(f"{label}: {type(exc).__name__}")
        data["files"] = [archive_name for archive_name, _key, _label in files]
        data["files_unavailable"] = missing
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))
    payload = buffer.getvalue()
    summary = {"code": code, "reason": reason, "files": len(files) - len(missing), "files_unavailable": len(missing),
               "sha256": hashlib.sha256(payload).hexdigest(),
               "records": {name: len(data[name]) for name in tables}}
    record_event(session=session, actor=actor, action=AuditAction.PERSON_EXPORTED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="person", target_id=person.id, details=summary)
    return payload, summary


def _blob_fields(row: Any) -> list[tuple[str, str | None, str]]:
    if isinstance(row, Checkin) and row.photo_blob_key:
        return [(row.photo_blob_key, row.photo_content_type, f"checkin-{row.id}")]
    if isinstance(row, ReferenceFace) and row.blob_key:
        return [(row.blob_key, row.content_type, f"reference-{row.id}")]
    if isinstance(row, LeaveRequest) and row.attachment_blob_key:
        return [(row.attachment_blob_key, row.attachment_content_type, f"leave-{row.id}-attachment")]
    if isinstance(row, Task):
        found: list[tuple[str, str | None, str]] = []
        if row.clip_blob_key:
            found.append((row.clip_blob_key, row.clip_content_type, f"task-{row.id}-clip"))
        for frame in (row.result or {}).get("key_frames") or []:
            if frame.get("blob_key"):
                found.append((frame["blob_key"], "image/jpeg", f"task-{row.id}-frame-{frame.get('n')}"))
        return found
    return []
