"""The flask-smorest Api, whose error responses are problem+json rather than its own format."""

from __future__ import annotations

from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
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



class Blueprint(SmorestBlueprint):
    """flask-smorest Blueprint whose multipart endpoints document their form fields and files together."""

    def _prepare_arguments_doc(self, doc, doc_info, *, api, spec, **kwargs):  # type: ignore[no-untyped-def]
        operation = doc_info.get("arguments")
        if operation:
            params = [p for p in operation["parameters"] if isinstance(p, dict)]
            form = next((p for p in params if p.get("in") == "form"), None)
            files = next((p for p in params if p.get("in") == "files"), None)
            if form is not None and files is not None:
                # One multipart body carries both: document it as one schema (flask-smorest keeps only one).
                operation["parameters"].remove(form)
                files["schema"] = {"allOf": [form["schema"], files["schema"]]}
        return super()._prepare_arguments_doc(doc, doc_info, api=api, spec=spec, **kwargs)
