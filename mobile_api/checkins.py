"""Phone endpoints: selfie check-ins and the person's own history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_smorest.fields import Upload
from marshmallow import fields, validate

from mobile_api.liveness import checkin_liveness
from storage.models import Person
from supervision import accounts, checkins
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import app_config, blobs, commit, db_session, face_engine, now
from web.idempotency import idempotent
from web.schemas import (
    Id,
    PageArgsSchema,
    PlausibleDateTime,
    StrictSchema,
    decode_cursor,
    page,
    page_schema,
)

blp = Blueprint("checkins", __name__, url_prefix="/api/v1/checkins", description="Selfie check-ins")


class CheckinFormSchema(StrictSchema):
    latitude = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    accuracy_m = fields.Float(required=True, validate=validate.Range(min=0, max=100_000))
    captured_at = PlausibleDateTime(required=True)
    task_id = Id(load_default=None)
    challenge_id = fields.String(load_default=None, validate=validate.Length(max=36))
    mirrored = fields.Boolean(load_default=False)  # the liveness clip is mirrored (front-camera preview)


class PhotoSchema(StrictSchema):
    photo = Upload(required=True)
    video = Upload(load_default=None)
    frames = fields.List(Upload(), load_default=list)


class CheckinResultSchema(StrictSchema):
    id = fields.Integer()
    status = fields.String()
    kind = fields.String()
    reasons = fields.List(fields.String())
    failure_code = fields.String(allow_none=True)
    received_at = fields.DateTime()
    captured_at = fields.DateTime()
    task_id = fields.Integer(allow_none=True)
    match = fields.Method("_match")
    location = fields.Method("_location")
    liveness = fields.Method("_liveness")

    def _match(self, checkin: Any) -> dict[str, Any] | None:
        if not checkin.match or "distance" not in checkin.match:
            return None
        return {"distance": checkin.match["distance"], "threshold": checkin.match["verify_threshold"]}

    def _location(self, checkin: Any) -> dict[str, Any] | None:
        if not checkin.location:
            return None
        return {"inside_area": checkin.location.get("inside_area")}

    def _liveness(self, checkin: Any) -> dict[str, Any] | None:
        if not checkin.liveness:
            return None
        return {"passed": checkin.liveness.get("passed"), "failed_step": checkin.liveness.get("failed_step")}


def policy() -> checkins.CheckinPolicy:
    """The check-in rules from configuration."""
    return checkins.CheckinPolicy(
        late_after=timedelta(minutes=app_config("CHECKIN_LATE_MINUTES")),
        future_tolerance=timedelta(minutes=app_config("CHECKIN_FUTURE_TOLERANCE_MINUTES")),
        max_accuracy_m=float(app_config("MAX_LOCATION_ACCURACY_M")),
        min_references=int(app_config("MIN_REFERENCES")),
    )


@blp.post("")
@auth_required("person")
@idempotent
@blp.arguments(CheckinFormSchema, location="form")
@blp.arguments(PhotoSchema, location="files")
@blp.response(201, CheckinResultSchema)
def create_checkin(form: dict[str, Any], files: dict[str, Any]) -> Any:
    """Check in with a selfie and the phone's location; an unusable photo is 422 and recorded as an attempt."""
    session = db_session()
    actor = current_actor()
    person = session.get(Person, actor.id)
    assert person is not None
    liveness = checkin_liveness(person=person, form=form, files=files)
    outcome = checkins.record_checkin(
        session=session, blobs=blobs(), engine=face_engine(), person=person, actor=actor,
        photo=files["photo"].read(), latitude=form["latitude"], longitude=form["longitude"],
        accuracy_m=form["accuracy_m"], captured_at=form["captured_at"], now=now(), policy=policy(),
        device_bound=accounts.is_bound_device(session=session, person_id=person.id, device_id=actor.device_id),
        task_id=form["task_id"], liveness=liveness)
    commit()
    if outcome.error is not None:
        outcome.error.extra["checkin_id"] = outcome.checkin.id
        raise outcome.error
    return outcome.checkin


@blp.get("")
@auth_required("person")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(CheckinResultSchema, "OwnCheckinPage"))
def list_own_checkins(args: dict[str, Any]) -> dict[str, Any]:
    """Your check-ins and failed attempts, newest first."""
    rows = checkins.list_person_checkins(session=db_session(), person_id=current_actor().id or 0,
                                         after_id=decode_cursor(args["cursor"]), limit=args["limit"] + 1)
    return page(rows, args["limit"])
