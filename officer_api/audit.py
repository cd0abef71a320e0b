"""Officer endpoint for the audit trail."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from storage.enums import STAFF_ROLES
from supervision import audit
from supervision.scope import get_person
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import db_session
from web.schemas import Id, PageArgsSchema, StrictSchema, decode_cursor, page, page_schema

blp = Blueprint("officer_audit", __name__, url_prefix="/api/v1/officer/audit", description="Audit trail")


class AuditArgsSchema(PageArgsSchema):
    person_id = Id(load_default=None)
    action = fields.String(load_default=None, validate=validate.Length(max=64))


class AuditEventSchema(StrictSchema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_role = fields.String()
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String()
    action = fields.String()
    person_id = fields.Integer(allow_none=True)
    office_id = fields.Integer(allow_none=True)
    target_type = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    details = fields.Dict()


@blp.get("")
@auth_required(*STAFF_ROLES)
@blp.arguments(AuditArgsSchema, location="query")
@blp.response(200, page_schema(AuditEventSchema, "AuditPage"))
def list_audit(args: dict[str, Any]) -> dict[str, Any]:
    """Who did what, when and from where, newest first (your scope only)."""
    session = db_session()
    if args["person_id"] is not None:
        get_person(session, current_actor(), args["person_id"])
    rows = audit.list_events(session=session, actor=current_actor(), person_id=args["person_id"],
                             action=args["action"], after_id=decode_cursor(args["cursor"]), limit=args["limit"] + 1)
    return page(rows, args["limit"])
