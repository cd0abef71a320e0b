"""Reference faces: enrolment with strict quality gates, listing, deletion and photo access (audited)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.blobs import BlobError, BlobStore, Payload, as_payload
from storage.crypto import Keyring, session_keyring, template_associated
from storage.db import on_rollback
from storage.models import Person, ReferenceFace, ReferenceTemplate
from supervision.actors import Actor
from supervision.audit import AuditAction, record_event
from supervision.errors import Conflict, NotFound, UnusableImage, ValidationFailed
from supervision.evidence import EvidencePurged, EvidenceSubject, view_evidence
from verification.engine import FaceAnalysis, FaceEngine
from verification.errors import ImageError, QualityError


def encoding_to_bytes(encoding: np.ndarray) -> bytes:
    """Serialise a 128-d encoding for the database."""
    return np.asarray(encoding, dtype="<f8").tobytes()


def encoding_from_bytes(data: bytes) -> np.ndarray:
    """Inverse of encoding_to_bytes."""
    return np.frombuffer(data, dtype="<f8").astype(np.float64)


def active_references(session: Session, person_id: int) -> list[ReferenceFace]:
    """The person's references in enrolment order."""
    stmt = select(ReferenceFace).where(ReferenceFace.person_id == person_id, ReferenceFace.deleted_at.is_(None),
                                       ReferenceFace.purged_at.is_(None))
    return list(session.scalars(stmt.order_by(ReferenceFace.id)))


@dataclass
class ReferenceSet:
    """A person's active references that carry every template the engine decides on, and those templates."""

    references: list[ReferenceFace]
    templates: dict[str, list[np.ndarray]]  # embedder key -> one template per reference, in the same order
    active: int  # active references, usable or not
    encoded_now: list[int] = field(default_factory=list)  # references templated on the fly by this call
    unusable: list[int] = field(default_factory=list)  # references whose photo could not be templated

    def of(self, key: str) -> list[np.ndarray]:
        """The templates of one embedder."""
        return self.templates.get(key, [])


def stored_templates(session: Session, reference_ids: Iterable[int]) -> dict[int, dict[str, np.ndarray]]:
    """Every stored template of these references, by reference id and embedder key."""
    ids = list(reference_ids)
    found: dict[int, dict[str, np.ndarray]] = {i: {} for i in ids}
    if not ids:
        return found
    keyring: Keyring | None = None
    for row in session.scalars(select(ReferenceTemplate).where(ReferenceTemplate.reference_id.in_(ids))):
        if row.key_id is None:  # written before templates were sealed; rotate-keys seals it
            raw = row.vector
        else:
            keyring = keyring or session_keyring(session)
            raw = keyring.open(row.vector, associated=template_associated(row.reference_id, row.template))
        found[row.reference_id][row.template] = encoding_from_bytes(raw)
    return found


def seal_template(keyring: Keyring, *, reference_id: int, template: str, raw: bytes) -> tuple[bytes, str]:
    """A template's bytes sealed with the newest key, bound to its row; the sealed bytes and the key id."""
    return keyring.seal(raw, associated=template_associated(reference_id, template)), keyring.newest_id


def add_templates(*, session: Session, reference: ReferenceFace, templates: Mapping[str, np.ndarray],
                  engine_version: str, now: datetime) -> None:
    """Store a reference's templates (one row per embedder key), sealed with the session's keyring."""
    keyring = session_keyring(session)
    for key, vector in templates.items():
        sealed, key_id = seal_template(keyring, reference_id=reference.id, template=key,
                                       raw=encoding_to_bytes(vector))
        session.add(ReferenceTemplate(reference_id=reference.id, template=key, vector=sealed, key_id=key_id,
                                      engine_version=engine_version, created_at=now))
    session.flush()


def encode_reference(*, session: Session, blobs: BlobStore, engine: FaceEngine, reference: ReferenceFace,
                     missing: Iterable[str], now: datetime) -> dict[str, np.ndarray] | None:
    """Template a stored reference photo again for the missing embedders; None when the photo cannot be used.

    The photo passed the enrolment gates (or an officer forced it) when it was enrolled, so it is analysed with the
    check-in gates here: a gate that changed with the engine must not silently drop a reference.
    """
    try:
        analysis = engine.analyze(blobs.get(reference.blob_key), purpose="checkin")
    except (ImageError, QualityError, BlobError):
        return None
    every = analysis.templates.complete()
    wanted = {key: every[key] for key in missing if key in every}
    add_templates(session=session, reference=reference, templates=wanted, engine_version=engine.version, now=now)
    return wanted


