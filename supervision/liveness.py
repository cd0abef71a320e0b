"""Liveness challenges: random actions issued to a person, used once within minutes, and the recorded frames
judged against the challenge and the person's reference faces."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from storage.enums import CheckinKind
from storage.models import LivenessChallenge, Person
from supervision.errors import Conflict, NotFound, RuleViolation, UnusableImage, UnusableVideo, ValidationFailed
from supervision.faces import ReferenceSet
from verification import liveness, video
from verification.decode import decode_image
from verification.engine import FaceEngine
from verification.errors import ImageError

CHALLENGE_TTL = timedelta(minutes=2)
MIN_ACTIONS = 2
MAX_ACTIONS = 3
# When a check-in must carry a liveness clip: never, when it answers a spot check, or always.
LIVENESS_MODES = ("off", "spot_checks", "always")


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
            raise UnusableImage.refusing(exc) from exc
        images.append(decoded.rgb)
    return images


@dataclass(frozen=True)
class LivenessPolicy:
    """When a check-in must carry a liveness clip, and the limits of the clip; built once from configuration."""

    mode: str = "off"  # one of LIVENESS_MODES
    by_level: Mapping[str, str] = field(default_factory=dict)  # supervision level -> mode, over `mode`
    limits: video.VideoLimits = field(default_factory=video.VideoLimits)
    max_frames: int = 40
    challenge_ttl: timedelta = CHALLENGE_TTL
    thresholds: liveness.LivenessThresholds | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LivenessPolicy:
        """The policy from resolved CHECKIN_* settings (LIVENESS_BY_LEVEL may still be its JSON text)."""
        by_level = config.get("LIVENESS_BY_LEVEL") or {}
        if isinstance(by_level, str):
            by_level = json.loads(by_level)
        return cls(mode=config.get("LIVENESS_MODE") or "off", by_level=dict(by_level),
                   limits=video.VideoLimits(max_bytes=config["LIVENESS_MAX_BYTES"],
                                            max_seconds=config["LIVENESS_MAX_SECONDS"],
                                            max_pixels=config["VIDEO_MAX_PIXELS"]),
                   max_frames=config["LIVENESS_MAX_FRAMES"],
                   challenge_ttl=timedelta(seconds=config["LIVENESS_CHALLENGE_SECONDS"]))

    @staticmethod
    def applies_to(kind: str) -> bool:
        """Whether check-ins of this kind are guarded: scheduled ones and spot-check answers (not a leave return or
        attendance at a session, where an officer or the venue is the second check)."""
        return kind in (CheckinKind.SCHEDULED, CheckinKind.SPOT_CHECK)

    def required(self, *, level: str, kind: str) -> bool:
        """Whether a check-in of this kind by a person at this supervision level must carry a liveness challenge."""
        effective = self.by_level.get(level, self.mode)
        if effective not in LIVENESS_MODES:
            raise ValueError(f"unknown liveness mode {effective!r}; use one of {', '.join(LIVENESS_MODES)}")
        if effective == "always":
            return self.applies_to(kind)
        return effective == "spot_checks" and kind == CheckinKind.SPOT_CHECK


@dataclass(frozen=True)
class LivenessClip:
    """The liveness part of a check-in as it arrived: the challenge it answers and the clip (or still frames)."""

    challenge_id: str | None = None
    video: bytes | None = None
    frames: tuple[bytes, ...] = ()
    mirrored: bool = False  # recorded through a mirrored front-camera preview


def checkin_liveness(*, session: Session, engine: FaceEngine, person: Person, clip: LivenessClip,
                     policy: LivenessPolicy, kind: str, references: Callable[[], ReferenceSet],
                     now: datetime) -> dict[str, Any] | None:
    """Apply the liveness policy to a check-in: consume its challenge and judge its clip, or refuse.

    None when the policy does not guard this kind of check-in (a clip sent with it is ignored), or when the
    check-in carries no challenge and the policy does not ask for one.
    """
    if not policy.applies_to(kind):
        return None
    if clip.challenge_id is None:
        if policy.required(level=person.supervision_level, kind=kind):
            raise RuleViolation("This check-in needs a liveness challenge: ask for one and record the actions.",
                                code="liveness_required")
        return None
    challenge = consume_challenge(session=session, person=person, challenge_id=clip.challenge_id, now=now)
    return evaluate_liveness(engine=engine, challenge=challenge, clip=clip, policy=policy, references=references)


def evaluate_liveness(*, engine: FaceEngine, challenge: LivenessChallenge, clip: LivenessClip, policy: LivenessPolicy,
                      references: Callable[[], ReferenceSet]) -> dict[str, Any]:
    """Judge a clip (or still frames about 0.1 s apart) recorded for the challenge; the result to store.

    `references` gives the person's reference set, loaded once per check-in and shared with the face match.
    """
    if clip.video is None and not clip.frames:
        raise ValidationFailed({"video": ["A video (or frames) recorded while doing the actions is required."]})
    if clip.video is not None and clip.frames:
        raise ValidationFailed({"frames": ["Send either a video or frames, not both."]})
    if len(clip.frames) > policy.max_frames:
        raise ValidationFailed({"frames": [f"Send at most {policy.max_frames} frames."]})
    try:
        if clip.video is not None:
            measures = video.liveness_measures(clip.video, engine=engine, limits=policy.limits)
        else:
            measures = video.liveness_measures_from_images(_decode_frames(engine, clip.frames), engine=engine)
    except video.VideoError as exc:
        raise UnusableVideo.refusing(exc) from exc
    templates = references().of(engine.primary_key)  # frames carry the deciding template (SFace by default)
    result = liveness.check_actions(measures, challenge.actions, references=templates, mirrored=clip.mirrored,
                                    thresholds=policy.thresholds, verify_threshold=engine.settings.verify_threshold,
                                    reject_threshold=engine.settings.reject_threshold)
    return {
        "challenge_id": challenge.id,
        "actions": list(challenge.actions),
        "source": "video" if clip.video is not None else "frames",
        "mirrored": clip.mirrored,
        **result.as_dict(),
        "engine_version": engine.version,
    }
