"""Phone endpoints: leave requests (请假/外出), cancelling them and reporting back (销假)."""

from __future__ import annotations

import math
from typing import Any

from flask import Response
from flask_smorest.fields import Upload
from marshmallow import ValidationError, fields, validate, validates_schema

from mobile_api.checkins import CheckinResultSchema, PhotoSchema, checkin_context, submission
from storage.enums import ApprovalLevel, LeaveStatus
from storage.models import Person
from supervision import leave
from supervision.evidence import EvidenceError
from web.api import Blueprint
from web.apidoc import IMAGE_PROBLEMS
from web.auth import auth_required, current_actor
from web.db import blobs, commit, committed_on, db_session, now, policies
from web.files import private_file
from web.idempotency import idempotent
from web.schemas import (
    PageArgsSchema,
    PlausibleDateTime,
    StrictSchema,
    decode_cursor,
    enum_field,
    page,
    page_schema,
)
from web.uploads import payload

LEAVE_PROBLEMS = ("leave_invalid_period", "leave_in_past", "leave_beyond_supervision", "leave_too_long",
                  "leave_notice_too_short", "leave_overlap", "leave_yearly_limit")


class LeaveBlueprint(Blueprint):
    """Blueprint whose generated docs know the json_or_form location (the create endpoint takes both)."""

    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "json_or_form": "application/json",
    }


blp = LeaveBlueprint("leave_requests", __name__, url_prefix="/api/v1/leave-requests",
                     description="Leave requests and return reports")



class LeaveCreateSchema(StrictSchema):
    start_at = PlausibleDateTime(required=True)
    end_at = PlausibleDateTime(required=True)
    destination = fields.String(required=True, validate=validate.Length(min=1, max=500))
    dest_lat = fields.Float(load_default=None, validate=validate.Range(min=-90, max=90))
    dest_lon = fields.Float(load_default=None, validate=validate.Range(min=-180, max=180))
    dest_radius_m = fields.Float(load_default=None, validate=validate.Range(min=50, max=200_000))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    emergency = fields.Boolean(load_default=False)

    @validates_schema
    def _destination_point(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if (data.get("dest_lat") is None) != (data.get("dest_lon") is None):
            raise ValidationError("Give dest_lat and dest_lon together.", field_name="dest_lat")
        if data.get("dest_radius_m") is not None and data.get("dest_lat") is None:
            raise ValidationError("dest_radius_m needs dest_lat and dest_lon.", field_name="dest_radius_m")


class LeaveAttachmentSchema(StrictSchema):
    attachment = Upload(load_default=lambda: None)  # callable: no "default: null" on a binary field in the docs


class OwnLeaveListArgsSchema(PageArgsSchema):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in LeaveStatus]))


class LeaveReturnFormSchema(StrictSchema):
    latitude = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    accuracy_m = fields.Float(required=True, validate=validate.Range(min=0, max=100_000))
    captured_at = PlausibleDateTime(required=True)


class LeaveSchema(StrictSchema):
    id = fields.Integer()
    status = enum_field(LeaveStatus)
    approval_level = enum_field(ApprovalLevel, metadata={
        "description": "office: the office officer decides; county: the county administration does."})
    start_at = fields.DateTime()
    end_at = fields.DateTime()
    days = fields.Method("_days", metadata={"type": "integer", "description": "Whole days, rounded up."})
    destination = fields.String()
    dest_lat = fields.Float(allow_none=True)
    dest_lon = fields.Float(allow_none=True)
    dest_radius_m = fields.Float(allow_none=True)
    reason = fields.String()
    emergency = fields.Boolean()
    has_attachment = fields.Method("_has_attachment", metadata={"type": "boolean"})
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    returned_at = fields.DateTime(allow_none=True)
    return_checkin_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()

    def _days(self, row: Any) -> int:
        # Whole days, rounded up: 6.5 days away is counted as 7.
        return math.ceil(leave.leave_days(row.start_at, row.end_at) - 1e-9)

    def _has_attachment(self, row: Any) -> bool:
        return row.attachment_blob_key is not None


