"""Officer endpoints: alerts, their resolution, sanctions and a person's compliance."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from storage.enums import STAFF_ROLES, AlertStatus, AlertType, SanctionKind, SupervisionLevel
from supervision import alerts, duties, sanctions
from supervision.scope import get_person
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import commit, db_session, now, policies
from web.schemas import Id, PageArgsSchema, StrictSchema, decode_cursor, enum_field, page, page_schema

blp = Blueprint("officer_alerts", __name__, url_prefix="/api/v1/officer",
                description="Alerts, sanctions and compliance")



class AlertListArgsSchema(PageArgsSchema):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in AlertStatus]))
    type = fields.String(load_default=None, validate=validate.OneOf([t.value for t in AlertType]))
    person_id = Id(load_default=None)


class SanctionSchema(StrictSchema):
    id = fields.Integer()
    person_id = fields.Integer()
    office_id = fields.Integer()
    kind = enum_field(SanctionKind)
    alert_id = fields.Integer(allow_none=True)
    decided_by_id = fields.Integer()
    decided_at = fields.DateTime()
    note = fields.String()
    evidence = fields.Dict()
    corrected_at = fields.DateTime(allow_none=True)


class AlertSchema(StrictSchema):
    id = fields.Integer()
    person_id = fields.Integer()
    office_id = fields.Integer()
    type = enum_field(AlertType)
    status = enum_field(AlertStatus)
    occurred_at = fields.DateTime()
    created_at = fields.DateTime()
    evidence = fields.Dict()
    resolved_at = fields.DateTime(allow_none=True)
    resolved_by_id = fields.Integer(allow_none=True)
    resolution = enum_field(alerts.RESOLUTION_ACTIONS, allow_none=True)
    resolution_note = fields.String(allow_none=True)


class ResolvedAlertSchema(AlertSchema):
    sanction = fields.Nested(SanctionSchema, allow_none=True)


class ResolveSchema(StrictSchema):
    action = fields.String(required=True, validate=validate.OneOf(alerts.RESOLUTION_ACTIONS))
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class SanctionCreateSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in SanctionKind]))
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class CorrectSchema(StrictSchema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ComplianceArgsSchema(StrictSchema):
    days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=90))


class OpenAlertsSchema(StrictSchema):
    total = fields.Integer()
    by_type = fields.Dict(keys=fields.String(), values=fields.Integer())
    items = fields.List(fields.Nested(AlertSchema))


class ComplianceSchema(StrictSchema):
    person_id = fields.Integer()
    supervision_level = enum_field(SupervisionLevel)
    duties = fields.Dict()
    next_checkin_due = fields.Dict(allow_none=True)
    open_alerts = fields.Nested(OpenAlertsSchema)
    sanctions = fields.List(fields.Nested(SanctionSchema))
    absence = fields.Dict(allow_none=True)
    suggested_next_step = fields.Dict(allow_none=True)


@blp.get("/alerts")
@auth_required(*STAFF_ROLES)
@blp.arguments(AlertListArgsSchema, location="query")
@blp.response(200, page_schema(AlertSchema, "AlertPage"))
def list_alerts(args: dict[str, Any]) -> dict[str, Any]:
    """Alerts in your scope, newest first; filter by status, type and person."""
    session = db_session()
    if args["person_id"] is not None:
        get_person(session, current_actor(), args["person_id"])
    rows = alerts.list_alerts(session=session, actor=current_actor(), status=args["status"], alert_type=args["type"],
                              person_id=args["person_id"], after_id=decode_cursor(args["cursor"]),
                              limit=args["limit"] + 1)
    return page(rows, args["limit"])


@blp.get("/alerts/<int:alert_id>")
@auth_required(*STAFF_ROLES)
@blp.response(200, AlertSchema)
def get_alert(alert_id: int) -> Any:
    """One alert in your scope."""
    return alerts.get_alert(session=db_session(), actor=current_actor(), alert_id=alert_id)


@blp.post("/alerts/<int:alert_id>/resolve")
@auth_required(*STAFF_ROLES)
@blp.arguments(ResolveSchema)
@blp.response(200, ResolvedAlertSchema)
@blp.problems("already_resolved")
def resolve_alert(body: dict[str, Any], alert_id: int) -> Any:
    """Dismiss an alert or record a sanction for it (a note is required); a second resolve is 409."""
    resolution = alerts.resolve_alert(session=db_session(), actor=current_actor(), alert_id=alert_id,
                                      action=body["action"], note=body["note"], now=now(), policy=policies().duty)
    commit()
    alert = resolution.alert
    return {**{name: getattr(alert, name) for name in AlertSchema().fields}, "sanction": resolution.sanction}


@blp.get("/persons/<int:person_id>/sanctions")
@auth_required(*STAFF_ROLES)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(SanctionSchema, "SanctionPage"))
def list_sanctions(args: dict[str, Any], person_id: int) -> dict[str, Any]:
    """The person's recorded sanctions, newest first."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    rows = sanctions.list_sanctions(session=session, actor=current_actor(), person_id=person.id,
                                    after_id=decode_cursor(args["cursor"]), limit=args["limit"] + 1)
    return page(rows, args["limit"])


