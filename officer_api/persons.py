"""Officer endpoints for supervised persons and their reference photos."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from storage.enums import STAFF_ROLES, EmploymentStatus, Gender, PersonStatus, SentenceType, SupervisionLevel
from supervision import faces, persons
from supervision.evidence import EvidenceError
from supervision.locks import lock_person
from supervision.scope import get_person
from web.api import Blueprint
from web.apidoc import EVIDENCE_PROBLEMS, IMAGE_PROBLEMS
from web.auth import auth_required, current_actor
from web.db import app_config, blobs, commit, committed_on, db_session, face_engine, now
from web.files import private_file
from web.schemas import (
    PageArgsSchema,
    PlausibleDate,
    StrictSchema,
    decode_cursor,
    enum_field,
    page,
    page_schema,
)
from web.uploads import payload

blp = Blueprint("officer_persons", __name__, url_prefix="/api/v1/officer/persons",
                description="Supervised persons and reference photos")


def _choice(enum: Any) -> validate.OneOf:
    return validate.OneOf([member.value for member in enum])


class HomeSchema(StrictSchema):
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    radius_m = fields.Float(required=True, validate=validate.Range(min=50, max=200_000))


class PersonCreateSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{3,64}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    gender = fields.String(required=True, validate=_choice(Gender))
    birth_date = PlausibleDate(required=True)
    sentence_type = fields.String(required=True, validate=_choice(SentenceType))
    supervision_level = fields.String(required=True, validate=_choice(SupervisionLevel))
    start_date = PlausibleDate(required=True)
    end_date = PlausibleDate(required=True)
    office_code = fields.String(required=True)
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=8, max=256))
    home = fields.Nested(HomeSchema, allow_none=True, load_default=None)
    home_address = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    employment_status = fields.String(load_default="unknown", validate=_choice(EmploymentStatus))


class PersonUpdateSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    supervision_level = fields.String(validate=_choice(SupervisionLevel))
    end_date = PlausibleDate()
    home = fields.Nested(HomeSchema, allow_none=True)
    home_address = fields.String(allow_none=True, validate=validate.Length(max=500))
    status = fields.String(validate=_choice(PersonStatus))
    employment_status = fields.String(validate=_choice(EmploymentStatus))


class PersonSchema(StrictSchema):
    id = fields.Integer()
    code = fields.String()
    # A minor's name is masked everywhere but their own record, for officers of their office (get_person_view).
    name = fields.Function(lambda person: persons.shown_name(
        person, full_identity=bool(getattr(person, "full_identity", False))), metadata={"type": "string"})
    gender = enum_field(Gender)
    birth_date = fields.Date()
    sentence_type = enum_field(SentenceType)
    supervision_level = enum_field(SupervisionLevel)
    start_date = fields.Date()
    end_date = fields.Date()
    office_id = fields.Integer()
    office_code = fields.Function(lambda person: person.office.code, metadata={"type": "string"})
    home = fields.Method("_home", metadata={
        "type": ["object", "null"], "description": "The home area: a circle of radius_m metres around lat, lon.",
        "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}, "radius_m": {"type": "number"}}})
    home_address = fields.String(allow_none=True, metadata={"description": "The home address as written at intake."})
    status = enum_field(PersonStatus)
    employment_status = enum_field(EmploymentStatus)
    created_at = fields.DateTime()
    reference_count = fields.Integer(dump_default=None, allow_none=True)

    def _home(self, person: Any) -> dict[str, float] | None:
        if person.home_lat is None:
            return None
        return {"lat": person.home_lat, "lon": person.home_lon, "radius_m": person.home_radius_m}


class PersonListArgsSchema(PageArgsSchema):
    status = fields.String(load_default=None, validate=_choice(PersonStatus))
    level = fields.String(load_default=None, validate=_choice(SupervisionLevel))
    office_code = fields.String(load_default=None)
    q = fields.String(load_default=None, validate=validate.Length(max=100))


class ReferenceSchema(StrictSchema):
    id = fields.Integer()
    person_id = fields.Integer()
    quality = fields.Dict()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    engine_version = fields.String()
    forced = fields.Boolean()
    note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    photo_url = fields.Function(lambda ref: f"/api/v1/officer/persons/{ref.person_id}/faces/{ref.id}/photo")


class EnrolFileSchema(StrictSchema):
    photo = Upload(required=True)


class EnrolFormSchema(StrictSchema):
    force = fields.Boolean(load_default=False)
    note = fields.String(load_default=None, validate=validate.Length(max=1000))


def _with_count(person: Any) -> Any:
    person.reference_count = faces.count_references(db_session(), person.id)
    return person


@blp.post("")
@auth_required(*STAFF_ROLES)
@blp.arguments(PersonCreateSchema)
@blp.response(201, PersonSchema)
@blp.problems("person_code_taken")
def create_person(body: dict[str, Any]) -> Any:
    """Register a supervised person in an office in your scope."""
    person = persons.create_person(session=db_session(), actor=current_actor(),
                                   values=persons.PersonValues(**body), now=now())
    commit()
    return _with_count(person)


@blp.get("")
@auth_required(*STAFF_ROLES)
@blp.arguments(PersonListArgsSchema, location="query")
@blp.response(200, page_schema(PersonSchema, "PersonPage"))
def list_persons(args: dict[str, Any]) -> dict[str, Any]:
    """Persons in your scope (officers: your office; admins: your county)."""
    rows = persons.list_persons(session=db_session(), actor=current_actor(), status=args["status"],
                                level=args["level"], office_code=args["office_code"], query=args["q"],
                                after_id=decode_cursor(args["cursor"]), limit=args["limit"] + 1)
    return page(rows, args["limit"])


@blp.get("/<int:person_id>")
@auth_required(*STAFF_ROLES)
@blp.response(200, PersonSchema)
def get_person_view(person_id: int) -> Any:
    """One person in your scope (a minor's full name only for officers of their office; audit-logged)."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    person.full_identity = persons.view_identity(session=session, actor=current_actor(), person=person, now=now(),
                                                 channel="api")
    commit()
    return _with_count(person)


