"""The flask-smorest Api, whose error responses are problem+json rather than its own format."""

from __future__ import annotations

from flask_smorest import Api
from marshmallow import Schema, fields

from web.problems import handle_http_exception


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    code = fields.String()
    errors = fields.Dict()


class ProblemApi(Api):
    """Api whose HTTP error handler speaks problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error):  # type: ignore[no-untyped-def, override]
        return handle_http_exception(error)

