"""Schema bases and the pieces every API shares (pagination, problem documents)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, TypeVar

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate

from supervision.errors import ValidationFailed

T = TypeVar("T")

# Ids are database integer keys: anything outside 1..2^31-1 names no row (and overflows PostgreSQL's integer).
MAX_ID = 2**31 - 1
# Dates outside these years are typing mistakes or probes; they also overflow when shifted to UTC.
MIN_YEAR, MAX_YEAR = 1900, 2100
MAX_CURSOR_LENGTH = 512


class StrictSchema(Schema):
    """Input schema that rejects unknown fields, and NUL characters in strings (PostgreSQL cannot store them)."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _refuse_nul(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, Mapping):
            bad = {name: ["Must not contain NUL characters."] for name, value in data.items()
                   if _has_nul(name) or _has_nul(value)}
            if bad:
                raise ValidationError(bad)
        return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(isinstance(item, str) and "\x00" in item for item in value)
    return False


class Id(fields.Integer):
    """An id in a query or form field: 1..2^31-1, else the field's validation error."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def _check_year(value: dt.date) -> None:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValidationError(f"Must be between the years {MIN_YEAR} and {MAX_YEAR}.")


class PlausibleDateTime(fields.AwareDateTime):
    """An ISO 8601 time with offset, between the years 1900 and 2100."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        result = super()._deserialize(value, attr, data, **kwargs)
        _check_year(result)
        return result


class PlausibleDate(fields.Date):
    """An ISO 8601 date between the years 1900 and 2100."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.date:
        result = super()._deserialize(value, attr, data, **kwargs)
        _check_year(result)
        return result


class PageArgsSchema(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, validate=validate.Length(max=MAX_CURSOR_LENGTH))


def is_id(value: Any) -> bool:
    """Whether value can be a row id (an int in 1..2^31-1, not a bool)."""
    return type(value) is int and 1 <= value <= MAX_ID


def decode_cursor(cursor: str | None, valid: Callable[[Any], bool] = is_id) -> Any:
    """The position an opaque cursor stands for (None for the first page); 422 unless valid(position)."""
    if not cursor:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
    except (ValueError, KeyError, TypeError, IndexError, RecursionError, binascii.Error) as exc:
        raise ValidationFailed({"cursor": ["Invalid cursor."]}) from exc
    if not valid(position):
        raise ValidationFailed({"cursor": ["Invalid cursor."]})
    return position


def encode_cursor(position: Any) -> str:
    """An opaque cursor for the next page after position."""
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode().rstrip("=")


def cut(rows: Sequence[T], limit: int, position: Callable[[T], Any] = lambda row: row.id) -> tuple[list[T], Any]:
    """One page of rows fetched with limit + 1, and the position of its last row when another page follows (else
    None): the API turns it into a cursor, the console into its "after" link."""
    items = list(rows[:limit])
    return items, position(items[-1]) if len(rows) > limit and items else None


def page(rows: Sequence[T], limit: int, position: Callable[[T], Any] = lambda row: row.id) -> dict[str, Any]:
    """A list response: rows were fetched with limit + 1 to know whether another page exists."""
    items, after = cut(rows, limit, position)
    return {"items": items, "next_cursor": encode_cursor(after) if after is not None else None}


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    """A {"items": [...], "next_cursor"} schema around item."""
    return Schema.from_dict(
        {"items": fields.List(fields.Nested(item)), "next_cursor": fields.String(allow_none=True)},
        name=name,
    )


def _values(choices: type[Enum] | Iterable[str]) -> list[str]:
    return [str(getattr(member, "value", member)) for member in choices]  # type: ignore[union-attr]


def enum_field(choices: type[Enum] | Iterable[str], **kwargs: Any) -> fields.String:
    """An output string documented with its possible values (an enum of storage.enums, or a list of words)."""
    values: list[Any] = _values(choices)
    if kwargs.get("allow_none"):
        values.append(None)
    metadata = {**kwargs.pop("metadata", {}), "enum": values}
    return fields.String(metadata=metadata, **kwargs)


def enum_list(choices: type[Enum] | Iterable[str], **kwargs: Any) -> fields.List:
    """An output list of strings, each one of choices."""
    return fields.List(enum_field(choices), **kwargs)


class OpenNested(fields.Nested):
    """A stored JSON mapping, documented by a schema of its known keys but dumped whole, as stored.

    Evidence stored by earlier versions may hold keys the schema does not name; an officer still sees them (the
    schema documents ``additionalProperties`` as allowed).
    """

    def _serialize(self, value: Any | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if value is None:
            return None
        return dict(value)


class OpenSchema(Schema):
    """Base of the schemas OpenNested documents: open to keys it does not name."""

    class Meta:
        unknown = INCLUDE
