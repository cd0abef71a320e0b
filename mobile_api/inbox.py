"""Phone endpoints: the person's inbox (reminders and officers' messages), unread count, marking read."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from supervision import messages
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import commit, db_session, now
from web.idempotency import idempotent
from web.schemas import PageArgsSchema, StrictSchema, decode_cursor, page

blp = Blueprint("inbox", __name__, url_prefix="/api/v1/messages", description="The person's inbox")


class InboxArgsSchema(PageArgsSchema):
    unread = fields.Boolean(load_default=False)


class InboxMessageSchema(StrictSchema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    data = fields.Dict()
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


InboxPageSchema = Schema.from_dict({"items": fields.List(fields.Nested(InboxMessageSchema)),
                                    "next_cursor": fields.String(allow_none=True),
                                    "unread_count": fields.Integer()}, name="InboxPage")


@blp.get("")
@auth_required("person")
@blp.arguments(InboxArgsSchema, location="query")
@blp.response(200, InboxPageSchema)
def list_inbox(args: dict[str, Any]) -> dict[str, Any]:
    """Your messages, newest first (?unread=true for unread ones), with the number still unread."""
    session = db_session()
    person_id = current_actor().id or 0
    rows = messages.list_inbox(session=session, person_id=person_id, after_id=decode_cursor(args["cursor"]),
                               limit=args["limit"] + 1, unread_only=args["unread"])
    return {**page(rows, args["limit"]), "unread_count": messages.unread_count(session=session, person_id=person_id)}


@blp.post("/<int:message_id>/read")
@auth_required("person")
@idempotent
@blp.response(200, InboxMessageSchema)
def mark_read(message_id: int) -> Any:
    """Mark one of your messages read."""
    message = messages.mark_read(session=db_session(), actor=current_actor(), message_id=message_id, now=now())
    commit()
    return message
