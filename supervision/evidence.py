"""Officer reads of stored evidence (selfies, reference photos, key frames).

A file that is missing or fails its integrity check is a recorded outcome, not a crash: the reader gets a stable
answer (410 `evidence_unavailable`, 409 `evidence_tampered`), the attempt is audit-logged and the office gets one
`evidence_integrity` alert per blob. The caller must commit even though the read fails, so the record survives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.blobs import BlobIntegrityError, BlobNotFound, BlobStore, Payload, StoredBlob
from storage.enums import AlertType
from supervision.actors import Actor
from supervision.alerts import raise_alert
from supervision.audit import AuditAction, record_event
from supervision.errors import AppError


class EvidenceError(AppError):
    """A stored evidence file cannot be shown."""


class EvidenceUnavailable(EvidenceError):
    code = "evidence_unavailable"
    status = 410
    title = "Evidence unavailable"


class EvidenceTampered(EvidenceError):
    code = "evidence_tampered"
    status = 409
    title = "Evidence failed its integrity check"


class EvidencePurged(EvidenceError):
    code = "evidence_purged"
    status = 410
    title = "Evidence deleted under the retention rules"


@dataclass(frozen=True)
class EvidenceSubject:
    """Whose evidence a blob is and which record holds it (for the audit event and the alert)."""

    person_id: int
    office_id: int
    target_type: str
    target_id: Any


def report_evidence_problem(*, session: Session, actor: Actor, key: str, subject: EvidenceSubject, problem: str,
                            now: datetime) -> None:
    """Audit-log a failed evidence read and raise the blob's evidence_integrity alert (once per blob)."""
    action = AuditAction.EVIDENCE_TAMPERED if problem == "tampered" else AuditAction.EVIDENCE_UNAVAILABLE
    details = {"blob_key": key, "problem": problem}
    record_event(session=session, actor=actor, action=action, at=now, person_id=subject.person_id,
                 office_id=subject.office_id, target_type=subject.target_type, target_id=subject.target_id,
                 details=details)
    raise_alert(session=session, person_id=subject.person_id, office_id=subject.office_id,
                alert_type=AlertType.EVIDENCE_INTEGRITY, dedupe_key=f"{AlertType.EVIDENCE_INTEGRITY.value}:{key}",
                occurred_at=now, now=now,
                evidence={**details, "target_type": subject.target_type, "target_id": str(subject.target_id)})


def read_evidence(*, session: Session, blobs: BlobStore, actor: Actor, key: str, subject: EvidenceSubject,
                  now: datetime) -> bytes:
    """The blob's bytes; a missing or altered file is reported and raises EvidenceUnavailable or EvidenceTampered."""
    try:
        return blobs.get(key)
    except BlobNotFound as exc:
        report_evidence_problem(session=session, actor=actor, key=key, subject=subject, problem="missing", now=now)
        raise EvidenceUnavailable("The stored file for this evidence is missing; the office has been alerted.") from exc
    except BlobIntegrityError as exc:
        report_evidence_problem(session=session, actor=actor, key=key, subject=subject, problem="tampered", now=now)
        raise EvidenceTampered("The stored file for this evidence failed its integrity check; the office has been "
                               "alerted.") from exc


def view_evidence(*, session: Session, blobs: BlobStore, actor: Actor, key: str, subject: EvidenceSubject,
                  action: str | None, now: datetime, details: dict[str, Any] | None = None) -> bytes:
    """The blob's bytes through read_evidence, the view audit-logged as action on the subject (None: not logged)."""
    data = read_evidence(session=session, blobs=blobs, actor=actor, key=key, subject=subject, now=now)
    if action is not None:
        record_event(session=session, actor=actor, action=action, at=now, person_id=subject.person_id,
                     office_id=subject.office_id, target_type=subject.target_type, target_id=subject.target_id,
                     details=details)
    return data


class EvidenceReader:
    """A blob store whose reads go through read_evidence for one subject (for domain functions that take a store)."""

    def __init__(self, *, session: Session, blobs: BlobStore, actor: Actor, subject: EvidenceSubject,
                 now: datetime) -> None:
        self._session, self._blobs, self._actor, self._subject, self._now = session, blobs, actor, subject, now

    def get(self, key: str) -> bytes:
        """Read through read_evidence."""
        return read_evidence(session=self._session, blobs=self._blobs, actor=self._actor, key=key,
                             subject=self._subject, now=self._now)

    def put(self, data: bytes | Payload, *, content_type: str, key: str | None = None) -> StoredBlob:
        """Store through the wrapped store."""
        return self._blobs.put(data, content_type=content_type, key=key)

    def delete(self, key: str) -> None:
        """Delete through the wrapped store."""
        self._blobs.delete(key)

    def exists(self, key: str) -> bool:
        """Ask the wrapped store."""
        return self._blobs.exists(key)
