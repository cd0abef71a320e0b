"""Input schemas of a person's record, shared by the officer API (POST and PATCH /api/v1/officer/persons) and the
console's person form (officer_api and officer_console never import each other)."""

from __future__ import annotations

from enum import Enum

from marshmallow import fields, validate

from storage.enums import EmploymentStatus, Gender, PersonStatus, SentenceType, SupervisionLevel
from web.schemas import PlausibleDate, StrictSchema


def choice(enum: type[Enum]) -> validate.OneOf:
    """A validator accepting the values of enum."""
    return validate.OneOf([member.value for member in enum])


class HomeSchema(StrictSchema):
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    radius_m = fields.Float(required=True, validate=validate.Range(min=50, max=200_000))


class PersonCreateSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{3,64}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    gender = fields.String(required=True, validate=choice(Gender))
    birth_date = PlausibleDate(required=True)
    sentence_type = fields.String(required=True, validate=choice(SentenceType))
    supervision_level = fields.String(required=True, validate=choice(SupervisionLevel))
    start_date = PlausibleDate(required=True)
    end_date = PlausibleDate(required=True)
    office_code = fields.String(required=True)
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=8, max=256))
    home = fields.Nested(HomeSchema, allow_none=True, load_default=None)
    home_address = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    employment_status = fields.String(load_default="unknown", validate=choice(EmploymentStatus))


class PersonUpdateSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    supervision_level = fields.String(validate=choice(SupervisionLevel))
    end_date = PlausibleDate()
    home = fields.Nested(HomeSchema, allow_none=True)
    home_address = fields.String(allow_none=True, validate=validate.Length(max=500))
    status = fields.String(validate=choice(PersonStatus))
    employment_status = fields.String(validate=choice(EmploymentStatus))
