"""Schemas of location zones shared by the phone API (GET /api/v1/me), the officer API and the console's zone form."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from web.schemas import StrictSchema


class CircleSchema(StrictSchema):
    lat = fields.Float()
    lon = fields.Float()
    radius_m = fields.Float()


class ZoneHoursSchema(StrictSchema):
    start = fields.String()
    end = fields.String()


class ZoneSchema(StrictSchema):
    id = fields.Integer(allow_none=True)
    kind = fields.String()
    scope = fields.String()
    circle = fields.Nested(CircleSchema)
    polygon = fields.List(fields.List(fields.Float()))
    hours = fields.Nested(ZoneHoursSchema)
    note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    leave_request_id = fields.Integer()
    start_at = fields.DateTime()
    end_at = fields.DateTime()


class TrackingStateSchema(StrictSchema):
    on = fields.Boolean()
    interval_minutes = fields.Integer(allow_none=True)
    until = fields.Date(allow_none=True)
    zones = fields.List(fields.Nested(ZoneSchema))


HH_MM = validate.Regexp(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", error="Use HH:MM (00:00 to 23:59).")


class CircleInSchema(StrictSchema):
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    radius_m = fields.Float(required=True, validate=validate.Range(min=10, max=200_000))


class HoursInSchema(StrictSchema):
    start = fields.String(required=True, validate=HH_MM)
    end = fields.String(required=True, validate=HH_MM)


def _check_point(point: list[float]) -> None:
    if len(point) != 2 or not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
        raise ValidationError("Each point is [lat, lon] in decimal degrees.")


class ZoneCreateSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(["inclusion", "exclusion", "curfew"]))
    scope = fields.String(load_default="home", validate=validate.OneOf(["home", "county"]))
    circle = fields.Nested(CircleInSchema, load_default=None)
    polygon = fields.List(fields.List(fields.Float(), validate=_check_point), load_default=None,
                          validate=validate.Length(min=3, max=500))
    hours = fields.Nested(HoursInSchema, load_default=None)
    note = fields.String(load_default=None, validate=validate.Length(max=1000))
