"""Logging for the service and the CLI: one line a record, as text or JSON, each with the request id."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from web.request_id import current_request_id

# Attributes every LogRecord has; anything else was passed with extra= and belongs in the JSON object.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
_HANDLER_NAME = "checkin"


class RequestIdFilter(logging.Filter):
    """Adds record.request_id ("-" outside a request), for the text format and the JSON one alike."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, request_id, the extra fields, the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id and request_id != "-":
            body["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False, default=str)


def make_formatter(fmt: str) -> logging.Formatter:
    """The formatter for "json" or "text"."""
    if fmt == "json":
        return JsonFormatter()
    formatter = logging.Formatter(TEXT_FORMAT)
    formatter.converter = time.gmtime
    return formatter


def configure_logging(fmt: str, level: str = "INFO", stream: Any = None) -> None:
    """Send the root logger's records to stderr in fmt; idempotent, and it leaves foreign handlers alone.

    When something else already handles the root logger (pytest's capture, an embedding host), only the request id
    filter is added to its handlers, so their records still carry request_id.
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == _HANDLER_NAME]
    if not ours and root.handlers:
        for handler in root.handlers:
            if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
                handler.addFilter(RequestIdFilter())
        return
    handler = ours[0] if ours else logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(make_formatter(fmt))
    if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
        handler.addFilter(RequestIdFilter())
    if not ours:
        root.addHandler(handler)
    root.setLevel(level)


def gunicorn_logconfig(fmt: str, level: str = "INFO") -> dict[str, Any]:
    """gunicorn's logconfig_dict: its own messages in the same format as the app's."""
    formatter: Mapping[str, Any] = ({"()": "server.logs.JsonFormatter"} if fmt == "json"
                                    else {"format": TEXT_FORMAT})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "server.logs.RequestIdFilter"}},
        "formatters": {"checkin": dict(formatter)},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "checkin", "filters": ["request_id"],
                                "stream": "ext://sys.stderr"}},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            # The app writes one access line per request itself, with the request id (server._init_request_log).
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }
