"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

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
    """The database answers and the blob store takes a small write; otherwise 503, so a load balancer stops sending
    traffic."""
    try:
        with database().engine.connect() as conn:  # type: ignore[union-attr]
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        return problem(503, "database_unavailable", f"The database is not reachable: {type(exc).__name__}.")
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
    return jsonify(status="ready", database="ok", blobs="ok", queue="ok")
