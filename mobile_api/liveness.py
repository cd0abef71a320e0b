"""Phone endpoints: liveness challenges (the check-in applies them: supervision/liveness.py)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from storage.models import Person
from supervision import liveness
from verification.liveness import ACTIONS
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import commit, db_session, now, policies
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
    policy = policies().liveness
    challenge = liveness.create_challenge(session=session, person=person, now=now(), ttl=policy.challenge_ttl)
    commit()
    return challenge
