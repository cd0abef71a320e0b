"""The console's blueprint: server-rendered pages under /console/ on the same domain functions as the officer API.

Register with ``app.register_blueprint(console_bp)``. Login uses Flask's signed session cookie (HttpOnly,
SameSite=Lax, Secure outside development and testing); every POST carries a per-session CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from sqlalchemy.exc import SQLAlchemyError

from officer_console import activities, auth, pages, persons, report, review, work
from officer_console.i18n import init_babel
from officer_console.session import (
    CSRF_FIELD,
    csrf_token,
    csrf_valid,
    distance,
    end_login,
    error_text,
    lang,
    load_actor,
    local_time,
    notices,
    notify,
    number,
    percent,
    suggestion_reason,
    t,
    template_translators,
    zone,
)
from supervision import reviews
from supervision.errors import AppError
from supervision.persons import shown_name
from web.db import commit, db_session
from web.problems import Problem, problem_of

console_bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                       static_folder="static/console", static_url_path="/static")

# Pages anyone may open; everything else needs a logged-in officer or admin.
PUBLIC_ENDPOINTS = {"console.login_form", "console.login", "console.static", "console.switch_language"}

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                           "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

# The console's URL map in one place: (rule, endpoint, view, methods).
_ROUTES: list[tuple[str, str, Any, tuple[str, ...]]] = [
    ("/login", "login_form", auth.login_form, ("GET",)),
    ("/login", "login", auth.login, ("POST",)),
    ("/logout", "logout", auth.logout, ("POST",)),
    ("/lang/<code>", "switch_language", auth.switch_language, ("GET",)),
    ("/", "queue", review.queue, ("GET",)),
    ("/review", "review_queue", review.queue, ("GET",)),
    ("/checkins/<int:checkin_id>", "checkin", review.checkin_detail, ("GET",)),
    ("/checkins/<int:checkin_id>/photo", "checkin_photo", review.checkin_photo, ("GET",)),
    ("/checkins/<int:checkin_id>/review", "review", review.review, ("POST",)),
    ("/checkins/<int:checkin_id>/review/undo", "undo_review", review.undo_review, ("POST",)),
    ("/persons", "persons", persons.person_list, ("GET",)),
    ("/persons/<int:person_id>", "person", persons.person_detail, ("GET",)),
    ("/persons/<int:person_id>/faces", "enrol", persons.enrol, ("POST",)),
    ("/persons/<int:person_id>/trail", "trail", persons.trail_page, ("GET",)),
    ("/persons/<int:person_id>/faces/<int:face_id>/photo", "face_photo", persons.face_photo, ("GET",)),
    ("/audit", "audit", persons.audit_log, ("GET",)),
    ("/report", "report", report.report_page, ("GET",)),
    ("/report.csv", "report_csv", report.report_csv, ("GET",)),
    ("/report.xlsx", "report_xlsx", report.report_xlsx, ("GET",)),
    ("/leave", "leave", work.leave_list, ("GET",)),
    ("/leave/<int:leave_id>/decision", "decide_leave", work.decide_leave, ("POST",)),
    ("/leave/<int:leave_id>/attachment", "leave_attachment", work.leave_attachment, ("GET",)),
    ("/alerts", "alerts", work.alert_list, ("GET",)),
    ("/alerts/<int:alert_id>/resolve", "resolve_alert", work.resolve_alert, ("POST",)),
    ("/alerts/dismiss", "dismiss_alerts", work.dismiss_alerts, ("POST",)),
    ("/alerts/undo", "undo_alerts", work.undo_dismissals, ("POST",)),
    ("/persons/<int:person_id>/sanctions", "record_sanction", work.record_sanction, ("POST",)),
    ("/persons/<int:person_id>/spot-checks", "spot_check", work.start_spot_check, ("POST",)),
    ("/persons/<int:person_id>/video-inspections", "video_inspection", work.start_video_inspection,
     ("POST",)),
    ("/video-inspections/<int:task_id>", "inspection", work.inspection_detail, ("GET",)),
    ("/video-inspections/<int:task_id>/key-frames/<int(min=0):n>", "key_frame", work.key_frame, ("GET",)),
    ("/video-inspections/<int:task_id>/review", "review_inspection", work.review_inspection, ("POST",)),
    ("/video-inspections", "inspections", pages.inspection_list, ("GET",)),
    ("/persons/new", "person_new", pages.person_new, ("GET",)),
    ("/persons/new", "create_person", pages.create_person, ("POST",)),
    ("/persons/<int:person_id>/edit", "person_edit", pages.person_edit, ("GET",)),
    ("/persons/<int:person_id>/edit", "update_person", pages.update_person, ("POST",)),
    ("/persons/<int:person_id>/zones", "zones", pages.zone_list, ("GET",)),
    ("/persons/<int:person_id>/zones", "create_zone", pages.create_zone, ("POST",)),
    ("/persons/<int:person_id>/zones/<int:zone_id>/delete", "delete_zone", pages.delete_zone, ("POST",)),
    ("/activities", "activities", activities.activity_list, ("GET",)),
    ("/activities", "create_activity", activities.create_activity, ("POST",)),
    ("/activities/<int:activity_id>", "activity", activities.activity_detail, ("GET",)),
    ("/activities/<int:activity_id>/attendance", "record_attendance", activities.record_attendance,
     ("POST",)),
    ("/activities/<int:activity_id>/attendance/<int:attendance_id>/review", "review_attendance",
     activities.review_attendance, ("POST",)),
    ("/persons/<int:person_id>/talks/new", "talk_new", activities.talk_new, ("GET",)),
    ("/persons/<int:person_id>/talks", "record_talk", activities.record_talk, ("POST",)),
    ("/talks/<int:talk_id>", "talk", activities.talk_detail, ("GET",)),
]

for _rule, _endpoint, _view, _methods in _ROUTES:
    console_bp.add_url_rule(_rule, _endpoint, _view, methods=list(_methods))


@console_bp.record_once
def _configure_cookies(state: BlueprintSetupState) -> None:
    # The session cookie exists for the console only; the API authenticates with bearer tokens.
    app = state.app
    env = app.config.get("CHECKIN", {}).get("ENV", "production")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = env not in ("development", "testing")
    app.config["SESSION_COOKIE_PATH"] = "/console"
    app.config["SESSION_COOKIE_NAME"] = "checkin_console"
    # Pages are translated and dates and numbers formatted by Flask-Babel in the session's language and the
    # officer's office time zone.
    init_babel(app, locale_selector=lang, timezone_selector=zone)


@console_bp.before_request
def _guard() -> Any:
    if request.method == "POST" and not csrf_valid():
        return render_template("console/error.html", message=t("csrf.failed")), 400
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    actor, why = load_actor()
    if actor is None:
        if why == "expired":
            end_login(reason="idle_timeout")
            commit()
            notify("session.expired", "error")
        else:
            notify("session.required", "error")
        target = request.full_path if request.method == "GET" else ""
        return redirect(url_for("console.login_form", next=target.rstrip("?")), code=303)
    g.console_actor = actor
    return None


@console_bp.after_request
def _harden(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store, private")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@console_bp.context_processor
def _template_helpers() -> dict[str, Any]:
    page_t, page_label = template_translators()
    return {
        "t": page_t,
        "label": page_label,
        "lang": lang(),
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token,
        "actor": g.get("console_actor"),
        "localtime": local_time,
        "notices": notices,
        "undo_seconds": int(reviews.UNDO_WINDOW.total_seconds()),
        "suggestion_reason": suggestion_reason,
        "number": number,
        "percent": percent,
        "distance": distance,
        # Every person's name in a page goes through this: a minor's is masked (supervision.persons.shown_name).
        "person_name": shown_name,
    }


# A request the console cannot serve is told by its status; a domain refusal or a failure on the server side by its
# code, in the catalogue's words (error_text). 401, 403 and 404 never say more: outside the scope is "not found".
STATUS_TEXTS = {400: "error.bad_request", 401: "session.required", 403: "error.forbidden", 404: "error.not_found",
                413: "error.too_large", 429: "error.rate_limited"}


def page_text(found: Problem, error: Exception) -> str:
    """The error page's message for the Problem of error."""
    told_by_code = isinstance(error, AppError) or found.status >= 500
    if found.status in (401, 403, 404) or not told_by_code:
        return t(STATUS_TEXTS.get(found.status, "error.bad_request"))
    return error_text(found)


def _rolled_back() -> None:
    # The page renders on a clean session; when the database itself is down the rollback fails too, and teardown
    # closes the session anyway.
    try:
        db_session().rollback()
    except SQLAlchemyError:
        pass


@console_bp.errorhandler(Exception)
def _error_page(error: Exception) -> Response:
    # Which status, code and headers an error means comes from web.problems, as for the API; the console only
    # renders its page for them.
    found = problem_of(error)
    if found.status == 429 and request.endpoint == "console.login":
        page = render_template("console/login.html", next="", error=t("login.locked"))
    else:
        _rolled_back()
        page = render_template("console/error.html", message=page_text(found, error), status=found.status)
    response = Response(page, status=found.status, mimetype="text/html")
    response.headers.update(found.headers)
    return response
