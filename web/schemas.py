"""Schema bases and the pieces every API shares (pagination, problem documents)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from marshmallow import RAISE, Schema, fields, validate

from supervision.errors import ValidationFailed

T = TypeVar("T")


class StrictSchema(Schema):
    """Input schema that rejects unknown fields."""

    class Meta:
        unknown = RAISE


class PageArgsSchema(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None)


def decode_cursor(cursor: str | None) -> Any:
    """The position an opaque cursor stands for (None for the first page)."""
    if not cursor:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ValidationFailed({"cursor": ["Invalid cursor."]}) from exc


def encode_cursor(position: Any) -> str:
    """An opaque cursor for the next page after position."""
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode().rstrip("=")


def page(rows: Sequence[T], limit: int, position: Callable[[T], Any] = lambda row: row.id) -> dict[str, Any]:
    """A list response: rows were fetched with limit + 1 to know whether another page exists."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return {"items": items, "next_cursor": encode_cursor(position(items[-1])) if more and items else None}


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    """A {"items": [...], "next_cursor"} schema around item."""
    return Schema.from_dict(
        {"items": fields.List(fields.Nested(item)), "next_cursor": fields.String(allow_none=True)},
        name=name,
    )
