"""Idempotency-Key support for mutating phone requests: a retry gets the original answer, never a second record.

A reservation is a lease, derived from created_at: it lasts as long as the longest request can run (the worker
timeout), so a worker that died or lost the database mid-request cannot leave a key "in progress" for ever; a retry
after the lease takes the reservation over with a conditional UPDATE, so only one retry wins. A retry never holds a
thread for long: it polls briefly, then answers 409 `idempotency_in_progress` with Retry-After. Finished records are
replayed for IDEMPOTENCY_RETENTION_HOURS and then pruned by the sweep.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, json, make_response, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from storage.blobs import key_stem
from storage.models import IdempotencyRecord
from supervision.errors import AppError, Conflict, ValidationFailed
from web.apidoc import mark
from web.auth import current_actor
from web.db import commit, database, db_session, defer_commit, end_deferral, now
from web.problems import handle_app_error, handle_http_exception
from web.uploads import payload

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

POLL_INTERVAL_SECONDS = 0.1
# The first request usually finishes within a second or two; a longer hint would only delay the client.
MAX_RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class IdempotencySettings:
    """How long a reservation is leased, how long a retry waits for it, how long answers are replayed."""

    lease: timedelta = timedelta(seconds=120)
    wait_seconds: float = 2.0
    retention: timedelta = timedelta(hours=72)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> IdempotencySettings:
        """Read IDEMPOTENCY_LEASE_SECONDS, _WAIT_SECONDS and _RETENTION_HOURS (strings allowed)."""
        lease = float(config.get("IDEMPOTENCY_LEASE_SECONDS", 120))
        wait = float(config.get("IDEMPOTENCY_WAIT_SECONDS", 2))
        retention = float(config.get("IDEMPOTENCY_RETENTION_HOURS", 72))
        if lease <= 0:
            raise ValueError("IDEMPOTENCY_LEASE_SECONDS must be positive")
        if not 0 <= wait <= 30:
            raise ValueError("IDEMPOTENCY_WAIT_SECONDS must be between 0 and 30 (a retry holds a thread that long)")
        if retention * 3600 < lease:
            raise ValueError("IDEMPOTENCY_RETENTION_HOURS must be at least the lease")
        return cls(lease=timedelta(seconds=lease), wait_seconds=wait, retention=timedelta(hours=retention))


@dataclass(frozen=True)
class Reservation:
    """This request owns the key; token is the created_at it wrote, which later writes are conditional on."""

    record_id: int
    token: datetime


class InProgress(Conflict):
    code = "idempotency_in_progress"

    def __init__(self, retry_after: int) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed; retry shortly.",
                         extra={"retry_after": retry_after})
        self.retry_after = retry_after


def request_fingerprint() -> str:
    """A hash of what the request asks for: method, path, query, fields and uploaded bytes."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}?{request.query_string.decode()}\n".encode())
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        # A part whose name the multipart parser could not read has the name None: sort by text, never fail.
        for name in sorted(request.form, key=str):
            for value in request.form.getlist(name):
                digest.update(f"form:{name}={value}\n".encode())
        for name in sorted(request.files, key=str):
            for upload in request.files.getlist(name):
                digest.update(f"file:{name}:{payload(upload).sha256}\n".encode())
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


def _find(scope: str, key: str) -> IdempotencyRecord | None:
    session = database().session()
    try:
        return session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.scope == scope,
                                                              IdempotencyRecord.key == key))
    finally:
        session.close()


def _reserve(scope: str, key: str, fingerprint: str, at: datetime) -> Reservation | IdempotencyRecord | None:
    """Insert the key: a Reservation when this request owns it, else the existing record (None: gone meanwhile)."""
    session = database().session()
    try:
        record = IdempotencyRecord(scope=scope, key=key, request_hash=fingerprint, created_at=at)
        session.add(record)
        session.commit()
        return Reservation(record.id, at)
    except IntegrityError:
        session.rollback()
    finally:
        session.close()
    return _find(scope, key)


