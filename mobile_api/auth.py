"""Login, token refresh (rotation) and logout, for persons and staff alike."""

from __future__ import annotations

from flask_jwt_extended import get_jwt
from marshmallow import fields, validate

from storage.enums import Role
from supervision import accounts
from supervision.errors import InvalidCredentials
from web.api import Blueprint
from web.auth import auth_required, client_ip, current_actor, issue_tokens
from web.db import commit, db_session, now
from web.limiter import guard_login
from web.schemas import StrictSchema, enum_field

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Login, refresh and logout")


class LoginSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))
    device_id = fields.String(validate=validate.Length(min=1, max=128), load_default=None)


class TokenPairSchema(StrictSchema):
    access_token = fields.String(metadata={"description": "Send as `Authorization: Bearer <access_token>`."})
    refresh_token = fields.String(metadata={"description": "Send as the bearer token of POST /api/v1/auth/refresh; "
                                                           "each use rotates it and a reused one ends the session."})
    token_type = enum_field(("Bearer",))
    expires_in = fields.Integer(metadata={"description": "Seconds the access token is valid."})
    role = enum_field(Role)


TOKENS_EXAMPLE = {"access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwZXJzb24...",
                  "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0eXBlIjoicmVmcmVzaC...",
                  "token_type": "Bearer", "expires_in": 900, "role": "person"}


@blp.post("/login")
@blp.arguments(LoginSchema, example={"username": "CG01-0001", "password": "correct horse battery",
                                    "device_id": "a3f1c2d4-phone"})
@blp.response(200, TokenPairSchema, example=TOKENS_EXAMPLE)
@blp.problems("invalid_credentials", "rate_limited")
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
@blp.response(200, TokenPairSchema, example=TOKENS_EXAMPLE)
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
