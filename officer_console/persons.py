"""Console person pages: the register with filters, one person's file, reference enrolment and the audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from officer_console import forms, work
from officer_console.charts import trail_map
from officer_console.session import console_actor, enum_label, error_text, notify, t, zone
from storage.enums import STAFF_ROLES, AlertStatus, PersonStatus, SupervisionLevel, TalkKind
from storage.models import Account, Person
from supervision import (
    alerts,
    audit,
    checkins,
    duties,
    faces,
    leave,
    persons,
    reports,
    sanctions,
    talks,
    tasks,
    tracking,
)
from supervision.audit import AuditAction
from supervision.errors import AppError, UnusableImage
from supervision.evidence import EvidenceError
from supervision.locks import lock_person
from supervision.scope import get_person, office_condition
from web.db import app_config, blobs, commit, committed_on, db_session, face_engine, now, policies
from web.files import private_file

COMPLIANCE_DAYS = 30


def person_list() -> str:
    """The register in the actor's scope: search by name or code, filter by office, level, status, open alerts."""
    session = db_session()
    actor = console_actor()
    filters: dict[str, Any] = {
        "q": request.args.get("q", "").strip()[:100],
        "office": request.args.get("office", ""),
        "level": request.args.get("level", "") if request.args.get("level") in set(SupervisionLevel) else "",
        "status": request.args.get("status", "") if request.args.get("status") in set(PersonStatus) else "",
        "alerts": request.args.get("alerts") == "1",
    }
    rows = reports.list_register(session=session, actor=actor, query=filters["q"] or None,
                                 office_code=filters["office"] or None, level=filters["level"] or None,
                                 status=filters["status"] or None, open_alerts_only=filters["alerts"],
                                 after_id=forms.id_arg("after"), limit=forms.PAGE_SIZE + 1)
    rows, next_after = forms.page_of(rows, lambda row: row.person.id)
    return render_template("console/persons.html", rows=rows, filters=filters, next_after=next_after,
                           offices=reports.offices_in_scope(session, actor), levels=list(SupervisionLevel),
                           statuses=list(PersonStatus), paged=forms.id_arg("after") is not None)


def person_detail(person_id: int) -> str:
    """Everything about one person in scope: references, check-ins, duties, leave, alerts, sanctions, audit."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    at = now()
    policy = policies().duty
    full_identity = persons.view_identity(session=session, actor=actor, person=person, now=at, channel="console")
    commit()
    context: dict[str, Any] = {
        "person": person,
        "full_identity": full_identity,
        "references": faces.active_references(session, person.id),
        "min_references": app_config("MIN_REFERENCES"),
        "checkins": checkins.list_checkins(session=session, actor=actor, status=None, person_id=person.id,
                                           after_id=None, limit=30),
        "compliance": duties.compliance(session=session, person=person, now=at, policy=policy, days=COMPLIANCE_DAYS),
        "compliance_days": COMPLIANCE_DAYS,
        "next_due": duties.next_due(session=session, person=person, now=at, policy=policy),
        "leave": leave.list_leave_requests(session=session, actor=actor, person_id=person.id, limit=20),
        "alerts": alerts.list_alerts(session=session, actor=actor, person_id=person.id, limit=20),
        "open_alert_status": AlertStatus.OPEN.value,
        "absence_text": work.absence_text,
        "sanctions": sanctions.list_sanctions(session=session, actor=actor, person_id=person.id, limit=20),
        "suggestion": sanctions.suggest_next_step(session=session, person=person, now=at, policy=policy),
        "sanction_kinds": list(sanctions.RANK),
        "tasks": tasks.list_tasks(session=session, actor=actor, person_id=person.id, limit=20),
        "lines": audit.collapse_repeats(audit.list_events(session=session, actor=actor, person_id=person.id,
                                                          limit=30)),
        "tracking": tracking.active_tracking(session, person, at),
        "zone_count": len(tracking.list_zones(session=session, person=person)),
        "talks": talks.list_talks(session=session, person_id=person.id, limit=20),
        "talk_kinds": list(TalkKind),
        "now_input": forms.local_input(at),
    }
    return render_template("console/person.html", **context)


class EnrolForm(forms.FormSchema):
    """A reference photo's upload form (the photo itself is a file): accept it despite a warning, and a note."""

    force = forms.Flag()
    note = forms.Note(1000)


