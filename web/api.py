"""The flask-smorest Api, whose error responses are problem+json rather than its own format."""

from __future__ import annotations

from typing import Any

from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import EXCLUDE, INCLUDE, Schema, fields
from werkzeug.routing import IntegerConverter, Map, ValidationError

from web.apidoc import IDEMPOTENCY_KEY, IDEMPOTENCY_PARAMETER, PROBLEM_CODES, ProblemDocs, problems
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
    """An RFC 9457 problem document; some codes add fields (quality, checkin_id, retry_after, leave_status ...)."""

    class Meta:
        unknown = INCLUDE  # documented as open: clients must ignore fields they do not know

    type = fields.String(required=True, metadata={"description": "urn:community-checkin:problem:<code>"})
    title = fields.String(required=True)
    status = fields.Integer(required=True, metadata={"description": "The HTTP status, repeated."})
    detail = fields.String(required=True, metadata={"description": "A sentence for people; do not parse it."})
    code = fields.String(required=True, metadata={"description": "The stable snake_case code to switch on.",
                                                  "x-codes": sorted(PROBLEM_CODES)})
    errors = fields.Dict(keys=fields.String(), metadata={
        "description": "With validation_failed: the messages per field (per index for lists)."})


class ProblemApi(Api):
    """Api whose HTTP error handler speaks problem+json, and whose document lists each operation's problems."""

    ERROR_SCHEMA = ProblemSchema

    def _init_spec(self, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["extra_plugins"] = [*kwargs.get("extra_plugins", ()), ProblemDocs()]
        super()._init_spec(**kwargs)
        self.spec.components.parameter(IDEMPOTENCY_PARAMETER, "header", dict(IDEMPOTENCY_KEY))

    def handle_http_exception(self, error):  # type: ignore[no-untyped-def, override]
        return handle_http_exception(error)


_DOC_PARTS: dict[tuple[type[Schema], str], type[Schema]] = {}


def _doc_part(schema: Schema | type[Schema], suffix: str = "") -> Schema | type[Schema]:
    """The schema as documented inside a multipart allOf: the same name and fields, but open to other properties.

    Two parts that each say ``additionalProperties: false`` would forbid each other's fields, so no body could
    satisfy the allOf. Loading is unchanged: the form part still rejects unknown fields.
    """
    cls = schema if isinstance(schema, type) else type(schema)
    if (cls, suffix) not in _DOC_PARTS:
        meta = type("Meta", (), {"unknown": EXCLUDE})
        # A suffix names the part apart from the schema itself when both appear in the document.
        name = cls.__name__.removesuffix("Schema") + suffix + ("Schema" if suffix else "")
        _DOC_PARTS[cls, suffix] = type(name if suffix else cls.__name__, (cls,),
                                       {"Meta": meta, "__module__": cls.__module__})
    part = _DOC_PARTS[cls, suffix]
    return part if isinstance(schema, type) else part()


class Blueprint(SmorestBlueprint):
    """flask-smorest Blueprint whose multipart endpoints document their form fields and files together, and whose
    JSON bodies are parsed defensively (web.jsonsafe).

    ``problems(*codes)`` documents the problem+json codes an endpoint can answer with (web.apidoc).
    """

    ARGUMENTS_PARSER = SafeParser()
    problems = staticmethod(problems)

    def _prepare_arguments_doc(self, doc, doc_info, *, api, spec, **kwargs):  # type: ignore[no-untyped-def]
        operation = doc_info.get("arguments")
        if operation:
            params = [p for p in operation["parameters"] if isinstance(p, dict)]
            form = next((p for p in params if p.get("in") == "form"), None)
            files = next((p for p in params if p.get("in") == "files"), None)
            either = next((p for p in params if p.get("in") == "json_or_form"), None)
            if form is not None and files is not None:
                # One multipart body carries both: document it as one schema (flask-smorest keeps only one).
                operation["parameters"].remove(form)
                files["schema"] = {"allOf": [_doc_part(form["schema"]), _doc_part(files["schema"])]}
            elif either is not None and files is not None:
                # A JSON body, or the same fields as a multipart form with files beside them.
                operation["parameters"].remove(either)
                operation["parameters"].remove(files)
                operation["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": either["schema"]},
                    "multipart/form-data": {"schema": {"allOf": [_doc_part(either["schema"], "FormPart"),
                                                                 _doc_part(files["schema"])]}},
                }}
        return super()._prepare_arguments_doc(doc, doc_info, api=api, spec=spec, **kwargs)
