"""Officer endpoints for location supervision: the tracking switch, zones and a person's trail."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from officer_api.alerts import AlertSchema
from storage.enums import STAFF_ROLES
from supervision import tracking
from supervision.scope import get_person
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import commit, db_session, now, policies
from web.schemas import PlausibleDate, PlausibleDateTime, StrictSchema
from web.zones import TrackingStateSchema, ZoneCreateSchema, ZoneSchema

blp = Blueprint("officer_tracking", __name__, url_prefix="/api/v1/officer/persons",
                description="Location tracking, zones and trails")



class TrackingStartSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    until = PlausibleDate(required=True)
    interval_minutes = fields.Integer(load_default=None, validate=validate.Range(min=1, max=240))


class TrackingSchema(TrackingStateSchema):
    reason = fields.String(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    stopped_at = fields.DateTime(allow_none=True)


class TrailArgsSchema(StrictSchema):
    from_ = PlausibleDateTime(required=True, data_key="from")
    to = PlausibleDateTime(required=True)
    raw = fields.Boolean(load_default=False)


class TrailFixSchema(StrictSchema):
    id = fields.String()
    at = fields.DateTime()
    lat = fields.Float()
    lon = fields.Float()
    accuracy_m = fields.Float()
    mock = fields.Boolean()


class TrailSchema(StrictSchema):
    person_id = fields.Integer()
    from_ = fields.DateTime(data_key="from", attribute="from")
    to = fields.DateTime()
    fix_count = fields.Integer()
    fixes = fields.List(fields.Nested(TrailFixSchema))
    # [lat, lon, ISO time] after Douglas-Peucker simplification, for drawing.
    simplified = fields.List(fields.List(fields.Raw()))
    zones = fields.List(fields.Nested(ZoneSchema))
    alerts = fields.List(fields.Nested(AlertSchema))


def _tracking_view(person: Any) -> dict[str, Any]:
    session = db_session()
    state = tracking.tracking_state(session=session, person=person, now=now())
    row = tracking.active_tracking(session, person, now())
    return {**state, "reason": row.reason if row else None, "started_at": row.started_at if row else None,
            "stopped_at": None}


@blp.get("/<int:person_id>/tracking")
@auth_required(*STAFF_ROLES)
@blp.response(200, TrackingSchema)
def get_tracking(person_id: int) -> dict[str, Any]:
    """Whether location tracking is on for the person, why and until when."""
    return _tracking_view(get_person(db_session(), current_actor(), person_id))


@blp.post("/<int:person_id>/tracking")
@auth_required(*STAFF_ROLES)
@blp.arguments(TrackingStartSchema)
@blp.response(200, TrackingSchema)
def start_tracking(body: dict[str, Any], person_id: int) -> dict[str, Any]:
    """Switch location tracking on (or change it) with a reason and an end date; audit-logged."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    tracking.start_tracking(session=session, actor=current_actor(), person=person, reason=body["reason"],
                            until=body["until"], interval_minutes=body["interval_minutes"], now=now(),
                            policy=policies().location)
    commit()
    return _tracking_view(person)


@blp.delete("/<int:person_id>/tracking")
@auth_required(*STAFF_ROLES)
@blp.response(200, TrackingSchema)
def stop_tracking(person_id: int) -> dict[str, Any]:
    """Switch location tracking off; audit-logged."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    row = tracking.stop_tracking(session=session, actor=current_actor(), person=person, now=now())
    commit()
    return {"on": False, "interval_minutes": None, "until": None, "zones": [], "reason": row.reason,
            "started_at": row.started_at, "stopped_at": row.stopped_at}


@blp.get("/<int:person_id>/zones")
@auth_required(*STAFF_ROLES)
@blp.response(200, ZoneSchema(many=True))
def list_zones(person_id: int) -> list[dict[str, Any]]:
    """The person's zones in force (the registered home area is implicit and not listed)."""
    person = get_person(db_session(), current_actor(), person_id)
    return [tracking.zone_view(z) for z in tracking.list_zones(session=db_session(), person=person)]


@blp.post("/<int:person_id>/zones")
@auth_required(*STAFF_ROLES)
@blp.arguments(ZoneCreateSchema)
@blp.response(201, ZoneSchema)
def create_zone(body: dict[str, Any], person_id: int) -> dict[str, Any]:
    """Add an inclusion area (home or county scope), an exclusion zone (禁止令) or a curfew; audit-logged."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    zone = tracking.create_zone(session=session, actor=current_actor(), person=person, now=now(), **body)
    commit()
    return tracking.zone_view(zone)


@blp.delete("/<int:person_id>/zones/<int:zone_id>")
@auth_required(*STAFF_ROLES)
@blp.response(204)
def delete_zone(person_id: int, zone_id: int) -> None:
    """Retire a zone; audit-logged."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    tracking.delete_zone(session=session, actor=current_actor(), person=person, zone_id=zone_id, now=now())
    commit()


@blp.get("/<int:person_id>/trail")
@auth_required(*STAFF_ROLES)
@blp.arguments(TrailArgsSchema, location="query")
@blp.response(200, TrailSchema)
def get_trail(args: dict[str, Any], person_id: int) -> dict[str, Any]:
    """The person's trail between `from` and `to` (at most 31 days): simplified for display, the raw fixes with
    `raw=true`, the zones and the location alerts; every view is audit-logged."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    result = tracking.trail(session=session, actor=current_actor(), person=person, start=args["from_"],
                            end=args["to"], now=now(), policy=policies().location, raw=args["raw"])
    commit()
    return result
