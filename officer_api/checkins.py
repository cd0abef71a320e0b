"""Officer endpoints: check-in history, the review queue, evidence and decisions."""

from __future__ import annotations

from typing import Any

from flask import Response
from marshmallow import fields, validate

from storage.enums import STAFF_ROLES, CheckinKind, CheckinStatus, Reason, ReviewDecision
from supervision import checkins
from supervision.evidence import EvidenceError
from verification.errors import ImageErrorCode, QualityErrorCode
from verification.liveness import ACTIONS as LIVENESS_ACTIONS
from web.api import Blueprint
from web.apidoc import EVIDENCE_PROBLEMS
from web.auth import auth_required, current_actor
from web.db import blobs, commit, committed_on, db_session, now
from web.files import private_file
from web.schemas import (
    Id,
    OpenNested,
    OpenSchema,
    PageArgsSchema,
    StrictSchema,
    decode_cursor,
    enum_field,
    enum_list,
    page,
    page_schema,
)

blp = Blueprint("officer_checkins", __name__, url_prefix="/api/v1/officer/checkins",
                description="Review queue and check-in history")


class CheckinListArgsSchema(PageArgsSchema):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in CheckinStatus]))
    person_id = Id(load_default=None)


BANDS = ("verified", "needs_review", "rejected")


class CheckinMatchSchema(OpenSchema):
    """The face comparison as stored (earlier engine versions may add keys)."""

    template = fields.String(allow_none=True, metadata={"description": "The embedder the distances are of."})
    distance = fields.Float(allow_none=True, metadata={"description": "Distance to the closest reference."})
    second_distance = fields.Float(allow_none=True)
    mean_distance = fields.Float(allow_none=True)
    best_index = fields.Integer(allow_none=True)
    band = enum_field(BANDS)
    verify_threshold = fields.Float()
    reject_threshold = fields.Float()
    second_opinion = fields.Dict(metadata={"description": "dlib's distance when the fused rule consulted it."})
    references = fields.Dict(metadata={"description": "Active, used, templated-now and unusable references."})
    duplicate_of = fields.Integer(metadata={"description": "duplicate_image: the check-in that sent these bytes."})


class CheckinLocationSchema(OpenSchema):
    """Where the check-in was relative to the allowed areas."""

    inside_area = fields.Boolean(allow_none=True, metadata={"description": "null when no area is registered."})
    checked = fields.Boolean()
    area = fields.String(allow_none=True, metadata={"description": "The area it was inside: home, leave ..."})
    leave_request_id = fields.Integer(allow_none=True)
    home_distance_m = fields.Float(allow_none=True)
    accuracy_m = fields.Float()


class CheckinLivenessSchema(OpenSchema):
    """The liveness challenge's judgement (docs/liveness.md)."""

    challenge_id = fields.String()
    actions = enum_list(LIVENESS_ACTIONS)
    source = enum_field(("video", "frames"))
    mirrored = fields.Boolean()
    passed = fields.Boolean()
    failed_step = fields.String(allow_none=True)
    steps = fields.List(fields.Dict())
    identity = fields.Dict()
    different_person = fields.Boolean()
    frames = fields.Integer()
    face_frames = fields.Integer()
    baseline = fields.Dict()
    engine_version = fields.String()


class CheckinSchema(StrictSchema):
    id = fields.Integer()
    person_id = fields.Integer()
    office_id = fields.Integer()
    kind = enum_field(CheckinKind)
    task_id = fields.Integer(allow_none=True)
    leave_request_id = fields.Integer(allow_none=True)
    status = enum_field(CheckinStatus)
    reasons = enum_list(Reason)
    flags = fields.List(fields.String(), metadata={
        "description": "Passive signals for officers: no_exif, exif_time_mismatch, exif_time_invalid, "
                       "camera_changed, no_camera_model, background_faces, face_cut_off ..."})
    failure_code = enum_field([*ImageErrorCode, *QualityErrorCode], allow_none=True)
    received_at = fields.DateTime()
    captured_at = fields.DateTime()
    latitude = fields.Float()
    longitude = fields.Float()
    accuracy_m = fields.Float()
    device_id = fields.String(allow_none=True)
    device_bound = fields.Boolean()
    match = OpenNested(CheckinMatchSchema, allow_none=True)
    location = OpenNested(CheckinLocationSchema, allow_none=True)
    review_decision = enum_field(ReviewDecision, allow_none=True)
    review_note = fields.String(allow_none=True)
    reviewed_by_id = fields.Integer(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)


class CheckinDetailSchema(CheckinSchema):
    quality = fields.Dict(allow_none=True)
    exif = fields.Dict(allow_none=True)
    liveness = OpenNested(CheckinLivenessSchema, allow_none=True)
    engine_version = fields.String(allow_none=True)
    photo_sha256 = fields.String()
    best_reference_id = fields.Integer(allow_none=True)
    photo_url = fields.Method("_photo_url")
    best_reference_photo_url = fields.Method("_reference_url")

    def _photo_url(self, checkin: Any) -> str | None:
        return f"/api/v1/officer/checkins/{checkin.id}/photo" if checkin.photo_blob_key else None

    def _reference_url(self, checkin: Any) -> str | None:
        if checkin.best_reference_id is None:
            return None
        return f"/api/v1/officer/persons/{checkin.person_id}/faces/{checkin.best_reference_id}/photo"


class ReviewSchema(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf([d.value for d in ReviewDecision]))
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


@blp.get("")
@auth_required(*STAFF_ROLES)
@blp.arguments(CheckinListArgsSchema, location="query")
@blp.response(200, page_schema(CheckinSchema, "CheckinPage"))
def list_checkins(args: dict[str, Any]) -> dict[str, Any]:
    """Check-ins in your scope; with status=needs_review this is the review queue, oldest first."""
    rows = checkins.list_checkins(session=db_session(), actor=current_actor(), status=args["status"],
                                  person_id=args["person_id"], after_id=decode_cursor(args["cursor"]),
                                  limit=args["limit"] + 1)
    return page(rows, args["limit"])


@blp.get("/<int:checkin_id>")
@auth_required(*STAFF_ROLES)
@blp.response(200, CheckinDetailSchema)
def get_checkin(checkin_id: int) -> Any:
    """One check-in with its verification evidence (audit-logged)."""
    checkin = checkins.view_checkin(session=db_session(), actor=current_actor(), checkin_id=checkin_id, now=now())
    commit()
    return checkin


@blp.get("/<int:checkin_id>/photo")
@auth_required(*STAFF_ROLES)
@blp.response(200, content_type="image/jpeg", description="The selfie bytes")
@blp.problems(*EVIDENCE_PROBLEMS)
def checkin_photo(checkin_id: int) -> Response:
    """The selfie; each access is audit-logged (a missing file is 410, an altered one 409, both alerted)."""
    with committed_on(EvidenceError):
        data, content_type = checkins.read_checkin_photo(session=db_session(), blobs=blobs(), actor=current_actor(),
                                                         checkin_id=checkin_id, now=now())
    commit()
    return private_file(data, content_type)


@blp.post("/<int:checkin_id>/review")
@auth_required(*STAFF_ROLES)
@blp.arguments(ReviewSchema)
@blp.response(200, CheckinDetailSchema)
@blp.problems("already_reviewed")
def review_checkin(body: dict[str, Any], checkin_id: int) -> Any:
    """Accept or reject an unclear check-in (a reject needs a note); a second review is 409."""
    checkin = checkins.review_checkin(session=db_session(), actor=current_actor(), checkin_id=checkin_id,
                                      decision=body["decision"], note=body["note"], now=now())
    commit()
    return checkin
