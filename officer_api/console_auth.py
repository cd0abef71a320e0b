"""Console login, logout and the language switch."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from officer_api.console_session import (
    LANG_KEY,
    STAFF_ROLES,
    end_login,
    notify,
    safe_next,
    start_login,
    t,
)
from officer_api.i18n import normalise_language
from supervision import accounts
from supervision.errors import InvalidCredentials, ValidationFailed
from web.auth import client_ip
from web.db import commit, db_session, now
from web.limiter import failed_login, limiter


def _login_limit() -> str:
    return current_app.config["CHECKIN"]["LOGIN_RATE_LIMIT"]


def _failure_limit() -> str:
    return current_app.config["CHECKIN"]["LOGIN_FAILURE_LIMIT"]


def login_username_key() -> str:
    """Rate-limit key for failed console logins: the username tried (as the API's login counts them)."""
    return f"login-user:{request.form.get('username', '')[:64].strip().lower()}"


def login_form() -> str:
    """The login page."""
    return render_template("console/login.html", next=request.args.get("next", ""))


@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_failure_limit, key_func=login_username_key, deduct_when=failed_login, methods=["POST"])
def login() -> Response | tuple[str, int]:
    """Check the credentials with the API's rules and open a login session; persons are refused."""
    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")[:256]
    next_url = request.form.get("next", "")
    session_ = db_session()
    try:
        # No device id: a person's code is refused like a wrong password, so nothing can be enumerated.
        result = accounts.authenticate(session=session_, username=username, password=password, device_id=None,
                                       ip=client_ip(), now=now())
    except (InvalidCredentials, ValidationFailed):
        result = None
    if result is None or result.actor.role not in STAFF_ROLES:
        session_.rollback()
        page = render_template("console/login.html", next=next_url, error=t("login.failed"), username=username)
        return page, 401
    commit()
    start_login(account_id=result.actor.id or 0, auth_session_id=result.auth_session.id)
    return redirect(safe_next(next_url, url_for("console.queue")), code=303)


def logout() -> Response:
    """End the login session (its row is revoked, as an API logout does)."""
    end_login(reason="logout")
    commit()
    notify("session.logged_out")
    return redirect(url_for("console.login_form"), code=303)


def switch_language(code: str) -> Response:
    """Remember the page language and go back where the officer was."""
    session[LANG_KEY] = normalise_language(code)
    return redirect(safe_next(request.args.get("next"), url_for("console.queue")), code=303)
