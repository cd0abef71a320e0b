"""One database session per request, closed on teardown; views commit at the request boundary."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from flask import Flask, current_app, g
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from storage.blobs import BlobStore, DerivedKeys
from storage.db import Database
from supervision.clock import Clock
from supervision.policies import Policies
from verification.engine import FaceEngine

log = logging.getLogger(__name__)


class AppServices(Protocol):
    """What the app takes from the composition root (server.composition.Services), built once at start-up."""

    @property
    def database(self) -> Database: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def policies(self) -> Policies: ...
    @property
    def engine(self) -> FaceEngine: ...


def _services() -> AppServices:
    return current_app.extensions["checkin.services"]


def database() -> Database:
    """The app's Database."""
    return current_app.extensions["checkin.db"]


def db_session() -> Session:
    """The request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = database().session()
    return g.db_session


def blobs() -> BlobStore:
    """The app's blob store; inside an idempotent request, one whose new keys derive from the request (a retry
    writes the same keys, so a killed attempt leaves no orphan)."""
    store: BlobStore = current_app.extensions["checkin.blobs"]
    stem = g.get("blob_key_stem")
    if stem is None:
        return store
    if "request_blobs" not in g:
        g.request_blobs = DerivedKeys(store, stem, still_owned=g.get("blob_key_owner"))
    return g.request_blobs


@dataclass
class DeferredCommit:
    """An idempotent request's commit, made by web.idempotency together with the stored answer."""

    requested: bool = False
    actions: list[Callable[[], None]] = field(default_factory=list)


def defer_commit() -> DeferredCommit:
    """From now on commit() only flushes and asks for the commit; the caller commits (web.idempotency)."""
    g.deferred_commit = DeferredCommit()
    return g.deferred_commit


def end_deferral() -> DeferredCommit | None:
    """Make commit() commit again; returns what was asked meanwhile."""
    return g.pop("deferred_commit", None)


def commit() -> None:
    """Commit the request's work; on failure roll back (running blob clean-ups) and re-raise.

    Inside an idempotent request this flushes (a failure surfaces here as it would at commit) and the commit is
    made together with the stored answer once the view has built it, so a worker that dies after the commit can
    never leave a recorded check-in whose key a retry would run again.
    """
    session = db_session()
    deferred: DeferredCommit | None = g.get("deferred_commit")
    try:
        if deferred is not None:
            session.flush()
            deferred.requested = True
        else:
            session.commit()
    except Exception:
        try:
            session.rollback()
        except SQLAlchemyError:  # the connection is gone: the commit's own error is the one to answer
            log.warning("rollback after a failed commit failed too", exc_info=True)
        raise


def after_commit(action: Callable[[], None]) -> None:
    """Run action once the request's work is committed (now, unless the commit is deferred)."""
    deferred: DeferredCommit | None = g.get("deferred_commit")
    if deferred is None:
        action()
    else:
        deferred.actions.append(action)


@contextmanager
def committed_on(*errors: type[BaseException]) -> Iterator[None]:
    """Commit the request's work even when one of errors ends the view (a refusal whose record must survive)."""
    try:
        yield
    except errors:
        commit()
        raise


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        # Anything not committed by the view is abandoned here, which also runs blob clean-ups.
        try:
            session.rollback()
        except SQLAlchemyError:
            # A database that went away must not turn the answer already chosen (503) into a teardown crash.
            log.warning("rollback on teardown failed", exc_info=True)
        finally:
            session.close()


def init_app(app: Flask, services: AppServices) -> None:
    """Attach the composition root's services to app."""
    app.extensions["checkin.services"] = services
    # The database and the blob store also stand under their own names, where a test puts a failing one.
    app.extensions["checkin.db"] = services.database
    app.extensions["checkin.blobs"] = services.blobs
    app.teardown_appcontext(_close_session)


def clock() -> Clock:
    """The app's clock (replaceable in tests)."""
    return _services().clock


def now() -> datetime:
    """The app clock's current UTC time."""
    return clock().now()


def policies() -> Policies:
    """The deployment's domain policies, built once from configuration when the app was created."""
    return _services().policies


def app_config(key: str) -> Any:
    """A resolved CHECKIN_* setting."""
    return current_app.config["CHECKIN"][key]


def face_engine() -> FaceEngine:
    """The process-wide face engine for this app's settings (models load on first use)."""
    return _services().engine
