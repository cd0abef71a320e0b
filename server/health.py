"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from web.db import database
from web.problems import problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """The process is alive."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    """The database answers; otherwise 503 so a load balancer stops sending traffic."""
    try:
        with database().engine.connect() as conn:  # type: ignore[union-attr]
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        return problem(503, "database_unavailable", f"The database is not reachable: {type(exc).__name__}.")
    return jsonify(status="ready", database="ok")
