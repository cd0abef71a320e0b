"""Console pages for education and community-service sessions (教育学习 / 社区服务) with their attendance, and for
individual talks and counselling (个别谈话 / 心理辅导): each form a declared schema whose body is the officer API's
input schema (web/activity_schemas.py), on the same domain functions."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from officer_console import forms
from officer_console.session import console_actor, notify, t
from storage.enums import (
    ActivityKind,
    AttendanceDecision,
    AttendanceStatus,
    PersonStatus,
    SupervisionLevel,
    TalkKind,
)
from storage.models import Activity, Person
from supervision import activities, persons, reports, talks
from supervision.errors import AppError, Conflict
from supervision.scope import get_person
from web.activity_schemas import (
    ActivityCreateSchema,
    AttendanceReviewSchema,
    RecordAttendanceSchema,
    TalkCreateSchema,
)
from web.db import commit, db_session, now

INVITE_CHOICES = 500
REVIEWABLE = (AttendanceStatus.NEEDS_REVIEW, AttendanceStatus.VERIFIED, AttendanceStatus.CHECKED_IN)


class ActivityForm(forms.FormSchema):
    """A new session: POST /api/v1/officer/activities's fields, the venue as separate inputs, times in office time."""

    form = "activity"
    body = ActivityCreateSchema

    kind = forms.Text()
    title = forms.Text()
    venue_name = forms.Text()
    venue_lat = forms.Text()
    venue_lon = forms.Text()
    venue_radius_m = forms.Text()
    start_at = forms.Text()
    end_at = forms.Text()
    capacity = forms.Text()
    office = forms.Text()
    levels = forms.Many(3)
    person_ids = forms.Many(10_000)

    def reshape(self, values: dict[str, Any]) -> dict[str, Any]:
        return {"kind": values["kind"], "title": values["title"],
                "venue": {"name": values["venue_name"], "lat": values["venue_lat"], "lon": values["venue_lon"],
                          "radius_m": values["venue_radius_m"]},
                "start_at": forms.local_datetime(values["start_at"]),
                "end_at": forms.local_datetime(values["end_at"]),
                "capacity": values["capacity"] or None, "person_ids": values["person_ids"] or None,
                "levels": values["levels"] or None, "office": values["office"] or None}


class _AttendanceFields(forms.FormSchema):
    """The hours (None when left empty) and the note of an attendance form."""

    hours = forms.Text(2000)
    note = forms.Text(2000)

    def reshape(self, values: dict[str, Any]) -> dict[str, Any]:
        return {**values, "hours": values["hours"] or None}


class AttendanceForm(_AttendanceFields):
    """The attendance of an invited person without a phone: POST .../attendance's fields."""

    form = "attendance"
    body = RecordAttendanceSchema

    person_id = forms.Text(2000)


class AttendanceReviewForm(_AttendanceFields):
    """Confirm or reject one attendance: POST .../attendance/<id>/review's fields (the note may be left empty)."""

    form = "review"
    body = AttendanceReviewSchema

    decision = forms.Text(2000)
    note = forms.Note(2000)


