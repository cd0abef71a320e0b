"""Console work lists and actions: leave approvals, the alerts inbox, sanctions, spot checks, video inspections."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from officer_console import forms
from officer_console.session import console_actor, enum_label, error_text, local_time, notify, safe_next, t
from storage.enums import AlertStatus, AlertType, ApprovalLevel, LeaveStatus, TaskStatus
from storage.models import Alert, LeaveRequest, Person
from supervision import alerts, leave, sanctions, tasks, video_inspections
from supervision.errors import AppError
from supervision.evidence import EvidenceError
from supervision.sanctions import Suggestion
from supervision.scope import get_person
from web.db import blobs, commit, committed_on, db_session, now, policies
from web.files import private_file

LIST_LIMIT = 50
LEAVE_TABS = ("pending", "overdue", "recent")


class ResolveForm(forms.NextForm):
    """An alert's resolution: dismiss it or the sanction it led to, with a note kept as evidence."""

    action = forms.Word()
    note = forms.Note(2000)


class DismissForm(forms.FormSchema):
    """The ticked alerts dismissed with one note."""

    alert_id = forms.Ids()
    note = forms.Note(2000)


class SanctionForm(forms.FormSchema):
    """A sanction decided outside an alert, with the note that explains it."""

    kind = forms.Word()
    note = forms.Note(2000)


class TaskForm(forms.FormSchema):
    """A spot check or video inspection: the minutes the person has to answer (empty: the policy's default)."""

    minutes = forms.Count(5)


def _refused(error: AppError, back: str, target: str | None = None) -> Response:
    """The page the form was on, with the refusal next to the form (target: the id of its section)."""
    if error.status == 404:
        raise error  # outside the scope or gone: the not-found page, never a hint that it exists
    db_session().rollback()
    notify("error.generic", "error", target=target, detail=error_text(error))
    return redirect(f"{back}#{target}" if target else back, code=303)


def _persons(session: Session, person_ids: set[int]) -> dict[int, Person]:
    return {pid: person for pid in person_ids if (person := session.get(Person, pid)) is not None}


def leave_list() -> str:
    """Pending requests most urgent first (with approve / reject), overdue returns, or the most recent requests."""
    tab = request.args.get("tab", "pending")
    tab = tab if tab in LEAVE_TABS else "pending"
    session = db_session()
    actor = console_actor()
    if tab == "pending":
        rows = leave.list_pending_by_urgency(session=session, actor=actor, limit=LIST_LIMIT)
    elif tab == "overdue":
        rows = leave.list_overdue(session=session, actor=actor, now=now(), policy=policies().leave, limit=LIST_LIMIT)
    else:
        rows = leave.list_leave_requests(session=session, actor=actor, limit=LIST_LIMIT)
    persons = _persons(session, {row.person_id for row in rows})
    return render_template("console/leave.html", rows=rows, tab=tab, tabs=LEAVE_TABS, persons=persons,
                           days=leave.leave_days, can_decide=lambda row: can_decide(row, actor.role),
                           used=leave.used_days_this_year(session=session, persons=persons.values(), now=now()),
                           max_days=policies().leave.max_days_per_year)


def can_decide(row: LeaveRequest, role: str) -> bool:
    """Whether this actor's role may decide the request (longer leave is for the county)."""
    return row.status == LeaveStatus.PENDING and (row.approval_level != ApprovalLevel.COUNTY or role == "admin")


def decide_leave(leave_id: int) -> Response:
    """Approve or reject a pending leave request (rejection needs a note)."""
    posted = forms.read(forms.DecisionForm())
    decision = posted["decision"]
    back = safe_next(posted["next"], url_for("console.leave"))
    try:
        leave.decide_leave(session=db_session(), actor=console_actor(), leave_id=leave_id, decision=decision,
                           note=posted["note"], now=now())
    except AppError as error:
        return _refused(error, back, f"leave-{leave_id}")
    commit()
    notify("leave.decided", id=leave_id, decision=enum_label("leave_decision", decision))
    return redirect(back, code=303)


def leave_attachment(leave_id: int) -> Response:
    """A leave request's attachment (e.g. a hospital letter); staff views are audit-logged."""
    with committed_on(EvidenceError):
        data, content_type = leave.read_attachment(session=db_session(), blobs=blobs(), actor=console_actor(),
                                                   leave_id=leave_id, now=now())
    commit()
    return private_file(data, content_type)


def _suggestions(session: Session, people: dict[int, Person]) -> dict[int, Suggestion | None]:
    policy = policies().duty
    at = now()
    return {pid: sanctions.suggest_next_step(session=session, person=person, now=at, policy=policy)
            for pid, person in people.items()}


def alert_list() -> str:
    """Open alerts (or resolved ones) with each person's suggested next step and a resolve form."""
    status = request.args.get("status", AlertStatus.OPEN.value)
    status = status if status in set(AlertStatus) else AlertStatus.OPEN.value
    session = db_session()
    actor = console_actor()
    rows = alerts.list_alerts(session=session, actor=actor, status=status, limit=LIST_LIMIT)
    people = _persons(session, {row.person_id for row in rows})
    suggestions = _suggestions(session, people) if status == AlertStatus.OPEN else {}
    return render_template("console/alerts.html", rows=rows, status=status, statuses=list(AlertStatus),
                           persons=people, suggestions=suggestions, actions=alerts.RESOLUTION_ACTIONS,
                           evidence_lines=evidence_lines)


def _evidence_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def absence_text(alert: Alert) -> str | None:
    """A missed_checkin alert's absence in words: how many windows were missed in a row, from when to when."""
    if alert.type != AlertType.MISSED_CHECKIN:
        return None
    evidence = alert.evidence or {}
    start = _evidence_time(evidence.get("period_start") or evidence.get("window_start"))
    end = _evidence_time(evidence.get("period_end") or evidence.get("window_end")) or alert.occurred_at
    if start is None:
        return None
    count = evidence.get("missed_windows")
    count = count if isinstance(count, int) and count > 0 else 1
    return t("alerts.absence_one" if count == 1 else "alerts.absence_many", count=count, start=local_time(start),
             end=local_time(end))


def evidence_lines(alert: Alert) -> list[tuple[str, str]]:
    """The evidence an officer reads first (check-in, times, location), as (name, value) pairs."""
    evidence = alert.evidence or {}
    lines: list[tuple[str, str]] = []
    absence = absence_text(alert)
    if absence is not None:
        # One absence is one alert: the count and the period replace the raw window fields.
        return [("absence", absence)]
    for key in ("checkin_id", "task_id", "leave_request_id", "reasons", "captured_at", "end_at", "device_id",
                "answered", "window", "missed_windows"):
        if key in evidence and evidence[key] not in (None, "", []):
            value = evidence[key]
            if key == "reasons":
                value = ", ".join(enum_label("reason", str(r)) for r in value)
            lines.append((key, evidence_time(value)))
    return lines


def evidence_time(value: object) -> str:
    """An evidence value as text; a stored UTC timestamp (ISO 8601 with an offset) in the office's local time."""
    text = str(value)
    if isinstance(value, str) and len(text) >= 16 and text[4:5] == "-" and "T" in text:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
        if moment.tzinfo is not None:
            return local_time(moment, "seconds")
    return text


def resolve_alert(alert_id: int) -> Response:
    """Dismiss an alert or resolve it with a sanction (the note is kept as evidence)."""
    posted = forms.read(ResolveForm())
    action = posted["action"]
    back = safe_next(posted["next"], url_for("console.alerts"))
    try:
        alerts.resolve_alert(session=db_session(), actor=console_actor(), alert_id=alert_id, action=action,
                             note=posted["note"], now=now(), policy=policies().duty)
    except AppError as error:
        return _refused(error, back, f"alert-{alert_id}")
    commit()
    # A dismissal can be taken back for a short while (a sanction is on file: it is corrected, not undone).
    undo = url_for("console.undo_alerts", ids=str(alert_id)) if action == alerts.DISMISS else None
    notify("alerts.resolved", id=alert_id, action=enum_label("action", action), undo=undo)
    return redirect(back, code=303)


def dismiss_alerts() -> Response:
    """Dismiss the ticked alerts with one note (e.g. one absence already explained)."""
    back = url_for("console.alerts")
    posted = forms.read(DismissForm())
    try:
        dismissed, skipped = alerts.dismiss_alerts(session=db_session(), actor=console_actor(),
                                                   alert_ids=posted["alert_id"], note=posted["note"], now=now())
    except AppError as error:
        return _refused(error, back, "bulk-dismiss")
    commit()
    undo = url_for("console.undo_alerts", ids=",".join(map(str, dismissed))) if dismissed else None
    notify("alerts.dismissed", count=len(dismissed), skipped=len(skipped), undo=undo)
    return redirect(back, code=303)