@blp.post("/persons/<int:person_id>/sanctions")
@auth_required(*STAFF_ROLES)
@blp.arguments(SanctionCreateSchema)
@blp.response(201, SanctionSchema)
@blp.problems("forbidden")
def record_sanction(body: dict[str, Any], person_id: int) -> Any:
    """Record a sanction decided outside an alert (e.g. on the suggested step); a warning makes the level strict."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    sanction = sanctions.record_sanction(session=session, actor=current_actor(), person=person, kind=body["kind"],
                                         note=body["note"], now=now(), policy=policies().duty)
    commit()
    return sanction


@blp.post("/persons/<int:person_id>/sanctions/<int:sanction_id>/correct")
@auth_required(*STAFF_ROLES)
@blp.arguments(CorrectSchema)
@blp.response(200, SanctionSchema)
def correct_sanction(body: dict[str, Any], person_id: int, sanction_id: int) -> Any:
    """Record that the person corrected the behaviour behind a sanction, so it no longer counts towards escalation."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    sanction = sanctions.correct_sanction(session=session, actor=current_actor(), person_id=person.id,
                                          sanction_id=sanction_id, note=body["note"], now=now())
    commit()
    return sanction


@blp.get("/persons/<int:person_id>/compliance")
@auth_required(*STAFF_ROLES)
@blp.arguments(ComplianceArgsSchema, location="query")
@blp.response(200, ComplianceSchema)
def compliance(args: dict[str, Any], person_id: int) -> dict[str, Any]:
    """Duties met and missed over the last days, open alerts (the newest 50), sanctions and the suggested step."""
    session = db_session()
    person = get_person(session, current_actor(), person_id)
    policy = policies().duty
    at = now()
    summary = duties.compliance(session=session, person=person, now=at, policy=policy, days=args["days"])
    due = duties.next_due(session=session, person=person, now=at, policy=policy)
    absence = sanctions.find_absence(session=session, person=person, now=at, policy=policy)
    history = sanctions.person_sanctions(session=session, person_id=person.id)
    suggestion = sanctions.suggest_sanction(absence=absence, history=history, now=at)
    open_alerts = alerts.count_open_alerts(session=session, person_id=person.id)
    return {
        "person_id": person.id,
        "supervision_level": person.supervision_level,
        "duties": summary.as_dict(),
        "next_checkin_due": due.as_dict() if due else None,
        "open_alerts": {"total": sum(open_alerts.values()), "by_type": open_alerts,
                        "items": alerts.list_alerts(session=session, actor=current_actor(), status=AlertStatus.OPEN,
                                                    person_id=person.id, limit=50)},
        "sanctions": history,
        "absence": absence.as_dict(at) if absence else None,
        "suggested_next_step": suggestion.as_dict() if suggestion else None,
    }