def _render_list(values: dict[str, Any], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    session = db_session()
    actor = console_actor()
    kind = request.args.get("kind", "")
    kind = kind if kind in set(ActivityKind) else ""
    after = forms.id_arg("after")
    rows = activities.list_activities(session=session, actor=actor, kind=kind or None, after_id=after,
                                      limit=forms.PAGE_SIZE + 1)
    rows, next_after = forms.page_of(rows)
    invited = {row.id: len(activities.invited_persons(session, row.id)) for row in rows}
    candidates = persons.list_persons(session=session, actor=actor, status=PersonStatus.ACTIVE,
                                      limit=INVITE_CHOICES)
    return render_template("console/activities.html", rows=rows, invited=invited, kind=kind, kinds=list(ActivityKind),
                           next_after=next_after, paged=after is not None, values=values, errors=errors,
                           levels=list(SupervisionLevel), candidates=candidates,
                           offices=reports.offices_in_scope(session, actor) if actor.role == "admin" else []), status


def activity_list() -> tuple[str, int]:
    """The sessions of the office (a county admin: of the county), newest first, with the form to schedule one."""
    values = forms.blank(ActivityForm())
    values.update(kind=ActivityKind.GROUP_EDUCATION.value, venue_radius_m="200")
    return _render_list(values, {})


def create_activity() -> Response | tuple[str, int]:
    """Schedule a session at a venue and invite persons and/or levels (times are the office's local time)."""
    session = db_session()
    actor = console_actor()
    posted = forms.load(ActivityForm())
    body = posted.data
    if body is None:
        return _render_list(posted.values, posted.errors, 422)
    try:
        activity = activities.create_activity(session=session, actor=actor, values=activities.ActivityValues(**body),
                                              now=now())
    except AppError as error:
        return _render_list(posted.values, forms.refusal(error, "activity"), 422)
    commit()
    notify("activities.created", id=activity.id, title=activity.title)
    return redirect(url_for("console.activity", activity_id=activity.id), code=303)


def _render_detail(activity: Activity, values: dict[str, str], errors: dict[str, str],
                   review_errors: dict[int, dict[str, str]] | None = None, status: int = 200) -> tuple[str, int]:
    session = db_session()
    invited = [found for pid in activities.invited_persons(session, activity.id)
               if (found := session.get(Person, pid)) is not None]
    attendances = {row.person_id: row for row in activities.list_attendances(session, activity.id)}
    return render_template("console/activity.html", activity=activity, invited=invited, attendances=attendances,
                           unrecorded=[p for p in invited if p.id not in attendances], values=values, errors=errors,
                           review_errors=review_errors or {}, reviewable=REVIEWABLE,
                           decisions=list(AttendanceDecision),
                           length_hours=round((activity.end_at - activity.start_at).total_seconds() / 3600, 2)), status


def activity_detail(activity_id: int) -> tuple[str, int]:
    """One session: venue and time, who was invited, and each one's attendance with the officer's forms."""
    activity = activities.get_activity(session=db_session(), actor=console_actor(), activity_id=activity_id)
    return _render_detail(activity, forms.blank(AttendanceForm()), {})


def record_attendance(activity_id: int) -> Response | tuple[str, int]:
    """Record the attendance of an invited person without a phone (the note says how it was established)."""
    session = db_session()
    actor = console_actor()
    activity = activities.get_activity(session=session, actor=actor, activity_id=activity_id)
    posted = forms.load(AttendanceForm())
    if posted.data is None:
        return _render_detail(activity, posted.values, posted.errors, status=422)
    try:
        activities.record_attendance(session=session, actor=actor, activity_id=activity.id, now=now(), **posted.data)
    except Conflict as error:
        session.rollback()
        if error.code != "attendance_exists":
            raise
        return _render_detail(activity, posted.values, {"person_id": t("form.attendance.exists")}, status=409)
    except AppError as error:
        return _render_detail(activity, posted.values, forms.refusal(error, "attendance"), status=422)
    commit()
    notify("activities.attendance_recorded")
    return redirect(url_for("console.activity", activity_id=activity.id), code=303)


def review_attendance(activity_id: int, attendance_id: int) -> Response | tuple[str, int]:
    """Confirm an attendance (hours corrected with a note) or reject it with a note."""
    session = db_session()
    actor = console_actor()
    activity = activities.get_activity(session=session, actor=actor, activity_id=activity_id)
    posted = forms.load(AttendanceReviewForm())
    errors = posted.errors
    if posted.data is not None:
        try:
            activities.review_attendance(session=session, actor=actor, activity_id=activity.id,
                                         attendance_id=attendance_id, now=now(), **posted.data)
        except Conflict as error:
            session.rollback()
            errors = {"decision": t("form.review.already")} if error.code == "already_reviewed" else {}
            if not errors:
                raise
        except AppError as error:
            errors = forms.refusal(error, "review")
    if errors:
        blank = forms.blank(AttendanceForm())
        return _render_detail(activity, blank, {}, review_errors={attendance_id: errors}, status=422)
    commit()
    notify("activities.attendance_reviewed", decision=t(f"attendance_decision.{posted.values['decision']}"))
    return redirect(url_for("console.activity", activity_id=activity.id), code=303)


# ------------------------------------------------------------------------------------------------ talks

class TalkForm(forms.FormSchema):
    """A talk or counselling session: POST /api/v1/officer/persons/<id>/talks's fields, the time in office time."""

    form = "talk"
    body = TalkCreateSchema

    kind = forms.Text(10_000)
    at = forms.Text(10_000)
    minutes = forms.Text(10_000)
    note = forms.Text(10_000)

    def reshape(self, values: dict[str, Any]) -> dict[str, Any]:
        return {**values, "at": forms.local_datetime(values["at"])}


def _render_talk_form(person: Person, values: dict[str, str], errors: dict[str, str],
                      status: int = 200) -> tuple[str, int]:
    return render_template("console/talk_form.html", person=person, values=values, errors=errors,
                           kinds=list(TalkKind)), status


def talk_new(person_id: int) -> tuple[str, int]:
    """The form to record a talk or a counselling session with a person (now, in office time, by default)."""
    person = get_person(db_session(), console_actor(), person_id)
    values = {"kind": TalkKind.INDIVIDUAL_TALK.value, "at": forms.local_input(now()), "minutes": "30",
              "note": ""}
    return _render_talk_form(person, values, {})


def record_talk(person_id: int) -> Response | tuple[str, int]:
    """Record a talk (the note is confidential: listed without it, every read audit-logged)."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    posted = forms.load(TalkForm())
    if posted.data is None:
        return _render_talk_form(person, posted.values, posted.errors, 422)
    try:
        talk = talks.record_talk(session=session, actor=actor, person=person, now=now(), **posted.data)
    except AppError as error:
        return _render_talk_form(person, posted.values, forms.refusal(error, "talk"), 422)
    commit()
    notify("talks.recorded", id=talk.id, kind=t(f"talk_kind.{talk.kind}"))
    return redirect(url_for("console.person", person_id=person.id), code=303)


def talk_detail(talk_id: int) -> str:
    """One talk with its confidential note; the read is audit-logged."""
    session = db_session()
    talk = talks.read_talk(session=session, actor=console_actor(), talk_id=talk_id, now=now())
    commit()
    return render_template("console/talk.html", talk=talk, person=session.get(Person, talk.person_id))
