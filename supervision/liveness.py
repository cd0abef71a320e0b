"""Liveness challenges: random actions issued to a person, used once within minutes, and the recorded frames
judged against the challenge and the person's reference faces."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from storage.blobs import BlobStore
from storage.models import LivenessChallenge, Person
from supervision.errors import AppError, Conflict, NotFound, RuleViolation, ValidationFailed
from supervision.faces import load_reference_set, unusable
from verification import liveness, video
from verification.decode import decode_image
from verification.engine import FaceEngine
from verification.errors import ImageError

CHALLENGE_TTL = timedelta(minutes=2)
MIN_ACTIONS = 2
MAX_ACTIONS = 3
# When a check-in must carry a liveness clip: never, when it answers a spot check, or always.
LIVENESS_MODES = ("off", "spot_checks", "always")
VIDEO_ERROR_STATUS = {"unsupported_media_type": 415, "video_too_large": 413, "video_too_long": 422,
                      "invalid_video": 422}


class UnusableVideo(AppError):
    """The uploaded clip cannot be decoded or is outside the limits."""

    status = 422
    title = "Unusable video"


def unusable_video(error: video.VideoError) -> UnusableVideo:
    """The client-facing error for a clip the decoder refused."""
    return UnusableVideo(error.detail, code=error.code, status=VIDEO_ERROR_STATUS.get(error.code, 422))


def liveness_required(*, mode: str, by_level: Mapping[str, str], level: str, answering_task: bool) -> bool:
    """Whether a check-in by a person at this supervision level must carry a liveness challenge."""
    effective = by_level.get(level, mode)
    if effective not in LIVENESS_MODES:
        raise ValueError(f"unknown liveness mode {effective!r}; use one of {', '.join(LIVENESS_MODES)}")
    return effective == "always" or (effective == "spot_checks" and answering_task)


def random_actions() -> list[str]:
    """Two or three different actions in a random order, from a cryptographic source."""
    count = MIN_ACTIONS + secrets.randbelow(MAX_ACTIONS - MIN_ACTIONS + 1)
    pool = list(liveness.ACTIONS)
    chosen: list[str] = []
    for _ in range(count):
        chosen.append(pool.pop(secrets.randbelow(len(pool))))
    return chosen


def create_challenge(*, session: Session, person: Person, now: datetime,
                     ttl: timedelta = CHALLENGE_TTL) -> LivenessChallenge:
    """Issue a single-use challenge of random actions that expires after ttl."""
    challenge = LivenessChallenge(id=str(uuid.UUID(bytes=secrets.token_bytes(16), version=4)), person_id=person.id,
                                  actions=random_actions(), created_at=now, expires_at=now + ttl)
    session.add(challenge)
    session.flush()
    return challenge


def consume_challenge(*, session: Session, person: Person, challenge_id: str, now: datetime) -> LivenessChallenge:
    """Mark the person's challenge used; another person's is NotFound, a used one 409, an expired one 422."""
    challenge = session.get(LivenessChallenge, challenge_id)
    if challenge is None or challenge.person_id != person.id:
        raise NotFound("No such liveness challenge.")
    if challenge.used_at is not None:
        raise Conflict("This liveness challenge was already used; ask for a new one.", code="challenge_used")
    if challenge.expires_at <= now:
        raise RuleViolation("This liveness challenge has expired; ask for a new one.", code="challenge_expired")
    # Conditional, so two uploads racing with one challenge cannot both use it.
    result = session.execute(
        update(LivenessChallenge)
        .where(LivenessChallenge.id == challenge.id, LivenessChallenge.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This liveness challenge was already used; ask for a new one.", code="challenge_used")
    session.refresh(challenge)
    return challenge


def _decode_frames(engine: FaceEngine, frames: Sequence[bytes]) -> list[Any]:
    images = []
    for data in frames:
        try:
            decoded = decode_image(data, max_pixels=engine.settings.max_pixels,
                                   min_long_side=engine.settings.detect_long_side, caps=engine.settings.pixel_caps)
        except ImageError as exc:
            raise unusable(exc) from exc
        images.append(decoded.rgb)
    return images


def evaluate_liveness(*, session: Session, engine: FaceEngine, person: Person, challenge: LivenessChallenge,
                      video_data: bytes | None, frames: Sequence[bytes], mirrored: bool,
                      limits: video.VideoLimits, max_frames: int, now: datetime, blobs: BlobStore | None = None,
                      thresholds: liveness.LivenessThresholds | None = None) -> dict[str, Any]:
    """Judge a clip (or still frames about 0.1 s apart) recorded for the challenge; the result to store."""
    if video_data is None and not frames:
        raise ValidationFailed({"video": ["A video (or frames) recorded while doing the actions is required."]})
    if video_data is not None and frames:
        raise ValidationFailed({"frames": ["Send either a video or frames, not both."]})
    if len(frames) > max_frames:
        raise ValidationFailed({"frames": [f"Send at most {max_frames} frames."]})
    try:
        if video_data is not None:
            measures = video.liveness_measures(video_data, engine=engine, limits=limits)
        else:
            measures = video.liveness_measures_from_images(_decode_frames(engine, frames), engine=engine)
    except video.VideoError as exc:
        raise unusable_video(exc) from exc
    refs = load_reference_set(session=session, blobs=blobs, engine=engine, person_id=person.id, now=now)
    references = refs.of(engine.primary_key)  # frames carry the deciding template (SFace by default)
    result = liveness.check_actions(measures, challenge.actions, references=references, mirrored=mirrored,
                                    thresholds=thresholds, verify_threshold=engine.settings.verify_threshold,
                                    reject_threshold=engine.settings.reject_threshold)
    return {
        "challenge_id": challenge.id,
        "actions": list(challenge.actions),
        "source": "video" if video_data is not None else "frames",
        "mirrored": mirrored,
        **result.as_dict(),
        "engine_version": engine.version,
    }
