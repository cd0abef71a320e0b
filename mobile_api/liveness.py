"""Phone endpoints: liveness challenges, and the liveness part of a check-in (policy, challenge, clip)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import current_app
from marshmallow import fields

from storage.models import Person
from supervision import liveness
from supervision.errors import RuleViolation
from verification.liveness import ACTIONS
from verification.video import VideoLimits
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import app_config, blobs, commit, db_session, face_engine, now
from web.idempotency import idempotent
from web.schemas import StrictSchema, enum_list

blp = Blueprint("liveness", __name__, url_prefix="/api/v1/liveness", description="Liveness challenges")


class ChallengeSchema(StrictSchema):
    challenge_id = fields.String(attribute="id")
    actions = enum_list(ACTIONS, metadata={"description": "Do these in this order while recording the clip."})
    expires_at = fields.DateTime()


@blp.post("/challenges")
@auth_required("person")
@idempotent
@blp.response(201, ChallengeSchema, example={"challenge_id": "0b8f3a52-6f4e-4a38-9a1c-1f0d6f5b2c77",
                                             "actions": ["turn_left", "blink"],
                                             "expires_at": "2026-03-02T01:17:00+00:00"})
def create_challenge() -> Any:
    """A single-use challenge: record a short clip doing these actions in this order, then check in with it."""
    session = db_session()
    person = session.get(Person, current_actor().id)
    assert person is not None
    challenge = liveness.create_challenge(session=session, person=person, now=now(),
                                          ttl=timedelta(seconds=app_config("LIVENESS_CHALLENGE_SECONDS")))
    commit()
    return challenge


def _policy() -> tuple[str, dict[str, str]]:
    # Read leniently: this runs on every check-in, also in apps configured before liveness existed.
    config = current_app.config["CHECKIN"]
    by_level = config.get("LIVENESS_BY_LEVEL") or {}
    if isinstance(by_level, str):
        by_level = json.loads(by_level)
    return config.get("LIVENESS_MODE") or "off", dict(by_level)


def checkin_liveness(*, person: Person, form: dict[str, Any], files: dict[str, Any]) -> dict[str, Any] | None:
    """Apply the liveness policy to a check-in request: consume its challenge and judge its clip, or refuse."""
    mode, by_level = _policy()
    challenge_id = form.get("challenge_id")
    if challenge_id is None:
        if liveness.liveness_required(mode=mode, by_level=by_level, level=person.supervision_level,
                                      answering_task=form.get("task_id") is not None):
            raise RuleViolation("This check-in needs a liveness challenge: ask for one and record the actions.",
                                code="liveness_required")
        return None
    session = db_session()
    challenge = liveness.consume_challenge(session=session, person=person, challenge_id=challenge_id, now=now())
    clip = files.get("video")
    limits = VideoLimits(max_bytes=app_config("LIVENESS_MAX_BYTES"), max_seconds=app_config("LIVENESS_MAX_SECONDS"),
                         max_pixels=app_config("VIDEO_MAX_PIXELS"))
    return liveness.evaluate_liveness(
        session=session, engine=face_engine(), person=person, challenge=challenge,
        video_data=clip.read() if clip is not None else None,
        frames=[part.read() for part in files.get("frames") or []], mirrored=bool(form.get("mirrored")),
        limits=limits, max_frames=app_config("LIVENESS_MAX_FRAMES"), now=now(), blobs=blobs())
