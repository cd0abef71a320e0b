"""JSON request bodies parsed defensively: bounded nesting and number length, no lone surrogates, no NaN.

Both readers of a body go through ``loads``: webargs (every ``@blp.arguments`` JSON body, via ``SafeParser``) and
Flask's ``request.get_json`` (via the app's JSON provider). A body it refuses is 400 ``invalid_json``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import flask
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from supervision.errors import AppError

# Deeper than any request this API defines; the C scanner would otherwise recurse until RecursionError.
MAX_DEPTH = 32
# Longest number literal: far beyond any id, coordinate or minute count, far below int()'s 4300-digit limit.
MAX_NUMBER_LENGTH = 100
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJson(json.JSONDecodeError):
    """The body is JSON this API refuses to read."""

    def __init__(self, reason: str, doc: str = "<body>") -> None:
        super().__init__(reason, doc or "<body>", 0)


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_LENGTH:
        raise InvalidJson("Number literal too long.")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_LENGTH:
        raise InvalidJson("Number literal too long.")
    value = float(text)
    if math.isinf(value):
        raise InvalidJson("Number out of range.")
    return value


def _refuse_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not JSON.")


def _check_tree(value: Any) -> None:
    # Iterative, so checking a deep document cannot recurse either.
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                raise InvalidJson("Strings must be valid Unicode (no unpaired surrogates).")
        elif isinstance(node, dict | list):
            if depth >= MAX_DEPTH:
                raise InvalidJson(f"Nested deeper than {MAX_DEPTH} levels.")
            items = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            stack.extend((item, depth + 1) for item in items)


def loads(data: str | bytes | bytearray) -> Any:
    """Parse a JSON document, raising a json.JSONDecodeError (a ValueError) for anything this API refuses."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidJson("The body is not UTF-8.") from exc
    else:
        text = data
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise InvalidJson("Nested too deeply.") from exc
    _check_tree(value)
    return value


class SafeParser(FlaskParser):
    """webargs parser whose JSON bodies are read by ``loads``."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return core.missing
        data = req.get_data(cache=True)
        if not data:
            # webargs treats an empty body as "no JSON" (the schema then reports required fields).
            raise json.JSONDecodeError("Empty body.", "", 0)
        return loads(data)


class SafeJSONProvider(DefaultJSONProvider):
    """Flask JSON provider whose ``loads`` is the defensive one (dumping is unchanged)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)


class InvalidJsonBody(AppError):
    code = "invalid_json"
    status = 400
    title = "Invalid JSON"


class SafeRequest(flask.Request):
    """Request whose get_json failure is problem+json ``invalid_json``."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            return super().on_json_loading_failed(e)
        raise InvalidJsonBody("The request body is not valid JSON.")


def init_app(app: Flask) -> None:
    """Make every JSON body of app go through ``loads``."""
    sort_keys = getattr(app.json, "sort_keys", False)
    app.json = SafeJSONProvider(app)
    app.json.sort_keys = sort_keys  # type: ignore[attr-defined]
    app.request_class = SafeRequest
