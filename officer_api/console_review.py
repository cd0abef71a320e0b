"""Console review queue: selfie next to the best reference, the evidence, and accept / reject decisions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from officer_api.console_charts import Circle, location_map
from officer_api.console_session import console_actor, error_text, notify, safe_next, t
from storage.enums import CheckinStatus, ReviewDecision
from storage.models import Checkin, LeaveRequest, Person
from supervision import checkins, reports, reviews
from supervision.errors import AppError, Conflict, ValidationFailed
from supervision.evidence import EvidenceError
from web.db import blobs, commit, committed_on, db_session, now
from web.files import private_file

QUEUE_LIMIT = 50
QUEUE_TABS = (CheckinStatus.NEEDS_REVIEW.value, CheckinStatus.REJECTED.value)
QUALITY_KEYS = ("face_px", "inter_eye_px", "brightness", "blur", "yaw", "faces_detected", "detector_score")


@dataclass(frozen=True)
class Evidence:
    """What the page shows about one check-in."""

    checkin: Checkin
    person: Person
    reference_id: int | None
    quality: list[tuple[str, Any]]
    map_svg: Markup | None
    match: dict[str, Any]


def quality_rows(quality: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """The quality values officers read, in a fixed order."""
    quality = quality or {}
    return [(key, quality[key]) for key in QUALITY_KEYS if quality.get(key) is not None]


def _location_svg(session: Session, checkin: Checkin, person: Person) -> Markup:
    circles: list[Circle] = []
    home = checkins.home_area(person)
    if home is not None:
        circles.append(Circle("home", home.lat, home.lon, home.radius_m, t("review.map_home")))
    leave_ids = {area.ref_id for area in checkins.leave_areas(session, person.id, checkin.captured_at)}
    if checkin.leave_request_id:
        leave_ids.add(checkin.leave_request_id)
    for leave_id in sorted(i for i in leave_ids if i is not None):
        leave = session.get(LeaveRequest, leave_id)
        if leave is not None and leave.dest_lat is not None and leave.dest_lon is not None:
            circles.append(Circle("leave", leave.dest_lat, leave.dest_lon, leave.dest_radius_m or 5000.0,
                                  t("review.map_leave")))
    return location_map(circles=circles, lat=checkin.latitude, lon=checkin.longitude,
                        accuracy_m=checkin.accuracy_m, point_label=t("review.map_point"), title=t("review.map_title"))


def evidence_for(session: Session, checkin: Checkin) -> Evidence:
    """The evidence view of a check-in the actor was allowed to load."""
    person = session.get(Person, checkin.person_id)
    assert person is not None
    return Evidence(checkin=checkin, person=person, reference_id=checkin.best_reference_id,
                    quality=quality_rows(checkin.quality), map_svg=_location_svg(session, checkin, person),
                    match=checkin.match or {})


def queue() -> str:
    """The review queue, oldest first (tab: needs_review, or rejections still to confirm)."""
    status = request.args.get("status", CheckinStatus.NEEDS_REVIEW.value)
    if status not in QUEUE_TABS:
        status = CheckinStatus.NEEDS_REVIEW.value
    session = db_session()
    actor = console_actor()
    rows = checkins.list_checkins(session=session, actor=actor, status=status, person_id=None, after_id=None,
                                  limit=QUEUE_LIMIT)
    if status == CheckinStatus.REJECTED:
        # The list is newest first for other statuses; a queue is worked oldest first.
        rows = sorted(rows, key=lambda c: c.id)
    items = [evidence_for(session, checkin) for checkin in rows]
    counts = reports.queue_counts(session, actor)
    return render_template("console/review.html", items=items, status=status, tabs=QUEUE_TABS, counts=counts,
                           limit=QUEUE_LIMIT)


def checkin_detail(checkin_id: int) -> str:
    """One check-in with all its evidence; the view is audit-logged as in the API."""
    session = db_session()
    checkin = checkins.view_checkin(session=session, actor=console_actor(), checkin_id=checkin_id, now=now())
    item = evidence_for(session, checkin)
    commit()
    reviewable = checkin.status in checkins.REVIEWABLE and checkin.reviewed_at is None
    return render_template("console/checkin.html", item=item, reviewable=reviewable)


def checkin_photo(checkin_id: int) -> Response:
    """The selfie bytes; every view is audit-logged (a missing or altered file is reported to the office)."""
    with committed_on(EvidenceError):
        data, content_type = checkins.read_checkin_photo(session=db_session(), blobs=blobs(), actor=console_actor(),
                                                         checkin_id=checkin_id, now=now())
    commit()
    return private_file(data, content_type)


def review(checkin_id: int) -> Response:
    """Accept or reject a check-in; a reject without a note is refused with a message."""
    decision = request.form.get("decision", "")
    note = (request.form.get("note") or "").strip()[:2000] or None
    back = safe_next(request.form.get("next"), url_for("console.queue"))
    if decision not in (ReviewDecision.ACCEPT, ReviewDecision.REJECT):
        notify("error.bad_request", "error")
        return redirect(back, code=303)
    try:
        checkins.review_checkin(session=db_session(), actor=console_actor(), checkin_id=checkin_id,
                                decision=decision, note=note, now=now())
    except ValidationFailed:
        db_session().rollback()
        notify("review.note_required", "error", target=f"checkin-{checkin_id}")
        return redirect(f"{back}#checkin-{checkin_id}", code=303)
    except Conflict:
        db_session().rollback()
        notify("review.already", "error")
        return redirect(back, code=303)
    commit()
    # A decision is one key press away ("a"): the message offers to take it back for a short while.
    notify("review.accepted_undo" if decision == ReviewDecision.ACCEPT else "review.rejected_undo", id=checkin_id,
           undo=url_for("console.undo_review", checkin_id=checkin_id),
           minutes=int(reviews.UNDO_WINDOW.total_seconds() // 60))
    return redirect(back, code=303)


def undo_review(checkin_id: int) -> Response:
    """Take back one's own decision within the undo window; the check-in is back in the queue as it was."""
    back = safe_next(request.form.get("next"), url_for("console.queue"))
    try:
        reviews.undo_review(session=db_session(), actor=console_actor(), checkin_id=checkin_id, now=now())
    except AppError as error:
        if error.status == 404:
            raise  # outside the scope or gone: the not-found page
        db_session().rollback()
        notify("review.undo_refused", "error", id=checkin_id, reason=error_text(error))
        return redirect(back, code=303)
    commit()
    notify("review.undone", id=checkin_id)
    return redirect(f"{back}#checkin-{checkin_id}", code=303)