@blp.patch("/<int:person_id>")
@auth_required(*STAFF_ROLES)
@blp.arguments(PersonUpdateSchema)
@blp.response(200, PersonSchema)
def update_person(body: dict[str, Any], person_id: int) -> Any:
    """Change a person's record (level, home area, status ...); audit-logged."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    persons.update_person(session=session, actor=current_actor(), person=person, changes=body, now=now())
    commit()
    return _with_count(person)


@blp.post("/<int:person_id>/faces")
@auth_required(*STAFF_ROLES)
@blp.arguments(EnrolFormSchema, location="form")
@blp.arguments(EnrolFileSchema, location="files")
@blp.response(201, ReferenceSchema)
@blp.problems(*IMAGE_PROBLEMS, "reference_mismatch", "too_many_references")
def enrol_face(form: dict[str, Any], files: dict[str, Any], person_id: int) -> Any:
    """Enrol one reference photo (strict quality gates; 3 to 10 per person, 5 recommended)."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    # Concurrent enrolments must not pass the reference maximum together: the count is read after this lock.
    lock_person(session, person.id)
    reference, _analysis = faces.enrol_reference(
        session=session, blobs=blobs(), engine=face_engine(), actor=current_actor(), person=person,
        photo=payload(files["photo"]), force=form["force"], note=form["note"], now=now(),
        max_references=app_config("MAX_REFERENCES"))
    commit()
    return reference


@blp.get("/<int:person_id>/faces")
@auth_required(*STAFF_ROLES)
@blp.response(200, ReferenceSchema(many=True))
def list_faces(person_id: int) -> Any:
    """The person's active reference photos."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    return faces.active_references(session, person.id)


@blp.delete("/<int:person_id>/faces/<int:face_id>")
@auth_required(*STAFF_ROLES)
@blp.response(204)
def delete_face(person_id: int, face_id: int) -> None:
    """Retire a reference photo from matching."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    faces.delete_reference(session=session, actor=current_actor(), person=person, face_id=face_id, now=now())
    commit()


@blp.get("/<int:person_id>/faces/<int:face_id>/photo")
@auth_required(*STAFF_ROLES)
@blp.response(200, content_type="image/jpeg", description="The reference photo bytes")
@blp.problems(*EVIDENCE_PROBLEMS)
def face_photo(person_id: int, face_id: int) -> Response:
    """The reference photo; each access is audit-logged (a missing file is 410, an altered one 409, both alerted)."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    with committed_on(EvidenceError):
        data, content_type = faces.read_reference_photo(session=session, blobs=blobs(), actor=current_actor(),
                                                        person=person, face_id=face_id, now=now())
    commit()
    return private_file(data, content_type)
