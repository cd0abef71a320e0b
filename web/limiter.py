"""Rate limiting (flask-limiter): memory by default, Redis when CHECKIN_RATELIMIT_STORAGE_URL says so."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, headers_enabled=True, strategy="moving-window")


def login_username_key() -> str:
    """Rate-limit key for failed logins: the username tried, whatever the address."""
    body = request.get_json(silent=True)
    username = body.get("username") if isinstance(body, dict) else None
    return f"login-user:{str(username or '')[:64].lower()}"


def failed_login(response) -> bool:  # type: ignore[no-untyped-def]
    """Only failed logins count towards the per-username lockout."""
    return response.status_code == 401