def enrol(person_id: int) -> Response:
    """Enrol one uploaded reference photo through the same quality gates as the API."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    back = url_for("console.person", person_id=person.id) + "#references"
    upload = request.files.get("photo")
    photo = upload.read() if upload is not None else b""
    if not photo:
        notify("person.enrol_missing", "error", target="references")
        return redirect(back, code=303)
    posted = forms.read(EnrolForm())
    try:
        # One enrolment at a time per person, so concurrent uploads cannot pass the reference maximum.
        lock_person(session, person.id)
        _reference, analysis = faces.enrol_reference(
            session=session, blobs=blobs(), engine=face_engine(), actor=actor, person=person, photo=photo,
            force=posted["force"], note=posted["note"], now=now(), max_references=app_config("MAX_REFERENCES"))
    except (UnusableImage, AppError) as error:
        session.rollback()
        notify("person.enrol_refused", "error", target="references", reason=error_text(error))
        return redirect(back, code=303)
    commit()
    quality = analysis.quality
    notify("person.enrolled", face_px=quality.get("face_px"), brightness=quality.get("brightness"),
           blur=quality.get("blur"))
    return redirect(back, code=303)


def face_photo(person_id: int, face_id: int) -> Response:
    """A reference photo; every view is audit-logged."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    with committed_on(EvidenceError):
        data, content_type = faces.read_reference_photo(session=session, blobs=blobs(), actor=actor, person=person,
                                                        face_id=face_id, now=now())
    commit()
    return private_file(data, content_type)


def audit_log() -> str:
    """Who did what and when in the actor's scope, newest first; filter by person, officer, action and period.

    Repeated views of one record by one officer within a minute show as one line with a count (all stay stored).
    """
    session = db_session()
    actor = console_actor()
    person_id = forms.id_arg("person_id")
    person = get_person(session, actor, person_id) if person_id is not None else None
    action = request.args.get("action", "")[:64]
    staff = list(session.scalars(select(Account).where(office_condition(actor, Account.office_id),
                                                      Account.role.in_(STAFF_ROLES))
                                 .order_by(Account.display_name, Account.username)))
    actor_id = forms.id_arg("actor_id")
    actor_id = actor_id if actor_id in {account.id for account in staff} else None
    since_day, until_day = _date_arg("from"), _date_arg("to")
    rows = audit.list_events(session=session, actor=actor, person_id=person_id, action=action or None,
                             actor_id=actor_id, since=_day_start(since_day),
                             until=_day_start(until_day + timedelta(days=1)) if until_day else None,
                             after_id=forms.id_arg("after"), limit=forms.PAGE_SIZE + 1)
    rows, next_after = forms.page_of(rows)
    actions = sorted(value for name, value in vars(AuditAction).items() if name.isupper())
    lines = audit.collapse_repeats(rows)
    people = {pid: found for pid in {line.event.person_id for line in lines} if pid is not None
              and (found := session.get(Person, pid)) is not None}
    filters = {"person_id": person.id if person else None, "action": action or None, "actor_id": actor_id,
               "from": since_day.isoformat() if since_day else None,
               "to": until_day.isoformat() if until_day else None}
    return render_template("console/audit.html", lines=lines, person=person, action=action, actions=actions,
                           next_after=next_after, staff=staff, filters=filters, people=people)


def _date_arg(name: str) -> date | None:
    value = request.args.get(name, "")
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None
    return day if day is not None and 1900 <= day.year <= 2100 else None


def _day_start(day: date | None) -> datetime | None:
    # The office's local midnight, so "from 3 May" means what the officer reads on the page.
    return None if day is None else datetime.combine(day, time(0), tzinfo=zone()).astimezone(UTC)


def trail_page(person_id: int) -> str:
    """One day of a person's trail drawn with the zones and location alerts (no map service); audit-logged."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    # A missing, malformed or implausible day (outside 1900-2100) shows today.
    day = _date_arg("day") or now().astimezone(zone()).date()
    start = _day_start(day)
    assert start is not None
    view = tracking.trail(session=session, actor=actor, person=person, start=start, end=start + timedelta(days=1),
                          now=now(), policy=policies().location)
    commit()
    marks = []
    for alert in view["alerts"]:
        fixes = (alert.evidence or {}).get("fixes") or []
        if fixes:
            marks.append((enum_label("alert_type", alert.type), fixes[0]["lat"], fixes[0]["lon"]))
    drawing = trail_map(points=[(p[0], p[1]) for p in view["simplified"]], zones=view["zones"], alerts=marks,
                        title=t("trail.title", name=persons.shown_name(person), day=day.isoformat()))
    return render_template("console/trail.html", person=person, day=day, view=view, drawing=drawing,
                           previous=day - timedelta(days=1), following=day + timedelta(days=1),
                           tracking=tracking.active_tracking(session, person, now()))