class LeaveReturnResultSchema(StrictSchema):
    returned = fields.Boolean()
    leave_request = fields.Nested(LeaveSchema)
    checkin = fields.Nested(CheckinResultSchema)


def _person() -> Person:
    person = db_session().get(Person, current_actor().id)
    assert person is not None
    return person


@blp.post("")
@auth_required("person")
@idempotent
@blp.arguments(LeaveAttachmentSchema, location="files", required=False)
@blp.arguments(LeaveCreateSchema, location="json_or_form")
@blp.response(201, LeaveSchema)
@blp.problems(*LEAVE_PROBLEMS, "unsupported_media_type", "image_too_large", "storage_unavailable", "storage_full")
def create_leave(files: dict[str, Any], body: dict[str, Any]) -> Any:
    """Request leave: JSON, or multipart with an optional `attachment` image (e.g. a hospital note)."""
    person = _person()
    attachment = payload(files["attachment"]) if files.get("attachment") is not None else None
    row = leave.create_leave(session=db_session(), blobs=blobs(), actor=current_actor(), person=person,
                             application=leave.LeaveApplication(**body, attachment=attachment), now=now(),
                             policy=policies().leave.for_office(person.office.code))
    commit()
    return row


@blp.get("")
@auth_required("person")
@blp.arguments(OwnLeaveListArgsSchema, location="query")
@blp.response(200, page_schema(LeaveSchema, "OwnLeavePage"))
def list_own_leave(args: dict[str, Any]) -> dict[str, Any]:
    """Your leave requests, newest first."""
    rows = leave.list_person_leave(session=db_session(), person_id=current_actor().id or 0, status=args["status"],
                                   after_id=decode_cursor(args["cursor"]), limit=args["limit"] + 1)
    return page(rows, args["limit"])


@blp.get("/<int:leave_id>")
@auth_required("person")
@blp.response(200, LeaveSchema)
def get_own_leave(leave_id: int) -> Any:
    """One of your leave requests."""
    return leave.get_leave(session=db_session(), actor=current_actor(), leave_id=leave_id)


@blp.get("/<int:leave_id>/attachment")
@auth_required("person")
@blp.response(200, content_type="image/jpeg", description="The attachment bytes")
@blp.problems("evidence_unavailable", "evidence_tampered")
def own_attachment(leave_id: int) -> Response:
    """The attachment you sent with a leave request (a missing or altered file is 410/409 and alerts the office)."""
    with committed_on(EvidenceError):
        data, content_type = leave.read_attachment(session=db_session(), blobs=blobs(), actor=current_actor(),
                                                   leave_id=leave_id, now=now())
    return private_file(data, content_type)


@blp.post("/<int:leave_id>/cancel")
@auth_required("person")
@idempotent
@blp.response(200, LeaveSchema)
@blp.problems("invalid_transition")
def cancel_leave(leave_id: int) -> Any:
    """Withdraw a request that is pending, or approved and not yet started; anything else is 409."""
    row = leave.cancel_leave(session=db_session(), actor=current_actor(), leave_id=leave_id, now=now())
    commit()
    return row


@blp.post("/<int:leave_id>/return")
@auth_required("person")
@idempotent
@blp.arguments(LeaveReturnFormSchema, location="form")
@blp.arguments(PhotoSchema, location="files")
@blp.response(201, LeaveReturnResultSchema)
@blp.problems(*IMAGE_PROBLEMS, "invalid_transition", "forbidden")
def report_return(form: dict[str, Any], files: dict[str, Any], leave_id: int) -> Any:
    """Report back (销假) with a selfie from inside your home area; an unusable photo is 422 and leave stays open."""
    outcome = leave.report_return(checkin_context(), submission(form, files), actor=current_actor(), leave_id=leave_id)
    commit()
    if outcome.checkin.error is not None:
        outcome.checkin.error.extra.update(checkin_id=outcome.checkin.checkin.id, leave_status=outcome.leave.status)
        raise outcome.checkin.error
    return {"returned": outcome.returned, "leave_request": outcome.leave, "checkin": outcome.checkin.checkin}
