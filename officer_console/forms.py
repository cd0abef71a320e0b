"""Console forms on the officer API's own input schemas: posted text in, loaded values or per-field messages out.

The schemas' and the domain's error texts are English sentences meant for API clients; a console form shows, next
to each field that failed, the catalogue's hint for that field (``form.<form>.<field>``), so a Chinese page never
shows an English sentence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError

from officer_console.i18n import MESSAGES
from officer_console.session import t, zone
from supervision.errors import AppError
from web.db import db_session


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


def load(schema: Schema, data: Mapping[str, Any], form: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The values the schema loads from data, or None and the per-field messages."""
    try:
        return schema.load(data), {}
    except ValidationError as error:
        errors = error.messages if isinstance(error.messages, Mapping) else {"_schema": error.messages}
        return None, field_messages(form, flat_errors(errors))


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


def text(form: Mapping[str, str], name: str, limit: int = 10_000) -> str:
    """A posted text field, stripped and cut to limit."""
    return (form.get(name) or "").strip()[:limit]


def optional(form: Mapping[str, str], name: str, limit: int = 10_000) -> str | None:
    """A posted text field, or None when it was left empty."""
    return text(form, name, limit) or None


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
