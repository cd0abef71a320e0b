"""The flask-smorest Api, whose error responses are problem+json rather than its own format."""

from __future__ import annotations

from typing import Any

from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import EXCLUDE, Schema, fields
from werkzeug.routing import IntegerConverter, Map, ValidationError

from web.jsonsafe import SafeParser
from web.problems import handle_http_exception
from web.schemas import MAX_ID


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: 1..2^31-1 by default, so an id no row can have is 404 before any query.

    ``<int(min=0):n>`` widens it for indexes. Registered as the app's ``int`` converter in create_app.
    """

    def __init__(self, map: Map, fixed_digits: int = 0, min: int = 1, max: int = MAX_ID,  # noqa: A002
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str) -> Any:
        # int() of a 5000-digit string raises ValueError, which the router would not turn into a 404.
        if len(value) > len(str(MAX_ID)):
            raise ValidationError()
        return super().to_python(value)


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


_DOC_PARTS: dict[type[Schema], type[Schema]] = {}


def _doc_part(schema: Schema | type[Schema]) -> Schema | type[Schema]:
    """The schema as documented inside a multipart allOf: the same name and fields, but open to other properties.

    Two parts that each say ``additionalProperties: false`` would forbid each other's fields, so no body could
    satisfy the allOf. Loading is unchanged: the form part still rejects unknown fields.
    """
    cls = schema if isinstance(schema, type) else type(schema)
    if cls not in _DOC_PARTS:
        meta = type("Meta", (), {"unknown": EXCLUDE})
        _DOC_PARTS[cls] = type(cls.__name__, (cls,), {"Meta": meta, "__module__": cls.__module__})
    return _DOC_PARTS[cls] if isinstance(schema, type) else _DOC_PARTS[cls]()


class Blueprint(SmorestBlueprint):
    """flask-smorest Blueprint whose multipart endpoints document their form fields and files together, and whose
    JSON bodies are parsed defensively (web.jsonsafe)."""

    ARGUMENTS_PARSER = SafeParser()

    def _prepare_arguments_doc(self, doc, doc_info, *, api, spec, **kwargs):  # type: ignore[no-untyped-def]
        operation = doc_info.get("arguments")
        if operation:
            params = [p for p in operation["parameters"] if isinstance(p, dict)]
            form = next((p for p in params if p.get("in") == "form"), None)
            files = next((p for p in params if p.get("in") == "files"), None)
            if form is not None and files is not None:
                # One multipart body carries both: document it as one schema (flask-smorest keeps only one).
                operation["parameters"].remove(form)
                files["schema"] = {"allOf": [_doc_part(form["schema"]), _doc_part(files["schema"])]}
        return super()._prepare_arguments_doc(doc, doc_info, api=api, spec=spec, **kwargs)
