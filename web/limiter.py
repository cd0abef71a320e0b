"""Rate limiting. Login limits are counted in the database (shared by every worker and by the API and console
logins); flask-limiter (memory by default, Redis when CHECKIN_RATELIMIT_STORAGE_URL says so) stays for other uses."""

from __future__ import annotations

from datetime import timedelta
from math import ceil

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.exceptions import TooManyRequests

from supervision import accounts
from supervision.accounts import LoginLimit
from web.db import commit, db_session, now

limiter = Limiter(key_func=get_remote_address, headers_enabled=True, strategy="moving-window")


def login_limits(setting: str) -> list[LoginLimit]:
    """A CHECKIN_LOGIN_*_LIMIT value ("5 per 5 minutes", "20/minute; 100/hour") as limits."""
    return [LoginLimit(item.amount, timedelta(seconds=item.get_expiry()))
            for item in parse_many(str(current_app.config["CHECKIN"][setting]))]


class LoginGuard:
    """One login attempt under the limits: refuse it now, or record how it ended."""

    def __init__(self, attempt_id: int) -> None:
        self.attempt_id = attempt_id

    def succeeded(self) -> None:
        """Right password: earlier failures of this username are forgiven (the address count stays)."""
        accounts.clear_login_failure(session=db_session(), attempt_id=self.attempt_id, all_before=True)

    def not_a_failure(self) -> None:
        """The attempt ended for another reason than a wrong password (commits on its own)."""
        session = db_session()
        session.rollback()
        accounts.clear_login_failure(session=session, attempt_id=self.attempt_id)
        commit()


def guard_login(username: str, address: str | None) -> LoginGuard:
    """Record a login attempt, or refuse it with 429 (Retry-After) when the address or the username is over its limit.

    The attempt is committed at once (before the password is checked), so attempts in every worker and in both
    logins see each other; it stays a failure unless the caller reports otherwise. The request's session must hold
    no other work yet.
    """
    session = db_session()
    attempt_id, refusal = accounts.admit_login_attempt(
        session=session, username=username, address=address, now=now(),
        username_limits=login_limits("LOGIN_FAILURE_LIMIT"), address_limits=login_limits("LOGIN_RATE_LIMIT"))
    commit()
    if refusal is not None or attempt_id is None:
        wait = refusal.retry_after.total_seconds() if refusal is not None else 1
        raise TooManyRequests("Too many login attempts. Try again later.", retry_after=max(1, ceil(wait)))
    return LoginGuard(attempt_id)
