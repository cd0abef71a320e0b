"""Idempotency-Key support for mutating phone requests: a retry gets the original answer, never a second record."""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, json, make_response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from storage.models import IdempotencyRecord
from supervision.errors import AppError, Conflict, ValidationFailed
from web.auth import current_actor
from web.db import database, now
from web.problems import handle_app_error, handle_http_exception

F = TypeVar("F", bound=Callable[..., Any])


def request_fingerprint() -> str:
    """A hash of what the request asks for: method, path, query, fields and uploaded bytes."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}?{request.query_string.decode()}\n".encode())
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name in sorted(request.form):
            for value in request.form.getlist(name):
                digest.update(f"form:{name}={value}\n".encode())
        for name in sorted(request.files):
            for upload in request.files.getlist(name):
                data = upload.stream.read()
                upload.stream.seek(0)
                digest.update(f"file:{name}:{hashlib.sha256(data).hexdigest()}\n".encode())
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    status = record.status_code or 200
    mimetype = "application/problem+json" if status >= 400 else "application/json"
    body = "" if record.response is None else json.dumps(record.response)
    response = Response(body, status=status, mimetype=mimetype)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _reserve(scope: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
    """Insert the key; None means this request owns it, else the existing record is returned."""
    session = database().session()
    try:
        session.add(IdempotencyRecord(scope=scope, key=key, request_hash=fingerprint, created_at=now()))
        session.commit()
        return None
    except IntegrityError:
        session.rollback()
        return session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.scope == scope,
                                                              IdempotencyRecord.key == key))
    finally:
        session.close()


def _wait_for(scope: str, key: str, seconds: float) -> IdempotencyRecord | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
        session = database().session()
        try:
            record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.scope == scope,
                                                                    IdempotencyRecord.key == key))
        finally:
            session.close()
        if record is None or record.completed_at is not None:
            return record
    return None


def _finish(scope: str, key: str, response: Response | None) -> None:
    session = database().session()
    try:
        record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.scope == scope,
                                                                IdempotencyRecord.key == key))
        if record is None:
            return
        if response is None or response.status_code >= 500:
            # The request failed on our side: free the key so the client's retry runs again.
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
        else:
            record.status_code = response.status_code
            record.response = response.get_json(silent=True) if response.data else None
            record.completed_at = now()
        session.commit()
    finally:
        session.close()


def idempotent(view: F) -> F:
    """Honour an Idempotency-Key header on a mutating endpoint (place under auth_required)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= 200:
            raise ValidationFailed({"Idempotency-Key": ["Use 1 to 200 characters."]})
        actor = current_actor()
        scope = f"{actor.role}:{actor.id}"
        fingerprint = request_fingerprint()
        existing = _reserve(scope, key, fingerprint)
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise Conflict("This Idempotency-Key was used with a different request.", code="idempotency_conflict")
            if existing.completed_at is None:
                existing = _wait_for(scope, key, current_app.config["CHECKIN"]["IDEMPOTENCY_WAIT_SECONDS"])
                if existing is None or existing.completed_at is None:
                    raise Conflict("A request with this Idempotency-Key is still being processed; retry shortly.",
                                   code="idempotency_in_progress")
            return _replay(existing)
        try:
            try:
                response = make_response(view(*args, **kwargs))
            except AppError as exc:
                response = handle_app_error(exc)
            except HTTPException as exc:
                response = handle_http_exception(exc)
        except BaseException:
            _finish(scope, key, None)
            raise
        _finish(scope, key, response)
        return response

    return wrapper  # type: ignore[return-value]
