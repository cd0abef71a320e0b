"""Key rotation: re-seal blobs and face templates under the keyring's newest key, so an old key can be retired.

Resumable by construction: a blob or template already under the newest key is skipped, so an interrupted
`checkin rotate-keys` simply runs again. Until it has finished, keep the old key in CHECKIN_ENCRYPTION_KEYS.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.blobs import BlobError, BlobNotFound, ManagedBlobStore
from storage.crypto import Keyring, session_keyring, template_associated
from storage.models import ReferenceFace, ReferenceTemplate
from supervision.actors import SYSTEM, Actor
from supervision.audit import AuditAction, record_event


def stale_template_ids(session: Session) -> list[int]:
    """Templates not sealed with the newest key (plaintext ones from before migration 0006 included)."""
    newest = session_keyring(session).newest_id
    return list(session.scalars(select(ReferenceTemplate.id).where(
        or_(ReferenceTemplate.key_id.is_(None), ReferenceTemplate.key_id != newest)).order_by(ReferenceTemplate.id)))


def stale_encoding_ids(session: Session) -> list[int]:
    """Legacy reference encodings not sealed with the newest key."""
    newest = session_keyring(session).newest_id
    return list(session.scalars(select(ReferenceFace.id).where(
        ReferenceFace.encoding.is_not(None),
        or_(ReferenceFace.encoding_key_id.is_(None), ReferenceFace.encoding_key_id != newest))
        .order_by(ReferenceFace.id)))


def _reseal(keyring: Keyring, value: bytes, key_id: str | None, associated: bytes) -> bytes:
    raw = value if key_id is None else keyring.open(value, associated=associated)
    return keyring.seal(raw, associated=associated)


def reseal_templates(*, session: Session, ids: Iterable[int]) -> int:
    """Re-seal these templates (and nothing already under the newest key); how many changed."""
    keyring = session_keyring(session)
    changed = 0
    for row in session.scalars(select(ReferenceTemplate).where(ReferenceTemplate.id.in_(list(ids)))):
        if row.key_id == keyring.newest_id:
            continue
        row.vector = _reseal(keyring, row.vector, row.key_id, template_associated(row.reference_id, row.template))
        row.key_id = keyring.newest_id
        changed += 1
    session.flush()
    return changed


def reseal_encodings(*, session: Session, ids: Iterable[int]) -> int:
    """Re-seal these legacy reference encodings; how many changed."""
    keyring = session_keyring(session)
    changed = 0
    for reference in session.scalars(select(ReferenceFace).where(ReferenceFace.id.in_(list(ids)))):
        if reference.encoding is None or reference.encoding_key_id == keyring.newest_id:
            continue
        associated = f"reference_face:{reference.id}:encoding".encode()
        reference.encoding = _reseal(keyring, reference.encoding, reference.encoding_key_id, associated)
        reference.encoding_key_id = keyring.newest_id
        changed += 1
    session.flush()
    return changed


def rewrap_blobs(*, blobs: ManagedBlobStore, keys: Iterable[str],
                 progress: Callable[[int], None] | None = None) -> Counter[str]:
    """Re-encrypt blobs under the newest key: counts of "rewrapped", "current", "missing" and "failed"."""
    counts: Counter[str] = Counter()
    for key in keys:
        try:
            counts["rewrapped" if blobs.rewrap(key) else "current"] += 1
        except BlobNotFound:
            counts["missing"] += 1  # deleted since it was listed (a rollback clean-up, a purge)
        except BlobError:
            counts["failed"] += 1  # altered, or sealed with a key no longer in the ring: fsck reports it
        if progress is not None:
            progress(1)
    return counts


def record_rotation(*, session: Session, now: datetime, counts: dict[str, int], actor: Actor = SYSTEM) -> None:
    """Audit-log a rotation run with its counts."""
    record_event(session=session, actor=actor, action=AuditAction.KEYS_ROTATED, at=now, target_type="keyring",
                 details={"newest_key_id": session_keyring(session).newest_id, "counts": counts})
