"""Officer endpoints: spot checks (随机抽查) and the task list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from marshmallow import fields, validate

from storage.enums import STAFF_ROLES, TaskKind, TaskStatus
from supervision import tasks
from supervision.scope import get_person
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import commit, db_session, now, policies
from web.schemas import Id, PageArgsSchema, StrictSchema, decode_cursor, enum_field, page, page_schema

blp = Blueprint("officer_tasks", __name__, url_prefix="/api/v1/officer", description="Spot checks and other tasks")



class SpotCheckCreateSchema(StrictSchema):
    respond_within_minutes = fields.Integer(load_default=None, validate=validate.Range(min=5, max=24 * 60))


class TaskSchema(StrictSchema):
    id = fields.Integer()
    person_id = fields.Integer()
    office_id = fields.Integer()
    kind = enum_field(TaskKind)
    status = enum_field(TaskStatus)
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    due_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    checkin_id = fields.Integer(allow_none=True)


class TaskListArgsSchema(PageArgsSchema):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in TaskStatus]))
    kind = fields.String(load_default=None, validate=validate.OneOf([k.value for k in TaskKind]))
    person_id = Id(load_default=None)


@blp.post("/persons/<int:person_id>/spot-checks")
@auth_required(*STAFF_ROLES)
@blp.arguments(SpotCheckCreateSchema)
@blp.response(201, TaskSchema)
@blp.problems("spot_check_open", "person_not_active")
def create_spot_check(body: dict[str, Any], person_id: int) -> Any:
    """Ask the person to check in within a deadline (default 60 minutes); 409 while one is still open."""
    session = db_session()
    actor = current_actor()
    person = get_person(session, actor, person_id)
    minutes = body["respond_within_minutes"]
    task = tasks.create_spot_check(session=session, actor=actor, person=person, now=now(),
                                   policy=policies().spot_checks,
                                   respond_within=timedelta(minutes=minutes) if minutes is not None else None)
    commit()
    return task


@blp.get("/tasks")
@auth_required(*STAFF_ROLES)
@blp.arguments(TaskListArgsSchema, location="query")
@blp.response(200, page_schema(TaskSchema, "TaskPage"))
def list_tasks(args: dict[str, Any]) -> dict[str, Any]:
    """Spot checks and video inspections in your scope, newest first."""
    session = db_session()
    if args["person_id"] is not None:
        get_person(session, current_actor(), args["person_id"])
    rows = tasks.list_tasks(session=session, actor=current_actor(), status=args["status"], person_id=args["person_id"],
                            kind=args["kind"], after_id=decode_cursor(args["cursor"]), limit=args["limit"] + 1)
    return page(rows, args["limit"])


@blp.get("/tasks/<int:task_id>")
@auth_required(*STAFF_ROLES)
@blp.response(200, TaskSchema)
def get_task(task_id: int) -> Any:
    """One task in your scope."""
    return tasks.get_task(session=db_session(), actor=current_actor(), task_id=task_id)
