"""The phone's profile endpoint."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from mobile_api.tasks import PhoneTaskSchema
from storage.enums import SentenceType, SupervisionLevel
from storage.models import Person
from supervision import duties, faces, tasks, tracking
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import db_session, now, policies
from web.schemas import StrictSchema, enum_field
from web.zones import TrackingStateSchema

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The person's own profile")


class MeSchema(StrictSchema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    supervision_level = enum_field(SupervisionLevel)
    sentence_type = enum_field(SentenceType)
    start_date = fields.Date()
    end_date = fields.Date()
    office = fields.Dict()
    device_id = fields.String(allow_none=True)
    enrolled_references = fields.Integer()
    # {"date", "start", "end", "level"}: start and end in ISO 8601 with the office's offset.
    next_checkin_due = fields.Dict(allow_none=True)
    open_tasks = fields.List(fields.Nested(PhoneTaskSchema))
    # Location tracking between check-ins: whether it is on, how often to report, until when, the zones.
    location_tracking = fields.Nested(TrackingStateSchema)


@blp.get("")
@auth_required("person")
@blp.response(200, MeSchema)
def me() -> dict[str, Any]:
    """Your profile, supervision level, next check-in window, open tasks and location tracking."""
    session = db_session()
    actor = current_actor()
    person = session.get(Person, actor.id)
    assert person is not None
    due = duties.next_due(session=session, person=person, now=now(), policy=policies().duty)
    return {
        "id": person.id,
        "code": person.code,
        "name": person.name,
        "supervision_level": person.supervision_level,
        "sentence_type": person.sentence_type,
        "start_date": person.start_date,
        "end_date": person.end_date,
        "office": {"code": person.office.code, "name": person.office.name},
        "device_id": actor.device_id,
        "enrolled_references": faces.count_references(session, person.id),
        "next_checkin_due": due.as_dict() if due else None,
        "open_tasks": tasks.list_open_tasks(session=session, person_id=person.id),
        "location_tracking": tracking.tracking_state(session=session, person=person, now=now()),
    }