def reencode_reference(*, session: Session, blobs: BlobStore, engine: FaceEngine, reference: ReferenceFace,
                       keys: Iterable[str], force: bool, now: datetime) -> str:
    """Give one reference the templates `keys` from its photo: "encoded", "present" (nothing to do) or "unusable"."""
    wanted = list(keys)
    have = stored_templates(session, [reference.id])[reference.id]
    if force:
        for row in session.scalars(select(ReferenceTemplate).where(ReferenceTemplate.reference_id == reference.id,
                                                                   ReferenceTemplate.template.in_(wanted))):
            session.delete(row)
        session.flush()
        have = {}
    missing = [key for key in wanted if key not in have]
    if not missing:
        return "present"
    added = encode_reference(session=session, blobs=blobs, engine=engine, reference=reference, missing=missing,
                             now=now)
    return "encoded" if added is not None and all(key in added for key in missing) else "unusable"


def load_reference_set(*, session: Session, blobs: BlobStore | None, engine: FaceEngine, person_id: int,
                       now: datetime) -> ReferenceSet:
    """The person's references with the engine's templates; missing ones are computed from the photo and stored.

    Without a blob store (or when a photo cannot be used) a reference lacking a template is left out, never matched
    with a template of another engine.
    """
    references = active_references(session, person_id)
    stored = stored_templates(session, (r.id for r in references))
    keys = engine.template_keys
    usable: list[ReferenceFace] = []
    templates: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    result = ReferenceSet(usable, templates, len(references))
    for reference in references:
        have = stored[reference.id]
        missing = [key for key in keys if key not in have]
        if missing:
            added = None if blobs is None else encode_reference(session=session, blobs=blobs, engine=engine,
                                                                reference=reference, missing=missing, now=now)
            if added is None or any(key not in added for key in missing):
                result.unusable.append(reference.id)
                continue
            have = {**have, **added}
            result.encoded_now.append(reference.id)
        usable.append(reference)
        for key in keys:
            templates[key].append(have[key])
    return result


def enrol_reference(*, session: Session, blobs: BlobStore, engine: FaceEngine, actor: Actor, person: Person,
                    photo: bytes | Payload, force: bool, note: str | None, now: datetime,
                    max_references: int) -> tuple[ReferenceFace, FaceAnalysis]:
    """Enrol one reference photo; refuse poor photos and, unless forced with a note, faces unlike the others.

    The photo's hash and sniffed type come from its Payload (bytes are hashed into one), so nothing hashes it twice.
    """
    photo = as_payload(photo)
    if force and not (note and note.strip()):
        raise ValidationFailed({"note": ["A note is required to force an enrolment."]})
    existing = load_reference_set(session=session, blobs=blobs, engine=engine, person_id=person.id, now=now)
    if existing.active >= max_references:
        raise Conflict(f"A person can have at most {max_references} reference photos; delete one first.",
                       code="too_many_references")
    try:
        analysis = engine.analyze(photo.data, purpose="enrol", content_type=photo.content_type)
    except (ImageError, QualityError) as exc:
        raise UnusableImage.refusing(exc) from exc

    consistency = None
    if existing.references:
        result = engine.match(analysis.encoding, existing.of(engine.primary_key))
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
        encoding=None,
        quality=quality,
        engine_version=engine.version,
        forced=force,
        note=note,
        created_by_id=actor.id,
        created_at=now,
    )
    session.add(reference)
    session.flush()
    add_templates(session=session, reference=reference, templates=analysis.templates.complete(),
                  engine_version=engine.version, now=now)
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
    """The reference photo bytes; every access is audit-logged (a missing or altered file raises EvidenceError)."""
    reference = get_reference(session=session, person=person, face_id=face_id, include_deleted=True)
    if reference.purged_at is not None:
        raise EvidencePurged("This reference photo was deleted at the end of its retention period.")
    subject = EvidenceSubject(person_id=person.id, office_id=person.office_id, target_type="reference_face",
                              target_id=reference.id)
    data = view_evidence(session=session, blobs=blobs, actor=actor, key=reference.blob_key, subject=subject,
                         action=AuditAction.FACE_PHOTO_VIEWED, now=now)
    return data, reference.content_type


def count_references(session: Session, person_id: int) -> int:
    """How many active references the person has."""
    return session.scalar(
        select(func.count(ReferenceFace.id)).where(ReferenceFace.person_id == person_id,
                                                   ReferenceFace.deleted_at.is_(None),
                                                   ReferenceFace.purged_at.is_(None))
    ) or 0
