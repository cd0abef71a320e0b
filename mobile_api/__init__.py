"""Endpoints for the phone app (and the shared login endpoints)."""

from __future__ import annotations

from flask_smorest import Blueprint


def blueprints() -> list[Blueprint]:
    """Every blueprint of the phone API."""
    from mobile_api.auth import blp as auth_blp

    return [auth_blp]
