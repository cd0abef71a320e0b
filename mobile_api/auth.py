"""Login, token refresh (rotation) and logout, for persons and staff alike."""

from __future__ import annotations

from flask_jwt_extended import get_jwt
from marshmallow import fields, validate

from supervision import accounts
from supervision.errors import InvalidCredentials
from web.api import Blueprint
from web.auth import auth_required, client_ip, current_actor, issue_tokens
from web.db import commit, db_session, now
from web.limiter import guard_login
from web.schemas import StrictSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Login, refresh and logout")


class LoginSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))
    device_id = fields.String(validate=validate.Length(min=1, max=128), load_default=None)


class TokenPairSchema(StrictSchema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    role = fields.String()


@blp.post("/login")
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
@blp.doc(security=[])
def login(body: dict) -> dict:
    """Log in; persons use their person code and must send device_id (429 after too many attempts)."""
    guard = guard_login(body["username"], client_ip())
    session = db_session()
    try:
        result = accounts.authenticate(session=session, username=body["username"], password=body["password"],
                                       device_id=body["device_id"], ip=client_ip(), now=now())
    except InvalidCredentials:
        raise  # the recorded attempt stays a failure
    except Exception:
        guard.not_a_failure()
        raise
    guard.succeeded()
    tokens = issue_tokens(result.auth_session)
    commit()
    return tokens


@blp.post("/refresh")
@auth_required(refresh=True)
@blp.response(200, TokenPairSchema)
def refresh() -> dict:
    """Exchange the refresh token for a new pair; the presented one stops working."""
    session = db_session()
    claims = get_jwt()
    try:
        auth = accounts.rotate_refresh(session=session, session_id=claims["sid"], presented_jti=claims["jti"],
                                       now=now())
    except Exception:
        # A detected reuse revokes the session: keep that even though the request fails.
        commit()
        raise
    tokens = issue_tokens(auth)
    commit()
    return tokens


@blp.post("/logout")
@auth_required()
@blp.response(204)
def logout() -> None:
    """End this login session: its access and refresh tokens are revoked."""
    accounts.revoke_session(session=db_session(), session_id=current_actor().session_id or "", now=now())
    commit()