def undo_dismissals() -> Response:
    """Open again the alerts one just dismissed (the ids are in the undo link of the confirmation)."""
    back = safe_next(forms.read(forms.NextForm())["next"], url_for("console.alerts"))
    values = request.args.get("ids", "")[:1200].split(",")
    ids = [number for number in map(forms.as_id, values) if number is not None]
    try:
        reopened = alerts.undo_dismissals(session=db_session(), actor=console_actor(), alert_ids=ids, now=now())
    except AppError as error:
        if error.status == 404:
            raise
        db_session().rollback()
        notify("alerts.undo_refused", "error", reason=error_text(error))
        return redirect(back, code=303)
    commit()
    notify("alerts.reopened", count=len(reopened))
    return redirect(back, code=303)


def record_sanction(person_id: int) -> Response:
    """Record a sanction decided outside an alert (with the note that explains it)."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    posted = forms.read(SanctionForm())
    kind = posted["kind"]
    back = url_for("console.person", person_id=person.id)
    try:
        sanctions.record_sanction(session=session, actor=actor, person=person, kind=kind, note=posted["note"],
                                  now=now(), policy=policies().duty)
    except AppError as error:
        return _refused(error, back, "sanctions")
    commit()
    notify("sanction.recorded", kind=enum_label("sanction_kind", kind))
    return redirect(back + "#sanctions", code=303)


def start_spot_check(person_id: int) -> Response:
    """Ask the person for a selfie check-in within a deadline (the phone shows it as a task)."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    back = url_for("console.person", person_id=person.id)
    minutes = forms.read(TaskForm())["minutes"]
    within = timedelta(minutes=minutes) if minutes is not None else None
    try:
        task = tasks.create_spot_check(session=session, actor=actor, person=person, now=now(),
                                       policy=policies().spot_checks, respond_within=within)
    except AppError as error:
        return _refused(error, back, "tasks")
    commit()
    notify("person.task_created", id=task.id, due=local_time(task.due_at))
    return redirect(back + "#tasks", code=303)


def start_video_inspection(person_id: int) -> Response:
    """Ask the person for a short live video within a deadline; frames are checked when the clip arrives."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    back = url_for("console.person", person_id=person.id)
    minutes = forms.read(TaskForm())["minutes"]
    try:
        task = video_inspections.create_inspection(session=session, actor=actor, person=person, now=now(),
                                                   respond_within_minutes=minutes or 0)
    except AppError as error:
        return _refused(error, back, "tasks")
    commit()
    notify("person.task_created", id=task.id, due=local_time(task.due_at))
    return redirect(back + "#tasks", code=303)


def inspection_detail(task_id: int) -> str:
    """A video inspection's summary and key frames (audit-logged), with the officer's judgement form."""
    session = db_session()
    task = video_inspections.view_inspection(session=session, actor=console_actor(), task_id=task_id, now=now())
    commit()
    frames = (task.result or {}).get("key_frames") or []
    reviewable = task.status == TaskStatus.COMPLETED and task.reviewed_at is None
    return render_template("console/inspection.html", task=task, person=session.get(Person, task.person_id),
                           summary=video_inspections.summary_of(task), frames=frames, reviewable=reviewable)


def key_frame(task_id: int, n: int) -> Response:
    """One key frame of an inspection clip; every view is audit-logged."""
    data, content_type = video_inspections.read_key_frame(session=db_session(), blobs=blobs(), actor=console_actor(),
                                                          task_id=task_id, n=n, now=now())
    commit()
    return private_file(data, content_type)


def review_inspection(task_id: int) -> Response:
    """Accept or reject a processed inspection (a reject needs a note)."""
    back = url_for("console.inspection", task_id=task_id)
    posted = forms.read(forms.DecisionForm())
    decision = posted["decision"]
    try:
        video_inspections.review_inspection(session=db_session(), actor=console_actor(), task_id=task_id,
                                            decision=decision, note=posted["note"], now=now())
    except AppError as error:
        return _refused(error, back, f"inspection-{task_id}")
    commit()
    notify("video.reviewed", id=task_id, decision=enum_label("review_decision", decision))
    return redirect(back, code=303)
