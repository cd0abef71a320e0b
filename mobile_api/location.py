"""Phone endpoint: upload location fixes recorded between check-ins (while an officer has tracking on)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from storage.models import Person
from supervision import tracking
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import commit, db_session, now, policies
from web.idempotency import idempotent
from web.schemas import PlausibleDateTime, StrictSchema

blp = Blueprint("locations", __name__, url_prefix="/api/v1/locations",
                description="Location fixes between check-ins")



class FixSchema(StrictSchema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    at = PlausibleDateTime(required=True)
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    accuracy_m = fields.Float(required=True, validate=validate.Range(min=0, max=100_000))
    altitude_m = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=-1000, max=20_000))
    speed_mps = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, max=1000))
    provider = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=16))
    mock = fields.Boolean(load_default=False)


class FixBatchSchema(StrictSchema):
    # Nested(many=True) loads the list in one schema pass (List(Nested) runs a schema load per fix).
    fixes = fields.Nested(FixSchema, many=True, required=True, validate=validate.Length(min=1, max=500))


class FixBatchResultSchema(StrictSchema):
    accepted = fields.Integer()
    duplicates = fields.Integer()


@blp.post("")
@auth_required("person")
@idempotent
@blp.arguments(FixBatchSchema)
@blp.response(202, FixBatchResultSchema)
def upload_fixes(body: dict[str, Any]) -> dict[str, int]:
    """Upload up to 500 fixes, buffered offline if need be: each keeps its own time, a fix sent again is counted as a
    duplicate, and one bad fix refuses the whole batch (422 with `errors` per index). 409 `tracking_off` while
    tracking is not on."""
    session = db_session()
    person = session.get(Person, current_actor().id)
    assert person is not None
    result = tracking.ingest_fixes(session=session, person=person, fixes=body["fixes"], now=now(),
                                   policy=policies().location)
    commit()
    return {"accepted": result.accepted, "duplicates": result.duplicates}
