"""Officer endpoints: the leave queue, decisions (audit-logged), attachments and overdue returns."""

from __future__ import annotations

import math
from typing import Any

from flask import Response
from marshmallow import fields, validate

from storage.enums import STAFF_ROLES, ApprovalLevel, LeaveStatus
from supervision import leave
from supervision.evidence import EvidenceError
from web.api import Blueprint
from web.apidoc import EVIDENCE_PROBLEMS
from web.auth import auth_required, current_actor
from web.db import blobs, commit, committed_on, db_session, now, policies
from web.files import private_file
from web.schemas import Id, PageArgsSchema, StrictSchema, decode_cursor, enum_field, page, page_schema

blp = Blueprint("officer_leave", __name__, url_prefix="/api/v1/officer/leave-requests",
                description="Leave requests: queue, decisions and overdue returns")



class OfficerLeaveListArgsSchema(PageArgsSchema):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in LeaveStatus]))
    person_id = Id(load_default=None)
    approval_level = fields.String(load_default=None, validate=validate.OneOf([a.value for a in ApprovalLevel]))


class LeaveDecisionSchema(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


class OfficerLeaveSchema(StrictSchema):
    id = fields.Integer()
    person_id = fields.Integer()
    office_id = fields.Integer()
    status = enum_field(LeaveStatus)
    approval_level = enum_field(ApprovalLevel)
    start_at = fields.DateTime()
    end_at = fields.DateTime()
    days = fields.Method("_days", metadata={"type": "integer", "description": "Whole days, rounded up."})
    destination = fields.String()
    dest_lat = fields.Float(allow_none=True)
    dest_lon = fields.Float(allow_none=True)
    dest_radius_m = fields.Float(allow_none=True)
    reason = fields.String()
    emergency = fields.Boolean()
    attachment_content_type = fields.String(allow_none=True)
    attachment_size = fields.Integer(allow_none=True)
    attachment_sha256 = fields.String(allow_none=True)
    attachment_url = fields.Method("_attachment_url", metadata={"type": ["string", "null"]})
    decided_by_id = fields.Integer(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    returned_at = fields.DateTime(allow_none=True)
    return_checkin_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    version = fields.Integer()

    def _days(self, row: Any) -> int:
        return math.ceil(leave.leave_days(row.start_at, row.end_at) - 1e-9)

    def _attachment_url(self, row: Any) -> str | None:
        return f"/api/v1/officer/leave-requests/{row.id}/attachment" if row.attachment_blob_key else None


@blp.get("")
@auth_required(*STAFF_ROLES)
@blp.arguments(OfficerLeaveListArgsSchema, location="query")
@blp.response(200, page_schema(OfficerLeaveSchema, "LeavePage"))
def list_leave(args: dict[str, Any]) -> dict[str, Any]:
    """Leave requests in your scope; status=pending is the decision queue, oldest first."""
    rows = leave.list_leave_requests(session=db_session(), actor=current_actor(), status=args["status"],
                                     person_id=args["person_id"], level=args["approval_level"],
                                     after_id=decode_cursor(args["cursor"]), limit=args["limit"] + 1)
    return page(rows, args["limit"])


@blp.get("/overdue")
@auth_required(*STAFF_ROLES)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(OfficerLeaveSchema, "OverdueLeavePage"))
def list_overdue(args: dict[str, Any]) -> dict[str, Any]:
    """Leave not reported back by its end plus the grace period (also before the sweep has marked it)."""
    rows = leave.list_overdue(session=db_session(), actor=current_actor(), now=now(), policy=policies().leave,
                              after_id=decode_cursor(args["cursor"]), limit=args["limit"] + 1)
    return page(rows, args["limit"])


@blp.get("/<int:leave_id>")
@auth_required(*STAFF_ROLES)
@blp.response(200, OfficerLeaveSchema)
def get_leave(leave_id: int) -> Any:
    """One leave request in your scope."""
    return leave.get_leave(session=db_session(), actor=current_actor(), leave_id=leave_id)


@blp.get("/<int:leave_id>/attachment")
@auth_required(*STAFF_ROLES)
@blp.response(200, content_type="image/jpeg", description="The attachment bytes")
@blp.problems(*EVIDENCE_PROBLEMS)
def leave_attachment(leave_id: int) -> Response:
    """The supporting document the person attached; each access is audit-logged (missing 410, altered 409, alerted)."""
    with committed_on(EvidenceError):
        data, content_type = leave.read_attachment(session=db_session(), blobs=blobs(), actor=current_actor(),
                                                   leave_id=leave_id, now=now())
    commit()
    return private_file(data, content_type)


@blp.post("/<int:leave_id>/decision")
@auth_required(*STAFF_ROLES)
@blp.arguments(LeaveDecisionSchema)
@blp.response(200, OfficerLeaveSchema)
@blp.problems("invalid_transition", "leave_in_past", "forbidden")
def decide_leave(body: dict[str, Any], leave_id: int) -> Any:
    """Approve or reject a pending request (a reject needs a note); county-level ones need an admin (else 403)."""
    row = leave.decide_leave(session=db_session(), actor=current_actor(), leave_id=leave_id,
                             decision=body["decision"], note=body["note"], now=now())
    commit()
    return row
