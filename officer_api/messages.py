"""Officer endpoints: write to a person or to every active person of an office in scope, and see what was sent
with its delivery status."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from storage.enums import STAFF_ROLES, DeliveryStatus, MessageKind
from supervision import messages
from supervision.scope import get_person
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import commit, db_session, now
from web.schemas import Id, PageArgsSchema, StrictSchema, decode_cursor, page, page_schema

blp = Blueprint("officer_messages", __name__, url_prefix="/api/v1/officer/messages",
                description="Messages to persons")


class MessageCreateSchema(StrictSchema):
    person_ids = fields.List(Id(), load_default=None, validate=validate.Length(min=1, max=messages.MAX_RECIPIENTS))
    office = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    body = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class OfficerMessageSchema(StrictSchema):
    id = fields.Integer()
    person_id = fields.Integer()
    office_id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    data = fields.Dict()
    sender_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
    delivery_status = fields.String()
    delivery_attempts = fields.Integer()
    delivered_at = fields.DateTime(allow_none=True)
    delivery_error = fields.String(allow_none=True)


class SentSchema(StrictSchema):
    sent = fields.Integer()
    messages = fields.List(fields.Nested(OfficerMessageSchema))


class MessageListArgsSchema(PageArgsSchema):
    person_id = Id(load_default=None)
    kind = fields.String(load_default=None, validate=validate.OneOf([k.value for k in MessageKind]))
    delivery_status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in DeliveryStatus]))


@blp.post("")
@auth_required(*STAFF_ROLES)
@blp.arguments(MessageCreateSchema)
@blp.response(201, SentSchema)
def send_message(body: dict[str, Any]) -> dict[str, Any]:
    """Write to named persons and/or every active person of an office in your scope; delivery happens after."""
    sent = messages.send_officer_message(session=db_session(), actor=current_actor(), title=body["title"],
                                         body=body["body"], now=now(), person_ids=body["person_ids"],
                                         office_code=body["office"])
    commit()
    return {"sent": len(sent), "messages": sent}


@blp.get("")
@auth_required(*STAFF_ROLES)
@blp.arguments(MessageListArgsSchema, location="query")
@blp.response(200, page_schema(OfficerMessageSchema, "OfficerMessagePage"))
def list_messages(args: dict[str, Any]) -> dict[str, Any]:
    """Messages to persons in your scope, newest first, with their delivery status."""
    session = db_session()
    if args["person_id"] is not None:
        get_person(session, current_actor(), args["person_id"])
    rows = messages.list_messages(session=session, actor=current_actor(), person_id=args["person_id"],
                                  kind=args["kind"], delivery_status=args["delivery_status"],
                                  after_id=decode_cursor(args["cursor"]), limit=args["limit"] + 1)
    return page(rows, args["limit"])
