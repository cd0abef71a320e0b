"""Endpoints for officers and county administrators."""

from __future__ import annotations

from flask_smorest import Blueprint


def blueprints() -> list[Blueprint]:
    """Every blueprint of the officer API."""
    return []
