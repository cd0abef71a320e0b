"""Schemas and settings both APIs and the console use for sessions, attendance, talks and monthly hours (the phone,
officer and console packages never import each other)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from marshmallow import ValidationError, fields, validate

from storage.enums import ActivityKind, AttendanceDecision, SupervisionLevel, TalkKind
from supervision import activities
from web.db import policies
from web.schemas import Id, PlausibleDateTime, StrictSchema

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")



class VenueSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    radius_m = fields.Float(required=True, validate=validate.Range(min=10, max=5000))


class ActivityCreateSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in ActivityKind]))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    venue = fields.Nested(VenueSchema, required=True)
    start_at = PlausibleDateTime(required=True)
    end_at = PlausibleDateTime(required=True)
    capacity = fields.Integer(load_default=None, validate=validate.Range(min=1, max=10_000))
    person_ids = fields.List(Id(), load_default=None, validate=validate.Length(max=10_000))
    levels = fields.List(fields.String(validate=validate.OneOf([lv.value for lv in SupervisionLevel])),
                         load_default=None, validate=validate.Length(max=3))
    # Loaded as office_code, the name ActivityValues gives it.
    office = fields.String(load_default=None, attribute="office_code", validate=validate.Length(min=1, max=32))


class AttendanceReviewSchema(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf([d.value for d in AttendanceDecision]))
    hours = fields.Float(load_default=None, validate=validate.Range(min=0, max=12))
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


class RecordAttendanceSchema(StrictSchema):
    person_id = Id(required=True)
    hours = fields.Float(load_default=None, validate=validate.Range(min=0, max=12))
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class TalkCreateSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in TalkKind]))
    at = PlausibleDateTime(required=True)
    minutes = fields.Integer(required=True, validate=validate.Range(min=1, max=24 * 60))
    note = fields.String(required=True, validate=validate.Length(min=1, max=10_000))


def venue_of(activity: Any) -> dict[str, Any]:
    """The venue of a session as the APIs show it."""
    return {"name": activity.venue_name, "lat": activity.venue_lat, "lon": activity.venue_lon,
            "radius_m": activity.venue_radius_m}


class AttendanceSchema(StrictSchema):
    id = fields.Integer()
    activity_id = fields.Integer()
    person_id = fields.Integer()
    status = fields.String()
    source = fields.String()
    hours = fields.Float(allow_none=True)
    reasons = fields.List(fields.String())
    checked_in_at = fields.DateTime(allow_none=True)
    checked_out_at = fields.DateTime(allow_none=True)
    check_in_checkin_id = fields.Integer(allow_none=True)
    check_out_checkin_id = fields.Integer(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)
    review_decision = fields.String(allow_none=True)


class MonthField(fields.String):
    """A month as YYYY-MM, loaded as its first day."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:  # type: ignore[override]
        text = super()._deserialize(value, attr, data, **kwargs)
        match = MONTH.match(text)
        if not match or not 1900 <= int(match.group(1)) <= 2100:
            raise ValidationError("Use YYYY-MM.")
        return date(int(match.group(1)), int(match.group(2)), 1)


class ProgressArgsSchema(StrictSchema):
    month = MonthField(load_default=None)


class HoursSchema(StrictSchema):
    study = fields.Float()
    service = fields.Float()


class ProgressSchema(StrictSchema):
    month = fields.String()
    level = fields.String()
    required = fields.Nested(HoursSchema)
    done = fields.Nested(HoursSchema)
    pending_review = fields.Nested(HoursSchema)
    missing = fields.Nested(HoursSchema)


def progress(session: Any, person: Any, month: date | None, at: Any) -> dict[str, Any]:
    """The month's progress of person (default: the month of at in the office's time zone)."""
    policy = policies().activities
    if month is None:
        month = at.astimezone(activities.office_zone(person, policy)).date()
    return activities.month_progress(session=session, person=person, month=month, policy=policy)
