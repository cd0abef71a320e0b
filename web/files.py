"""Responses that carry sensitive bytes (photos, key frames)."""

from __future__ import annotations

from flask import Response


def private_file(data: bytes, content_type: str) -> Response:
    """Bytes that no cache may keep and no browser may re-interpret."""
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
