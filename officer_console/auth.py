"""Console login, logout and the language switch."""

from __future__ import annotations

from flask import redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from officer_console import forms
from officer_console.i18n import normalise_language
from officer_console.session import (
    LANG_KEY,
    end_login,
    notify,
    safe_next,
    start_login,
    t,
)
from storage.enums import STAFF_ROLES
from supervision import accounts
from supervision.errors import InvalidCredentials, ValidationFailed
from web.auth import client_ip
from web.db import commit, db_session, now
from web.limiter import guard_login


class LoginForm(forms.FormSchema):
    """The login page's form: a staff account's username and password, and where to go afterwards."""

    username = forms.Text(64)
    password = forms.Secret(256)
    next = forms.Word()


def login_form() -> str:
    """The login page."""
    return render_template("console/login.html", next=request.args.get("next", ""))


def login() -> Response | tuple[str, int]:
    """Check the credentials with the API's rules and open a login session; persons are refused."""
    posted = forms.read(LoginForm())
    username, password, next_url = posted["username"], posted["password"], posted["next"]
    # The same counters as the API's login: failures of a username add up whichever login they were made in.
    guard = guard_login(username, client_ip())
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
        return page, 401  # the recorded attempt stays a failure
    guard.succeeded()
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