def take_over(record: IdempotencyRecord, *, fingerprint: str, at: datetime,
              settings: IdempotencySettings) -> Reservation | None:
    """Claim an expired reservation or replay record for this request; a conditional UPDATE, so one caller wins."""
    if record.completed_at is None:
        expired = (IdempotencyRecord.completed_at.is_(None), IdempotencyRecord.created_at <= at - settings.lease)
    else:
        expired = (IdempotencyRecord.completed_at.is_not(None),
                   IdempotencyRecord.completed_at <= at - settings.retention)
    session = database().session()
    try:
        result = session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record.id, *expired)
            .values(created_at=at, request_hash=fingerprint, completed_at=None, status_code=None, response=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        won = result.rowcount == 1  # type: ignore[attr-defined]
    finally:
        session.close()
    return Reservation(record.id, at) if won else None


def _expired(record: IdempotencyRecord, at: datetime, settings: IdempotencySettings) -> bool:
    if record.completed_at is None:
        return record.created_at <= at - settings.lease
    return record.completed_at <= at - settings.retention


def _retry_after(record: IdempotencyRecord, at: datetime, settings: IdempotencySettings) -> int:
    lease_left = (record.created_at + settings.lease - at).total_seconds()
    return max(1, math.ceil(min(lease_left, MAX_RETRY_AFTER_SECONDS)))


def acquire(scope: str, key: str, fingerprint: str, settings: IdempotencySettings) -> Reservation | IdempotencyRecord:
    """Own the key (Reservation) or get the finished record to replay; raises Conflict or InProgress."""
    deadline = time.monotonic() + settings.wait_seconds
    while True:
        at = now()
        outcome = _reserve(scope, key, fingerprint, at)
        if isinstance(outcome, Reservation):
            return outcome
        if outcome is not None:
            if _expired(outcome, at, settings):
                reservation = take_over(outcome, fingerprint=fingerprint, at=at, settings=settings)
                if reservation is not None:
                    return reservation
                continue  # another retry took it first: look again
            if outcome.request_hash != fingerprint:
                raise Conflict("This Idempotency-Key was used with a different request.", code="idempotency_conflict")
            if outcome.completed_at is not None:
                return outcome
            if time.monotonic() >= deadline:
                raise InProgress(_retry_after(outcome, at, settings))
        time.sleep(max(0.0, min(POLL_INTERVAL_SECONDS, deadline - time.monotonic())))


def _owned(reservation: Reservation) -> tuple[Any, ...]:
    # Conditional on the lease this request holds: a retry that took it over must not be overwritten.
    return (IdempotencyRecord.id == reservation.record_id, IdempotencyRecord.created_at == reservation.token,
            IdempotencyRecord.completed_at.is_(None))


def _answer(response: Response) -> dict[str, Any]:
    body = response.get_json(silent=True) if response.data else None
    return {"status_code": response.status_code, "response": body, "completed_at": now()}


def _finish(scope: str, key: str, reservation: Reservation, response: Response | None) -> None:
    owned = _owned(reservation)
    session = database().session()
    try:
        if response is None or response.status_code >= 500:
            # The request failed on our side: free the key so the client's retry runs again.
            session.execute(delete(IdempotencyRecord).where(*owned).execution_options(synchronize_session=False))
        else:
            session.execute(update(IdempotencyRecord).where(*owned).values(**_answer(response))
                            .execution_options(synchronize_session=False))
        session.commit()
    except SQLAlchemyError:
        # The database is gone: the reservation stays until its lease expires, then a retry takes it over.
        session.rollback()
        log.warning("could not finish idempotency record %s/%s; its lease will expire", scope, key, exc_info=True)
    finally:
        session.close()


def _in_progress(exc: InProgress) -> Response:
    response = handle_app_error(exc)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _commit_with_answer(scope: str, key: str, reservation: Reservation, response: Response) -> None:
    # The view's work and the stored answer commit in one transaction: after it, a retry replays; before it (a
    # failed commit, a worker killed), nothing of the view's exists and the freed or expiring key runs again.
    session = db_session()
    try:
        stored = session.execute(
            update(IdempotencyRecord).where(*_owned(reservation)).values(**_answer(response))
            .execution_options(synchronize_session=False))
        if stored.rowcount != 1:
            # The lease ran out and a retry took the key over: that retry's work is the one to keep.
            session.rollback()
            raise InProgress(1)
        commit()
    except InProgress:
        raise
    except Exception:
        _finish(scope, key, reservation, None)
        raise


def _still_owned(reservation: Reservation) -> bool:
    """False once a retry has taken the reservation over (its row carries another token); True while it is this
    request's, once it is freed, and when the database cannot tell (a takeover needs it to be up)."""
    session = database().session()
    try:
        token = session.scalar(select(IdempotencyRecord.created_at)
                               .where(IdempotencyRecord.id == reservation.record_id))
    except SQLAlchemyError:
        return True
    finally:
        session.close()
    return token is None or token == reservation.token


def init_app(app: Flask) -> None:
    """Keep the app's settings, read once from configuration (load_config has checked them)."""
    app.extensions["checkin.idempotency"] = IdempotencySettings.from_config(app.config["CHECKIN"])


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
        settings: IdempotencySettings = current_app.extensions["checkin.idempotency"]
        fingerprint = request_fingerprint()
        try:
            outcome = acquire(scope, key, fingerprint, settings)
        except InProgress as exc:
            return _in_progress(exc)
        if isinstance(outcome, IdempotencyRecord):
            return _replay(outcome)
        # Blobs this request stores get keys derived from the reservation: a retry that takes a dead attempt's
        # lease over writes the same keys, so what the dead attempt stored is replaced, not orphaned.
        # The record's id keeps a key reused after its record expired from landing on the old request's blobs;
        # supervision.fsck derives the same stem from the stored record (id, scope, key, request hash).
        g.blob_key_stem = key_stem(str(outcome.record_id), scope, key, fingerprint)
        g.blob_key_owner = functools.partial(_still_owned, outcome)
        defer_commit()
        try:
            try:
                response = make_response(view(*args, **kwargs))
            except AppError as exc:
                response = handle_app_error(exc)
            except HTTPException as exc:
                response = handle_http_exception(exc)
        except BaseException:
            end_deferral()
            _finish(scope, key, outcome, None)
            raise
        deferred = end_deferral()
        if deferred is None or not deferred.requested or response.status_code >= 500:
            # Nothing of the view's is committed (teardown rolls back what it left): store or free the key alone.
            _finish(scope, key, outcome, response)
            return response
        try:
            _commit_with_answer(scope, key, outcome, response)
        except InProgress as exc:
            return _in_progress(exc)
        for action in deferred.actions:
            action()
        return response

    return mark(wrapper, idempotent=True)  # type: ignore[return-value]
