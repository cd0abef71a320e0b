"""Reference faces: enrolment with strict quality gates, listing, deletion and photo access (audited)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.blobs import BlobStore
from storage.db import on_rollback
from storage.models import Person, ReferenceFace
from supervision.actors import Actor
from supervision.audit import AuditAction, record_event
from supervision.errors import Conflict, NotFound, UnusableImage, ValidationFailed
from verification.engine import FaceAnalysis, FaceEngine
from verification.errors import ImageError, QualityError

IMAGE_ERROR_STATUS = {"unsupported_media_type": 415, "image_too_large": 413, "invalid_image": 422}


def unusable(error: ImageError | QualityError) -> UnusableImage:
    """The client-facing error for an upload the engine refused."""
    if isinstance(error, ImageError):
        return UnusableImage(error.code, error.detail, status=IMAGE_ERROR_STATUS.get(error.code, 422))
    return UnusableImage(error.code, error.detail, quality=error.quality)


def encoding_to_bytes(encoding: np.ndarray) -> bytes:
    """Serialise a 128-d encoding for the database."""
    return np.asarray(encoding, dtype="<f8").tobytes()


def encoding_from_bytes(data: bytes) -> np.ndarray:
    """Inverse of encoding_to_bytes."""
    return np.frombuffer(data, dtype="<f8").astype(np.float64)


def active_references(session: Session, person_id: int) -> list[ReferenceFace]:
    """The person's references in enrolment order."""
    stmt = select(ReferenceFace).where(ReferenceFace.person_id == person_id, ReferenceFace.deleted_at.is_(None))
    return list(session.scalars(stmt.order_by(ReferenceFace.id)))


def enrol_reference(*, session: Session, blobs: BlobStore, engine: FaceEngine, actor: Actor, person: Person,
                    photo: bytes, force: bool, note: str | None, now: datetime,
                    max_references: int) -> tuple[ReferenceFace, FaceAnalysis]:
    """Enrol one reference photo; refuse poor photos and, unless forced with a note, faces unlike the others."""
    if force and not (note and note.strip()):
        raise ValidationFailed({"note": ["A note is required to force an enrolment."]})
    existing = active_references(session, person.id)
    if len(existing) >= max_references:
        raise Conflict(f"A person can have at most {max_references} reference photos; delete one first.",
                       code="too_many_references")
    try:
        analysis = engine.analyze(photo, purpose="enrol")
    except (ImageError, QualityError) as exc:
        raise unusable(exc) from exc

    consistency = None
    if existing:
        result = engine.match(analysis.encoding, [encoding_from_bytes(ref.encoding) for ref in existing])
        consistency = result.as_dict()
        # The officer is with the person at intake, so this guards against clerical mistakes (another
        # person's photo), not attacks: only a clearly different face (the rejected band) is refused.
        if result.band == "rejected" and not force:
            raise UnusableImage(
                "reference_mismatch",
                "This face does not match the person's other reference photos. Check the photo, or force the "
                "enrolment with a note.",
                quality={"distance": result.distance, "reject_threshold": result.reject_threshold},
            )

    stored = blobs.put(photo, content_type=analysis.content_type)
    on_rollback(session, lambda: blobs.delete(stored.key))
    quality = dict(analysis.quality)
    if consistency is not None:
        quality["consistency"] = consistency
    reference = ReferenceFace(
        person_id=person.id,
        blob_key=stored.key,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        encoding=encoding_to_bytes(analysis.encoding),
        quality=quality,
        engine_version=engine.version,
        forced=force,
        note=note,
        created_by_id=actor.id,
        created_at=now,
    )
    session.add(reference)
    session.flush()
    record_event(session=session, actor=actor, action=AuditAction.FACE_ENROLLED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="reference_face", target_id=reference.id,
                 details={"forced": force, "note": note, "sha256": stored.sha256})
    return reference, analysis


def get_reference(*, session: Session, person: Person, face_id: int, include_deleted: bool = False) -> ReferenceFace:
    """One reference of person, or NotFound."""
    reference = session.get(ReferenceFace, face_id)
    if reference is None or reference.person_id != person.id or (reference.deleted_at and not include_deleted):
        raise NotFound("No such reference photo.")
    return reference


def delete_reference(*, session: Session, actor: Actor, person: Person, face_id: int, now: datetime) -> None:
    """Retire a reference: it no longer takes part in matching; its photo stays as evidence until retention."""
    reference = get_reference(session=session, person=person, face_id=face_id)
    reference.deleted_at = now
    reference.deleted_by_id = actor.id
    record_event(session=session, actor=actor, action=AuditAction.FACE_DELETED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="reference_face", target_id=reference.id)
    session.flush()


def read_reference_photo(*, session: Session, blobs: BlobStore, actor: Actor, person: Person, face_id: int,
                         now: datetime) -> tuple[bytes, str]:
    """The reference photo bytes; every access is audit-logged."""
    reference = get_reference(session=session, person=person, face_id=face_id, include_deleted=True)
    data = blobs.get(reference.blob_key)
    record_event(session=session, actor=actor, action=AuditAction.FACE_PHOTO_VIEWED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="reference_face", target_id=reference.id)
    return data, reference.content_type


def count_references(session: Session, person_id: int) -> int:
    """How many active references the person has."""
    return session.scalar(
        select(func.count(ReferenceFace.id)).where(ReferenceFace.person_id == person_id,
                                                   ReferenceFace.deleted_at.is_(None))
    ) or 0
