"""Rate limiting. Login limits are counted in the database (shared by every worker and by the API and console
logins); flask-limiter (memory by default, Redis when CHECKIN_RATELIMIT_STORAGE_URL says so) stays for other uses."""

from __future__ import annotations

from math import ceil

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import TooManyRequests

from supervision import accounts
from web.db import commit, db_session, now, policies

limiter = Limiter(key_func=get_remote_address, headers_enabled=True, strategy="moving-window")


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
    limits = policies().login
    attempt_id, refusal = accounts.admit_login_attempt(
        session=session, username=username, address=address, now=now(),
        username_limits=list(limits.username), address_limits=list(limits.address))
    commit()
    if refusal is not None or attempt_id is None:
        wait = refusal.retry_after.total_seconds() if refusal is not None else 1
        raise TooManyRequests("Too many login attempts. Try again later.", retry_after=max(1, ceil(wait)))
    return LoginGuard(attempt_id)
