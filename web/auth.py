"""JWT tokens, the current actor and role guards used by every endpoint."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    verify_jwt_in_request,
)

from storage.models import AuthSession
from supervision import accounts
from supervision.actors import Actor
from supervision.errors import AppError, Forbidden, TokenRevoked
from web.apidoc import mark
from web.db import db_session
from web.problems import problem

jwt = JWTManager()

F = TypeVar("F", bound=Callable[..., Any])


def client_ip() -> str | None:
    """The caller's address (ProxyFix has already applied trusted forwarding headers)."""
    return request.remote_addr


def issue_tokens(auth: AuthSession) -> dict[str, Any]:
    """A fresh access + refresh token pair for a login session."""
    identity = f"{auth.role}:{auth.account_id or auth.person_id}"
    claims = {"sid": auth.id, "role": auth.role}
    access = create_access_token(identity=identity, additional_claims=claims)
    # The refresh token carries the session's current jti, so an already-rotated one can be recognised.
    refresh = create_refresh_token(identity=identity, additional_claims={**claims, "jti": auth.refresh_jti})
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": int(expires.total_seconds()),
        "role": auth.role,
    }


def current_actor() -> Actor:
    """The actor of this request (set when the token was checked)."""
    actor = g.get("actor")
    if actor is None:
        raise TokenRevoked("No valid session.")
    return actor


def auth_required(*roles: str, refresh: bool = False) -> Callable[[F], F]:
    """Require a valid token of one of roles (any role when none are given)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            verify_jwt_in_request(refresh=refresh)
            actor = current_actor()
            if roles and actor.role not in roles:
                raise Forbidden("This endpoint is not for your role.")
            return view(*args, **kwargs)

        return mark(wrapper, roles=list(roles))  # type: ignore[return-value]

    return decorator


def _check_session(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
    # Called for every token: a revoked session or a disabled account makes the token revoked.
    try:
        g.actor = accounts.load_session_actor(session=db_session(), session_id=payload.get("sid", ""),
                                              ip=client_ip())
    except AppError:
        return True
    return False


def _jwt_problem(status: int, code: str, detail: str):  # type: ignore[no-untyped-def]
    return problem(status, code, detail, headers={"WWW-Authenticate": "Bearer"})


def init_app(app: Flask) -> None:
    """Configure flask-jwt-extended from the app config and replace its error bodies with problem+json."""
    app.config["JWT_SECRET_KEY"] = app.config["CHECKIN"]["JWT_SECRET_KEY"]
    app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(minutes=app.config["CHECKIN"]["ACCESS_TOKEN_MINUTES"])
    app.config["JWT_REFRESH_TOKEN_EXPIRES"] = timedelta(days=app.config["CHECKIN"]["REFRESH_TOKEN_DAYS"])
    app.config["JWT_TOKEN_LOCATION"] = ["headers"]
    app.config["JWT_ALGORITHM"] = "HS256"
    jwt.init_app(app)
    jwt.token_in_blocklist_loader(_check_session)
    jwt.unauthorized_loader(lambda reason: _jwt_problem(401, "unauthorized", "A bearer token is required."))
    jwt.invalid_token_loader(lambda reason: _jwt_problem(401, "invalid_token", "The token is invalid."))
    jwt.expired_token_loader(lambda _h, _p: _jwt_problem(401, "token_expired", "The token has expired."))
    jwt.revoked_token_loader(lambda _h, _p: _jwt_problem(401, "token_revoked", "This session has ended."))
    jwt.needs_fresh_token_loader(lambda _h, _p: _jwt_problem(401, "fresh_token_required", "Log in again."))
    jwt.user_lookup_error_loader(lambda _h, _p: _jwt_problem(401, "token_revoked", "This session has ended."))
    jwt.token_verification_failed_loader(lambda _h, _p: _jwt_problem(401, "invalid_token", "The token is invalid."))
