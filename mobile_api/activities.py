"""Phone endpoints: the person's education and community-service sessions, attendance check-in and check-out at
the venue (the selfie check-in), and the month's hours."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from mobile_api.checkins import CheckinResultSchema, PhotoSchema, checkin_context, submission
from mobile_api.leave import LeaveReturnFormSchema
from storage.models import Person
from supervision import activities
from web.activity_schemas import (
    AttendanceSchema,
    ProgressArgsSchema,
    ProgressSchema,
    VenueSchema,
    progress,
    venue_of,
)
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import commit, db_session, now, policies
from web.idempotency import idempotent
from web.schemas import StrictSchema

blp = Blueprint("activities", __name__, url_prefix="/api/v1", description="Education and community-service sessions")


class PhoneActivitySchema(StrictSchema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    venue = fields.Nested(VenueSchema)
    start_at = fields.DateTime()
    end_at = fields.DateTime()
    status = fields.String()
    attendance = fields.Nested(AttendanceSchema, allow_none=True)


class PhoneActivityListSchema(StrictSchema):
    items = fields.List(fields.Nested(PhoneActivitySchema))


class AttendanceResultSchema(AttendanceSchema):
    checkin = fields.Nested(CheckinResultSchema)


def _person() -> Person:
    person = db_session().get(Person, current_actor().id)
    assert person is not None
    return person


@blp.get("/activities")
@auth_required("person")
@blp.response(200, PhoneActivityListSchema)
def list_own_activities() -> dict[str, Any]:
    """Your upcoming and recent sessions (last 31 days), soonest first, each with your attendance."""
    rows = activities.person_activities(session=db_session(), person_id=current_actor().id or 0, now=now())
    items = [{**{name: getattr(activity, name) for name in ("id", "kind", "title", "start_at", "end_at", "status")},
              "venue": venue_of(activity), "attendance": attendance} for activity, attendance in rows]
    return {"items": items}


def _attend(activity_id: int, phase: str, form: dict[str, Any], files: dict[str, Any]) -> Any:
    outcome = activities.attendance_checkin(checkin_context(), submission(form, files), activity_id=activity_id,
                                             phase=phase, policy=policies().activities, actor=current_actor())
    commit()
    if outcome.checkin.error is not None:
        outcome.checkin.error.extra["checkin_id"] = outcome.checkin.checkin.id
        raise outcome.checkin.error
    attendance = outcome.attendance
    assert attendance is not None
    return {**{name: getattr(attendance, name) for name in AttendanceSchema().fields},
            "checkin": outcome.checkin.checkin}


@blp.post("/activities/<int:activity_id>/attendance/check-in")
@auth_required("person")
@idempotent
@blp.arguments(LeaveReturnFormSchema, location="form")
@blp.arguments(PhotoSchema, location="files")
@blp.response(201, AttendanceResultSchema)
def check_in(form: dict[str, Any], files: dict[str, Any], activity_id: int) -> Any:
    """Check in at the venue with a selfie: face, the venue's location and the session's time are verified."""
    return _attend(activity_id, "in", form, files)


@blp.post("/activities/<int:activity_id>/attendance/check-out")
@auth_required("person")
@idempotent
@blp.arguments(LeaveReturnFormSchema, location="form")
@blp.arguments(PhotoSchema, location="files")
@blp.response(201, AttendanceResultSchema)
def check_out(form: dict[str, Any], files: dict[str, Any], activity_id: int) -> Any:
    """Check out at the end with a selfie at the venue; the verified hours are the time between the two."""
    return _attend(activity_id, "out", form, files)


@blp.get("/me/progress")
@auth_required("person")
@blp.arguments(ProgressArgsSchema, location="query")
@blp.response(200, ProgressSchema)
def my_progress(args: dict[str, Any]) -> dict[str, Any]:
    """Hours of study and community service done this month (or ?month=YYYY-MM) against your level's minimum."""
    return progress(db_session(), _person(), args["month"], now())
