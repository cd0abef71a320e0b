"""Phone endpoints: selfie check-ins and the person's own history."""

from __future__ import annotations

from typing import Any

from flask_smorest.fields import Upload
from marshmallow import fields, pre_dump, validate

from storage.enums import CheckinKind, CheckinStatus, Reason
from storage.models import Person
from supervision import checkins
from supervision.checkin_pipeline import CheckinContext, Submission, submit_checkin
from supervision.checkins import Fix
from supervision.liveness import LivenessClip
from verification.errors import ImageErrorCode, QualityErrorCode
from web.api import Blueprint
from web.apidoc import IMAGE_PROBLEMS, VIDEO_PROBLEMS
from web.auth import auth_required, current_actor
from web.db import blobs, commit, db_session, face_engine, now, policies
from web.idempotency import idempotent
from web.schemas import (
    Id,
    PageArgsSchema,
    PlausibleDateTime,
    StrictSchema,
    decode_cursor,
    enum_field,
    enum_list,
    page,
    page_schema,
)
from web.uploads import payload

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
    video = Upload(load_default=lambda: None)  # callable: no "default: null" on a binary field in the docs
    frames = fields.List(Upload(), load_default=list)


class MatchSummarySchema(StrictSchema):
    distance = fields.Float(allow_none=True, metadata={
        "description": "Face distance to the closest reference photo (lower is closer); null without references.",
        "example": 0.81})
    threshold = fields.Float(metadata={"description": "Distances at or below this verify.", "example": 1.0})


class LocationSummarySchema(StrictSchema):
    inside_area = fields.Boolean(allow_none=True, metadata={
        "description": "Inside the home area or an approved leave destination; null when no area is registered."})


class LivenessSummarySchema(StrictSchema):
    passed = fields.Boolean(metadata={"description": "The challenge's actions were done, in order, by the person."})
    failed_step = fields.String(allow_none=True, metadata={
        "description": "The first check that failed (an action such as blink, or same_person, one_face ...)."})


class _CheckinSummary:
    """A check-in as the phone sees it: its own fields, with the evidence reduced to what the person may know."""

    def __init__(self, checkin: Any) -> None:
        self._checkin = checkin
        match = checkin.match
        self.match = ({"distance": match["distance"], "threshold": match["verify_threshold"]}
                      if match and "distance" in match else None)
        self.location = {"inside_area": checkin.location.get("inside_area")} if checkin.location else None
        self.liveness = ({"passed": checkin.liveness.get("passed"), "failed_step": checkin.liveness.get("failed_step")}
                         if checkin.liveness else None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._checkin, name)


CHECKIN_EXAMPLE = {
    "id": 42, "status": "verified", "kind": "scheduled", "reasons": [], "failure_code": None,
    "received_at": "2026-03-02T01:15:09+00:00", "captured_at": "2026-03-02T01:15:02+00:00", "task_id": None,
    "match": {"distance": 0.81, "threshold": 1.0}, "location": {"inside_area": True}, "liveness": None,
}


class CheckinResultSchema(StrictSchema):
    id = fields.Integer()
    status = enum_field(CheckinStatus, metadata={
        "description": "verified, needs_review or rejected for a new check-in; failed for an unusable photo "
                       "(answered 422); accepted or confirmed_violation after an officer's review."})
    kind = enum_field(CheckinKind)
    reasons = enum_list(Reason)
    failure_code = enum_field([*ImageErrorCode, *QualityErrorCode], allow_none=True, metadata={
        "description": "Why the photo was unusable (status failed)."})
    received_at = fields.DateTime()
    captured_at = fields.DateTime()
    task_id = fields.Integer(allow_none=True)
    match = fields.Nested(MatchSummarySchema, allow_none=True)
    location = fields.Nested(LocationSummarySchema, allow_none=True)
    liveness = fields.Nested(LivenessSummarySchema, allow_none=True)

    @pre_dump
    def _summarise(self, checkin: Any, **_kwargs: Any) -> Any:
        return checkin if isinstance(checkin, _CheckinSummary) else _CheckinSummary(checkin)


def checkin_context() -> CheckinContext:
    """The services and policies a check-in of this request runs with."""
    return CheckinContext(session=db_session(), blobs=blobs(), engine=face_engine(), policy=policies().checkin,
                          liveness=policies().liveness, now=now())


def submission(form: dict[str, Any], files: dict[str, Any]) -> Submission:
    """The check-in the signed-in person sent: the validated form, the photo read and hashed once, the clip."""
    actor = current_actor()
    person = db_session().get(Person, actor.id)
    assert person is not None
    video = files.get("video")
    clip = LivenessClip(challenge_id=form.get("challenge_id"),
                        video=payload(video).data if video is not None else None,
                        frames=tuple(payload(part).data for part in files.get("frames") or ()),
                        mirrored=bool(form.get("mirrored")))
    return Submission(person=person, device_id=actor.device_id, photo=payload(files["photo"]),
                      fix=Fix(latitude=form["latitude"], longitude=form["longitude"], accuracy_m=form["accuracy_m"]),
                      captured_at=form["captured_at"], task_id=form.get("task_id"), liveness=clip)


@blp.post("")
@auth_required("person")
@idempotent
@blp.arguments(CheckinFormSchema, location="form")
@blp.arguments(PhotoSchema, location="files")
@blp.response(201, CheckinResultSchema, example=CHECKIN_EXAMPLE)
@blp.problems(*IMAGE_PROBLEMS, *VIDEO_PROBLEMS, "not_found", "liveness_required", "challenge_expired", "challenge_used",
              "task_closed")
def create_checkin(form: dict[str, Any], files: dict[str, Any]) -> Any:
    """Check in with a selfie and the phone's location; an unusable photo is 422 and recorded as an attempt."""
    outcome = submit_checkin(checkin_context(), submission(form, files))
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
