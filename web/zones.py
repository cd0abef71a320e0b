"""Schemas of location zones shared by the phone API (GET /api/v1/me) and the officer API."""

from __future__ import annotations

from marshmallow import fields

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
