"""problem+json (RFC 9457) responses: every error the API returns goes through here.

``problem_of`` is the one mapping from an exception to its status, stable code, detail and headers (a ``Problem``);
the API sends it as problem+json, and the console renders its HTML page for the same status and code.
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, json, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from storage.blobs import BlobStoreFull, BlobStoreUnavailable
from supervision.errors import AppError

log = logging.getLogger(__name__)

PROBLEM_TYPE = "urn:community-checkin:problem:{code}"

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
    507: "storage_full",
}

# Seconds a client should wait before retrying after an outage (a database restart, a full disk being cleared).
DATABASE_RETRY_AFTER = 5
STORAGE_RETRY_AFTER = 60
FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
UNWRITABLE_ERRNOS = frozenset({errno.EACCES, errno.EROFS, errno.EPERM})


@dataclass(frozen=True)
class Problem:
    """What an error means over HTTP, whoever renders it: status, stable code, detail, and the headers (Retry-After,
    Allow) and extra members (a domain error's field errors ...) that go with it."""

    status: int
    code: str
    detail: str
    title: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def problem(status: int, code: str, detail: str, *, title: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> Response:
    """Build an application/problem+json response."""
    body = {
        "type": PROBLEM_TYPE.format(code=code),
        "title": title or HTTP_TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


HTTP_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
    507: "Insufficient storage",
}


def _field_errors(messages: Any) -> dict[str, Any]:
    # webargs nests messages by location (json, form, files, query); clients want the fields.
    if isinstance(messages, dict):
        merged: dict[str, Any] = {}
        for location, fields in messages.items():
            if location in ("json", "form", "files", "query", "headers", "json_or_form") and isinstance(fields, dict):
                merged.update(fields)
            else:
                merged[location] = fields
        return merged
    return {"_schema": messages}


def problem_response(found: Problem) -> Response:
    """A Problem as an application/problem+json response."""
    return problem(found.status, found.code, found.detail, title=found.title, headers=found.headers, **found.extra)


def app_error_problem(error: AppError) -> Problem:
    """Domain errors carry their own code and status."""
    return Problem(error.status, error.code, error.detail, title=type(error).title, extra=dict(error.extra))


def http_problem(error: HTTPException) -> Problem:
    """Werkzeug/webargs/flask-smorest HTTP errors."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if messages is not None:
        errors = _field_errors(messages)
        if status == 400 or "Invalid JSON body." in json.dumps(errors):
            return Problem(400, "invalid_json", "The request body is not valid JSON.", extra={"errors": errors})
        return Problem(422, "validation_failed", "Some fields are invalid.", extra={"errors": errors})
    code = HTTP_CODES.get(status, "http_error")
    detail = error.description or HTTP_TITLES.get(status, "Error")
    headers = {}
    if status == 413:
        code = "image_too_large" if request.mimetype == "multipart/form-data" else "request_too_large"
        detail = "The upload is larger than the server accepts."
    elif status == 405 and error.get_response().headers.get("Allow"):
        headers["Allow"] = error.get_response().headers["Allow"]
    elif status == 429:
        detail = "Too many requests. Try again later."
        retry = error.get_response().headers.get("Retry-After") if hasattr(error, "get_response") else None
        if retry:
            headers["Retry-After"] = retry
    return Problem(status, code, detail, headers=headers)


def handle_app_error(error: AppError) -> Response:
    """A domain error as problem+json."""
    return problem_response(app_error_problem(error))


def handle_http_exception(error: HTTPException) -> Response:
    """An HTTP error as problem+json."""
    return problem_response(http_problem(error))


def _database_down(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is installed with the PostgreSQL extra
        return False
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


def outage_problem(error: BaseException) -> Problem | None:
    """The answer for an infrastructure outage (database down, blob store full or unwritable), else None."""
    if _database_down(error):
        log.warning("database unavailable on %s %s: %s", request.method, request.path, type(error).__name__,
                    exc_info=error)
        return Problem(503, "service_unavailable",
                       "The database is not reachable right now; it is safe to retry shortly.",
                       headers={"Retry-After": str(DATABASE_RETRY_AFTER)})
    full = isinstance(error, BlobStoreFull) or (isinstance(error, OSError) and error.errno in FULL_ERRNOS)
    if full:
        log.error("blob store full on %s %s", request.method, request.path, exc_info=error)
        return Problem(507, "storage_full", "The photo store is full; the upload was not kept. Retry later.",
                       headers={"Retry-After": str(STORAGE_RETRY_AFTER)})
    unavailable = isinstance(error, BlobStoreUnavailable) or (isinstance(error, OSError)
                                                              and error.errno in UNWRITABLE_ERRNOS)
    if unavailable:
        log.error("blob store unavailable on %s %s", request.method, request.path, exc_info=error)
        return Problem(503, "storage_unavailable", "The photo store cannot be used right now; retry later.",
                       headers={"Retry-After": str(STORAGE_RETRY_AFTER)})
    return None


def problem_of(error: BaseException) -> Problem:
    """The Problem of any exception: HTTP and domain errors their own; outages 503/507 with Retry-After; anything
    else is logged and answered 500 without internals."""
    if isinstance(error, HTTPException):
        return http_problem(error)
    if isinstance(error, AppError):
        return app_error_problem(error)
    outage = outage_problem(error)
    if outage is not None:
        return outage
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return Problem(500, "internal_error", "The server failed to process the request; it is safe to retry.")


def handle_unexpected(error: Exception) -> Response:
    """Anything else, as problem+json."""
    return problem_response(problem_of(error))


def register_problem_handlers(app: Flask) -> None:
    """The three handlers that cover every error."""
    app.register_error_handler(AppError, handle_app_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
