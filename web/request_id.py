"""X-Request-ID: taken from the client or proxy when it is sane, else made; echoed on every response and logged."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
# A proxy's id is kept only when it cannot forge log lines or headers: short, no spaces or control characters.
_SANE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def current_request_id() -> str | None:
    """The id of the request being handled on this thread, or None outside a request."""
    if not has_request_context():
        return None
    return g.get("request_id")


def _assign() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if _SANE.match(given) else uuid.uuid4().hex


def _echo(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[HEADER] = request_id
    return response


def init_app(app: Flask) -> None:
    """Give every request an id before anything else runs, and return it in the response headers."""
    app.before_request_funcs.setdefault(None, []).insert(0, _assign)
    app.after_request(_echo)
