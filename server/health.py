"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from storage import migrate
from storage.blobs import BlobStoreFull, BlobStoreUnavailable
from web.db import blobs, database
from web.jobs import jobs
from web.problems import problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """The process is alive."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    """The database answers with the schema this code needs and the blob store takes a small write; otherwise 503,
    so a load balancer stops sending traffic."""
    try:
        with database().engine.connect() as conn:  # type: ignore[union-attr]
            conn.execute(text("SELECT 1"))
            current, revisions, heads = migrate.schema_state(conn)
    except Exception as exc:  # noqa: BLE001
        return problem(503, "database_unavailable", f"The database is not reachable: {type(exc).__name__}.")
    if not current:
        found = ", ".join(sorted(revisions)) or "no schema"
        return problem(503, "schema_not_current",
                       f"The database schema is at {found}, this code needs {', '.join(sorted(heads))}: "
                       "run `checkin init-db` (or `alembic upgrade head`).",
                       schema_revision=sorted(revisions), schema_head=sorted(heads))
    probe = getattr(blobs(), "probe", None)
    if probe is not None:
        try:
            probe()
        except BlobStoreFull:
            return problem(503, "storage_full", "The blob store is full.")
        except (BlobStoreUnavailable, OSError) as exc:
            return problem(503, "storage_unavailable", f"The blob store cannot take a write: {type(exc).__name__}.")
    if not jobs.ping(current_app):
        return problem(503, "queue_unavailable", "The job queue (CHECKIN_QUEUE_URL) is not reachable.")
    return jsonify(status="ready", database="ok", schema=",".join(sorted(heads)), blobs="ok", queue="ok")
