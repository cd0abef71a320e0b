"""Console forms as declared schemas: posted text in, the entered values, the loaded values or per-field messages out.

Every form the console posts has a FormSchema naming its fields and what each keeps (text stripped and cut to a
length, the ticked values of a list, a whole number). A form the officer API also accepts names the API's own input
schema as its ``body`` and reshapes the entered text into that schema's shape (``home_lat`` into ``home.lat``), so
the console and the API accept and refuse the same things. ``load(schema)`` reads the request's form through both.

The schemas' and the domain's error texts are English sentences meant for API clients; a console form shows, next
to each field that failed, the catalogue's hint for that field (``form.<form>.<field>``), so a Chinese page never
shows an English sentence. The CSRF token is not a form field: the blueprint checks it before any view runs, and
fields a schema does not name are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from flask import request
from marshmallow import EXCLUDE, Schema, ValidationError, fields

from officer_console.i18n import MESSAGES
from officer_console.session import t, zone
from supervision.errors import AppError
from web.db import db_session
from web.schemas import cut, is_id

T = TypeVar("T")


class Text(fields.String):
    """A posted text field, stripped and cut to limit characters; "" when it was not posted."""

    def __init__(self, limit: int | None = 1000, *, strip: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", "")
        super().__init__(**kwargs)
        self.limit = limit
        self.strip = strip

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        return (text.strip() if self.strip else text)[:self.limit]


class Word(Text):
    """A value the page itself posts (a button's decision, a hidden redirect target): kept exactly as posted."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(None, strip=False, **kwargs)


class Secret(Text):
    """A password: kept as typed (cut to limit), never shown again when the form is refused."""

    def __init__(self, limit: int = 256, **kwargs: Any) -> None:
        super().__init__(limit, strip=False, **kwargs)


class Note(Text):
    """A free-text note: stripped and cut to limit; None when left empty."""

    def __init__(self, limit: int = 2000, **kwargs: Any) -> None:
        super().__init__(limit, load_default=None, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str | None:
        return super()._deserialize(value, attr, data, **kwargs) or None


class Flag(fields.Field):
    """A checkbox posted as "1": True when ticked."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(load_default=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        return value == "1"


def _digits(value: Any, most: int) -> int | None:
    ok = isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= most
    return int(value) if ok else None


class Count(fields.Field):
    """A whole number of at most `most` digits; None when empty or anything else (the domain applies its default)."""

    def __init__(self, most: int = 5, **kwargs: Any) -> None:
        super().__init__(load_default=None, **kwargs)
        self.most = most

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int | None:
        return _digits(value, self.most)


class Many(fields.Field):
    """A field posted many times (ticked boxes, a multiple select): its non-empty values, at most `most`."""

    def __init__(self, most: int | None = None, **kwargs: Any) -> None:
        super().__init__(load_default=list, **kwargs)
        self.most = most

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> list[Any]:
        return [item for item in value if isinstance(item, str) and item][:self.most]


def as_id(value: Any) -> int | None:
    """A row id written in digits, else None: ids outside 1..2^31-1 name no row, so they are treated as absent
    rather than let reach the database."""
    number = _digits(value, 10)
    return number if is_id(number) else None


def id_arg(name: str) -> int | None:
    """The query argument name as a row id (a filter, a page's "after"), or None."""
    return as_id(request.args.get(name, ""))


PAGE_SIZE = 50  # rows on one page of a console list


def page_of(rows: Sequence[T], key: Callable[[T], int] = lambda row: row.id) -> tuple[list[T], int | None]:
    """One page of a list fetched with PAGE_SIZE + 1 rows, and the "after" of the next page (None on the last)."""
    return cut(rows, PAGE_SIZE, key)


class Ids(Many):
    """Ticked rows posted by id: the values that can be row ids, others dropped."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> list[Any]:
        numbers = (as_id(item) for item in super()._deserialize(value, attr, data, **kwargs))
        return [number for number in numbers if number is not None]


class FormSchema(Schema):
    """A posted console form: its fields, and for a form the API also accepts, the API's schema of the same input."""

    class Meta:
        unknown = EXCLUDE

    form: ClassVar[str] = ""  # the catalogue group of the field hints: form.<form>.<field>
    body: ClassVar[type[Schema] | None] = None

    def reshape(self, values: dict[str, Any]) -> dict[str, Any]:
        """The entered values in the shape the body schema loads."""
        return values


@dataclass(frozen=True)
class Posted:
    """A posted form read through its schema."""

    values: dict[str, Any]  # as entered (stripped and cut; secrets left out), for showing the form again
    data: dict[str, Any] | None  # the loaded values; None when a field was refused
    errors: dict[str, str]  # a translated hint per refused field


def _received(schema: FormSchema) -> dict[str, Any]:
    form = request.form
    return {name: form.getlist(name) if isinstance(field, Many) else form[name]
            for name, field in schema.fields.items() if name in form}


def _shown(schema: FormSchema, values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if not isinstance(schema.fields[name], Secret)}


def load(schema: FormSchema) -> Posted:
    """The request's form read through schema: the entered values, and the loaded values or per-field messages."""
    entered = schema.load(_received(schema))
    values = _shown(schema, entered)
    if schema.body is None:
        return Posted(values, entered, {})
    try:
        return Posted(values, schema.body().load(schema.reshape(entered)), {})
    except ValidationError as error:
        errors = error.messages if isinstance(error.messages, Mapping) else {"_schema": error.messages}
        return Posted(values, None, field_messages(schema.form, flat_errors(errors)))


def read(schema: FormSchema) -> dict[str, Any]:
    """The posted values of a form without a body schema (buttons, notes, numbers): nothing in it is refused here;
    the domain function it feeds judges the values."""
    if schema.body is not None:
        raise TypeError(f"{type(schema).__name__} has a body schema: load() it and show its messages")
    return schema.load(_received(schema))


def blank(schema: FormSchema) -> dict[str, Any]:
    """The values of an empty form (each field's default; secrets left out)."""
    return _shown(schema, schema.load({}))


def flat_errors(errors: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The field names of a (possibly nested) error dict, nested ones joined with "_" (home.lat -> home_lat)."""
    names: list[str] = []
    for field, value in errors.items():
        name = f"{prefix}_{field}" if prefix else str(field)
        # List items ({0: [...]}) and whole-object errors ({"_schema": [...]}) belong to the field itself.
        if isinstance(value, Mapping) and not set(value) <= {"_schema"} and all(isinstance(k, str) for k in value):
            nested = {key: item for key, item in value.items() if key != "_schema"}
            names.extend(flat_errors(nested, name))
            if "_schema" in value:
                names.append(name)
        else:
            names.append(name)
    return names


def field_messages(form: str, names: Iterable[str]) -> dict[str, str]:
    """A translated hint for each failed field of a form (the generic one when the field has none)."""
    messages: dict[str, str] = {}
    for name in names:
        key = f"form.{form}.{name}"
        messages[name] = t(key) if key in MESSAGES else t("form.invalid")
    return messages


def domain_messages(error: AppError, form: str) -> dict[str, str] | None:
    """The per-field messages of a domain ValidationFailed, or None when the error names no field."""
    errors = error.extra.get("errors")
    if error.status != 422 or not isinstance(errors, Mapping) or not errors:
        return None
    return field_messages(form, flat_errors(errors))


def refusal(error: AppError, form: str) -> dict[str, str]:
    """The per-field messages of a domain refusal, after rolling the request's work back; a refusal that names no
    field is raised again (for the console's error page)."""
    db_session().rollback()
    messages = domain_messages(error, form)
    if messages is None:
        raise error
    return messages


def local_datetime(value: str) -> str:
    """A datetime-local input (office time, no offset) as an ISO time with the office's offset; unusable input is
    returned unchanged, for the schema to refuse."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone())
    return moment.isoformat()


def local_input(value: datetime | None) -> str:
    """A UTC time as the value of a datetime-local input in office time."""
    return value.astimezone(zone()).strftime("%Y-%m-%dT%H:%M") if value is not None else ""


class NextForm(FormSchema):
    """A button that only says where to go back to (undo a review, reopen alerts)."""

    next = Word()


class DecisionForm(NextForm):
    """A decision with an optional note (review a check-in, decide a leave request, judge a video inspection)."""

    decision = Word()
    note = Note(2000)
