"""Console review queue: selfie next to the best reference, the evidence, and accept / reject decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from officer_console import forms
from officer_console.charts import Circle, location_map
from officer_console.session import console_actor, error_text, notify, safe_next, t
from storage.enums import CheckinStatus, ReviewDecision
from storage.models import Checkin, LeaveRequest, Person
from supervision import checkins, reports, reviews
from supervision.errors import AppError, Conflict, ValidationFailed
from supervision.evidence import EvidenceError
from verification.settings import EngineSettings, QualityGates
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
    face: Verdict | None = None  # the face comparison in words (raw distance and thresholds one click away)
    quality_words: tuple[Verdict, ...] = ()  # what the photo's quality numbers mean for the officer
    liveness: Verdict | None = None


@dataclass(frozen=True)
class Verdict:
    """Words an officer can act on: a catalogue key, its placeholders and a tone ("ok", "warn", "bad")."""

    key: str
    tone: str
    values: dict[str, Any] = field(default_factory=dict)


def face_verdict(match: dict[str, Any] | None) -> Verdict | None:
    """The face distance read against the engine's thresholds: same person, unsure, or someone else."""
    match = match or {}
    distance, verify, reject = (match.get(k) for k in ("distance", "verify_threshold", "reject_threshold"))
    if not isinstance(distance, int | float):
        return Verdict("face.not_compared", "warn") if match else None
    if isinstance(verify, int | float) and isinstance(reject, int | float):
        if distance <= verify:
            return Verdict("face.same", "ok")
        if distance > reject:
            return Verdict("face.different", "bad")
        return Verdict("face.unsure", "warn")
    band = {"verified": Verdict("face.same", "ok"), "rejected": Verdict("face.different", "bad")}
    return band.get(str(match.get("band")), Verdict("face.unsure", "warn"))


def _checkin_gates() -> QualityGates:
    engine = current_app.config.get("CHECKIN", {}).get("FACE_ENGINE")
    return (engine if isinstance(engine, EngineSettings) else EngineSettings()).gates("checkin")


# Margins above a check-in gate inside which a photo passed but is worth a word (a retake would help).
NEAR_GATE = 1.5
NEAR_BRIGHT = 20.0
TURNED_DEGREES = 20.0


@dataclass(frozen=True)
class Rung:
    """One word of a measure's ladder (a catalogue key): said when the value is below (or above) the bound; a bound
    of None never says it."""

    word: str
    tone: str
    below: float | None = None
    above: float | None = None
    with_count: bool = False  # the word names the value ("%(n)s faces")

    def says(self, value: float) -> bool:
        """Whether this rung's word is said for value."""
        return ((self.below is not None and value < self.below)
                or (self.above is not None and value > self.above))


def quality_ladders(gates: QualityGates) -> tuple[tuple[str, bool, tuple[Rung, ...]], ...]:
    """Per measure, in the order the page lists them: (quality key, read as an absolute value, its rungs from the
    worst word down); the first rung that applies is the measure's word."""
    return (
        ("faces_detected", False, (Rung("quality_word.no_face", "bad", below=1),
                                   Rung("quality_word.several_faces", "warn", above=1, with_count=True))),
        ("face_px", False, (Rung("quality_word.too_small", "bad", below=gates.min_face_px),
                            Rung("quality_word.small", "warn", below=gates.min_face_px * NEAR_GATE))),
        ("brightness", False, (Rung("quality_word.too_dark", "bad", below=gates.min_brightness),
                               Rung("quality_word.dark", "warn", below=gates.min_brightness + NEAR_BRIGHT),
                               Rung("quality_word.too_bright", "bad", above=gates.max_brightness),
                               Rung("quality_word.bright", "warn", above=gates.max_brightness - NEAR_BRIGHT))),
        ("blur", False, (Rung("quality_word.blurred", "bad", below=gates.min_blur),
                         Rung("quality_word.soft", "warn", below=gates.min_blur * NEAR_GATE))),
        ("yaw", True, (Rung("quality_word.turned_away", "bad", above=gates.max_yaw_degrees),
                       Rung("quality_word.turned", "warn", above=TURNED_DEGREES))),
    )


def _measure(quality: dict[str, Any], key: str) -> float | None:
    raw = quality.get(key)
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def quality_verdicts(quality: dict[str, Any] | None, gates: QualityGates) -> tuple[Verdict, ...]:
    """The photo's quality numbers in words, measured against the check-in gates the engine applies."""
    quality = quality or {}
    words: list[Verdict] = []
    for key, absolute, rungs in quality_ladders(gates):
        value = _measure(quality, key)
        if value is None:
            continue
        value = abs(value) if absolute else value
        rung = next((rung for rung in rungs if rung.says(value)), None)
        if rung is not None:
            words.append(Verdict(rung.word, rung.tone, {"n": int(value)} if rung.with_count else {}))
    if not words and any(_measure(quality, key) is not None for key in QUALITY_KEYS):
        words.append(Verdict("quality_word.good", "ok"))
    return tuple(words)


def liveness_verdict(liveness: dict[str, Any] | None) -> Verdict | None:
    """Whether the liveness check passed, in words."""
    if not isinstance(liveness, dict) or "passed" not in liveness:
        return None
    return Verdict("liveness.passed", "ok") if liveness.get("passed") else Verdict("liveness.failed", "bad")


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
                    match=checkin.match or {}, face=face_verdict(checkin.match),
                    quality_words=quality_verdicts(checkin.quality, _checkin_gates()),
                    liveness=liveness_verdict(checkin.liveness))


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
    posted = forms.read(forms.DecisionForm())
    decision, note = posted["decision"], posted["note"]
    back = safe_next(posted["next"], url_for("console.queue"))
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
    back = safe_next(forms.read(forms.NextForm())["next"], url_for("console.queue"))
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
