"""Officer endpoints: scheduling sessions, their attendance (review, recording for persons without a phone),
individual talks and counselling records, and a person's monthly hours."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from storage.enums import STAFF_ROLES, ActivityKind, AttendanceDecision, SupervisionLevel, TalkKind
from supervision import activities, talks
from supervision.scope import get_person
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
from web.db import commit, db_session, now
from web.schemas import Id, PageArgsSchema, PlausibleDateTime, StrictSchema, decode_cursor, page, page_schema

blp = Blueprint("officer_activities", __name__, url_prefix="/api/v1/officer",
                description="Education, community service, talks and counselling")


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


class ActivitySchema(StrictSchema):
    id = fields.Integer()
    office_id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    venue = fields.Nested(VenueSchema)
    start_at = fields.DateTime()
    end_at = fields.DateTime()
    capacity = fields.Integer(allow_none=True)
    levels = fields.List(fields.String())
    status = fields.String()
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    invited = fields.List(fields.Integer())


class ActivityDetailSchema(ActivitySchema):
    attendances = fields.List(fields.Nested(AttendanceSchema))


class ActivityListArgsSchema(PageArgsSchema):
    kind = fields.String(load_default=None, validate=validate.OneOf([k.value for k in ActivityKind]))


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


class TalkSchema(StrictSchema):
    id = fields.Integer()
    person_id = fields.Integer()
    office_id = fields.Integer()
    kind = fields.String()
    at = fields.DateTime()
    minutes = fields.Integer()
    recorded_by_id = fields.Integer()
    created_at = fields.DateTime()


class TalkDetailSchema(TalkSchema):
    note = fields.String()


def _activity_out(activity: Any, *, with_attendance: bool = False) -> dict[str, Any]:
    session = db_session()
    out = {name: getattr(activity, name) for name in ActivitySchema().fields if name not in ("venue", "invited")}
    out["venue"] = venue_of(activity)
    out["invited"] = activities.invited_persons(session, activity.id)
    if with_attendance:
        out["attendances"] = activities.list_attendances(session, activity.id)
    return out


@blp.post("/activities")
@auth_required(*STAFF_ROLES)
@blp.arguments(ActivityCreateSchema)
@blp.response(201, ActivitySchema)
def create_activity(body: dict[str, Any]) -> dict[str, Any]:
    """Schedule a session at a venue and invite persons (by id) and/or every active person of some levels."""
    activity = activities.create_activity(session=db_session(), actor=current_actor(),
                                          values=activities.ActivityValues(**body), now=now())
    commit()
    return _activity_out(activity)


@blp.get("/activities")
@auth_required(*STAFF_ROLES)
@blp.arguments(ActivityListArgsSchema, location="query")
@blp.response(200, page_schema(ActivitySchema, "ActivityPage"))
def list_activities(args: dict[str, Any]) -> dict[str, Any]:
    """Sessions of the offices in your scope, newest first."""
    rows = activities.list_activities(session=db_session(), actor=current_actor(), kind=args["kind"],
                                      after_id=decode_cursor(args["cursor"]), limit=args["limit"] + 1)
    result = page(rows, args["limit"])
    result["items"] = [_activity_out(row) for row in result["items"]]
    return result


@blp.get("/activities/<int:activity_id>")
@auth_required(*STAFF_ROLES)
@blp.response(200, ActivityDetailSchema)
def get_activity(activity_id: int) -> dict[str, Any]:
    """One session with its invitations and attendance."""
    activity = activities.get_activity(session=db_session(), actor=current_actor(), activity_id=activity_id)
    return _activity_out(activity, with_attendance=True)


@blp.post("/activities/<int:activity_id>/attendance")
@auth_required(*STAFF_ROLES)
@blp.arguments(RecordAttendanceSchema)
@blp.response(201, AttendanceSchema)
def record_attendance(body: dict[str, Any], activity_id: int) -> Any:
    """Record the attendance of an invited person without a phone (a note says how it was established)."""
    attendance = activities.record_attendance(session=db_session(), actor=current_actor(), activity_id=activity_id,
                                              person_id=body["person_id"], hours=body["hours"], note=body["note"],
                                              now=now())
    commit()
    return attendance


@blp.post("/activities/<int:activity_id>/attendance/<int:attendance_id>/review")
@auth_required(*STAFF_ROLES)
@blp.arguments(AttendanceReviewSchema)
@blp.response(200, AttendanceSchema)
def review_attendance(body: dict[str, Any], activity_id: int, attendance_id: int) -> Any:
    """Confirm an attendance (hours corrected with a note) or reject it with a note; a second review is 409."""
    attendance = activities.review_attendance(session=db_session(), actor=current_actor(), activity_id=activity_id,
                                              attendance_id=attendance_id, decision=body["decision"],
                                              note=body["note"], hours=body["hours"], now=now())
    commit()
    return attendance


@blp.post("/persons/<int:person_id>/talks")
@auth_required(*STAFF_ROLES)
@blp.arguments(TalkCreateSchema)
@blp.response(201, TalkSchema)
def create_talk(body: dict[str, Any], person_id: int) -> Any:
    """Record an individual talk or a counselling session; the note is confidential."""
    session = db_session()
    actor = current_actor()
    talk = talks.record_talk(session=session, actor=actor, person=get_person(session, actor, person_id), now=now(),
                             **body)
    commit()
    return talk


@blp.get("/persons/<int:person_id>/talks")
@auth_required(*STAFF_ROLES)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(TalkSchema, "TalkPage"))
def list_talks(args: dict[str, Any], person_id: int) -> dict[str, Any]:
    """A person's talks and counselling sessions, newest first, without the notes."""
    session = db_session()
    get_person(session, current_actor(), person_id)
    rows = talks.list_talks(session=session, person_id=person_id, after_id=decode_cursor(args["cursor"]),
                            limit=args["limit"] + 1)
    return page(rows, args["limit"])


@blp.get("/talks/<int:talk_id>")
@auth_required(*STAFF_ROLES)
@blp.response(200, TalkDetailSchema)
def read_talk(talk_id: int) -> Any:
    """One talk with its confidential note; the read is audit-logged."""
    talk = talks.read_talk(session=db_session(), actor=current_actor(), talk_id=talk_id, now=now())
    commit()
    return talk


@blp.get("/persons/<int:person_id>/progress")
@auth_required(*STAFF_ROLES)
@blp.arguments(ProgressArgsSchema, location="query")
@blp.response(200, ProgressSchema)
def person_progress(args: dict[str, Any], person_id: int) -> dict[str, Any]:
    """A person's hours of study and community service this month (or ?month=YYYY-MM) against the minimum."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    return progress(session, person, args["month"], now())
