"""Console pages for education and community-service sessions (教育学习 / 社区服务) with their attendance, and for
individual talks and counselling (个别谈话 / 心理辅导), on the officer API's schemas and domain functions."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from officer_api import console_forms
from officer_api.activities import (
    ActivityCreateSchema,
    AttendanceReviewSchema,
    RecordAttendanceSchema,
    TalkCreateSchema,
)
from officer_api.console_session import console_actor, notify, t
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
from web.db import commit, db_session, now
from web.schemas import is_id

PAGE_SIZE = 50
INVITE_CHOICES = 500
REVIEWABLE = (AttendanceStatus.NEEDS_REVIEW, AttendanceStatus.VERIFIED, AttendanceStatus.CHECKED_IN)
ACTIVITY_FIELDS = ("kind", "title", "venue_name", "venue_lat", "venue_lon", "venue_radius_m", "start_at", "end_at",
                   "capacity", "office")


def _id_arg(value: str) -> int | None:
    number = int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else None
    return number if is_id(number) else None


def _render_list(values: dict[str, Any], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    session = db_session()
    actor = console_actor()
    kind = request.args.get("kind", "")
    kind = kind if kind in set(ActivityKind) else ""
    after = _id_arg(request.args.get("after", ""))
    rows = activities.list_activities(session=session, actor=actor, kind=kind or None, after_id=after,
                                      limit=PAGE_SIZE + 1)
    next_after = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    invited = {row.id: len(activities.invited_persons(session, row.id)) for row in rows}
    candidates = persons.list_persons(session=session, actor=actor, status=PersonStatus.ACTIVE,
                                      limit=INVITE_CHOICES)
    return render_template("console/activities.html", rows=rows, invited=invited, kind=kind, kinds=list(ActivityKind),
                           next_after=next_after, paged=after is not None, values=values, errors=errors,
                           levels=list(SupervisionLevel), candidates=candidates,
                           offices=reports.offices_in_scope(session, actor) if actor.role == "admin" else []), status


def activity_list() -> tuple[str, int]:
    """The sessions of the office (a county admin: of the county), newest first, with the form to schedule one."""
    values: dict[str, Any] = dict.fromkeys(ACTIVITY_FIELDS, "")
    values.update(kind=ActivityKind.GROUP_EDUCATION.value, venue_radius_m="200", levels=[], person_ids=[])
    return _render_list(values, {})


def create_activity() -> Response | tuple[str, int]:
    """Schedule a session at a venue and invite persons and/or levels (times are the office's local time)."""
    session = db_session()
    actor = console_actor()
    values: dict[str, Any] = {name: console_forms.text(request.form, name, 1000) for name in ACTIVITY_FIELDS}
    values["levels"] = [level for level in request.form.getlist("levels") if level][:3]
    values["person_ids"] = [pid for pid in request.form.getlist("person_ids") if pid][:10_000]
    data = {"kind": values["kind"], "title": values["title"],
            "venue": {"name": values["venue_name"], "lat": values["venue_lat"], "lon": values["venue_lon"],
                      "radius_m": values["venue_radius_m"]},
            "start_at": console_forms.local_datetime(values["start_at"]),
            "end_at": console_forms.local_datetime(values["end_at"]),
            "capacity": values["capacity"] or None, "person_ids": values["person_ids"] or None,
            "levels": values["levels"] or None, "office": values["office"] or None}
    body, errors = console_forms.load(ActivityCreateSchema(), data, "activity")
    if body is None:
        return _render_list(values, errors, 422)
    try:
        activity = activities.create_activity(session=session, actor=actor, values=activities.ActivityValues(**body),
                                              now=now())
    except AppError as error:
        return _render_list(values, console_forms.refusal(error, "activity"), 422)
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
    return _render_detail(activity, {"person_id": "", "hours": "", "note": ""}, {})


def record_attendance(activity_id: int) -> Response | tuple[str, int]:
    """Record the attendance of an invited person without a phone (the note says how it was established)."""
    session = db_session()
    actor = console_actor()
    activity = activities.get_activity(session=session, actor=actor, activity_id=activity_id)
    values = {name: console_forms.text(request.form, name, 2000) for name in ("person_id", "hours", "note")}
    data = {"person_id": values["person_id"], "hours": values["hours"] or None, "note": values["note"]}
    body, errors = console_forms.load(RecordAttendanceSchema(), data, "attendance")
    if body is None:
        return _render_detail(activity, values, errors, status=422)
    try:
        activities.record_attendance(session=session, actor=actor, activity_id=activity.id, now=now(), **body)
    except Conflict as error:
        session.rollback()
        if error.code != "attendance_exists":
            raise
        return _render_detail(activity, values, {"person_id": t("form.attendance.exists")}, status=409)
    except AppError as error:
        return _render_detail(activity, values, console_forms.refusal(error, "attendance"), status=422)
    commit()
    notify("activities.attendance_recorded")
    return redirect(url_for("console.activity", activity_id=activity.id), code=303)


def review_attendance(activity_id: int, attendance_id: int) -> Response | tuple[str, int]:
    """Confirm an attendance (hours corrected with a note) or reject it with a note."""
    session = db_session()
    actor = console_actor()
    activity = activities.get_activity(session=session, actor=actor, activity_id=activity_id)
    values = {name: console_forms.text(request.form, name, 2000) for name in ("decision", "hours", "note")}
    data = {"decision": values["decision"], "hours": values["hours"] or None, "note": values["note"] or None}
    body, errors = console_forms.load(AttendanceReviewSchema(), data, "review")
    if body is not None:
        try:
            activities.review_attendance(session=session, actor=actor, activity_id=activity.id,
                                         attendance_id=attendance_id, now=now(), **body)
        except Conflict as error:
            session.rollback()
            errors = {"decision": t("form.review.already")} if error.code == "already_reviewed" else {}
            if not errors:
                raise
        except AppError as error:
            errors = console_forms.refusal(error, "review")
    if errors:
        blank = {"person_id": "", "hours": "", "note": ""}
        return _render_detail(activity, blank, {}, review_errors={attendance_id: errors}, status=422)
    commit()
    notify("activities.attendance_reviewed", decision=t(f"attendance_decision.{values['decision']}"))
    return redirect(url_for("console.activity", activity_id=activity.id), code=303)


# ------------------------------------------------------------------------------------------------ talks

TALK_FIELDS = ("kind", "at", "minutes", "note")


def _render_talk_form(person: Person, values: dict[str, str], errors: dict[str, str],
                      status: int = 200) -> tuple[str, int]:
    return render_template("console/talk_form.html", person=person, values=values, errors=errors,
                           kinds=list(TalkKind)), status


def talk_new(person_id: int) -> tuple[str, int]:
    """The form to record a talk or a counselling session with a person (now, in office time, by default)."""
    person = get_person(db_session(), console_actor(), person_id)
    values = {"kind": TalkKind.INDIVIDUAL_TALK.value, "at": console_forms.local_input(now()), "minutes": "30",
              "note": ""}
    return _render_talk_form(person, values, {})


def record_talk(person_id: int) -> Response | tuple[str, int]:
    """Record a talk (the note is confidential: listed without it, every read audit-logged)."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    values = {name: console_forms.text(request.form, name, 10_000) for name in TALK_FIELDS}
    data = {"kind": values["kind"], "at": console_forms.local_datetime(values["at"]), "minutes": values["minutes"],
            "note": values["note"]}
    body, errors = console_forms.load(TalkCreateSchema(), data, "talk")
    if body is None:
        return _render_talk_form(person, values, errors, 422)
    try:
        talk = talks.record_talk(session=session, actor=actor, person=person, now=now(), **body)
    except AppError as error:
        return _render_talk_form(person, values, console_forms.refusal(error, "talk"), 422)
    commit()
    notify("talks.recorded", id=talk.id, kind=t(f"talk_kind.{talk.kind}"))
    return redirect(url_for("console.person", person_id=person.id), code=303)


def talk_detail(talk_id: int) -> str:
    """One talk with its confidential note; the read is audit-logged."""
    session = db_session()
    talk = talks.read_talk(session=session, actor=console_actor(), talk_id=talk_id, now=now())
    commit()
    return render_template("console/talk.html", talk=talk, person=session.get(Person, talk.person_id))
