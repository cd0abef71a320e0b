"""Phone endpoint: the person's open spot checks and video inspections, with their deadlines."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from storage.enums import TaskKind, TaskStatus
from supervision import tasks
from web.api import Blueprint
from web.auth import auth_required, current_actor
from web.db import db_session, now
from web.schemas import PageArgsSchema, StrictSchema, decode_cursor, enum_field, is_id, page, page_schema

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="Spot checks and video inspections")



def _answer_url(task: Any) -> str:
    if task.kind == TaskKind.VIDEO_INSPECTION:
        return f"/api/v1/video-inspections/{task.id}/clip"
    return "/api/v1/checkins"


class PhoneTaskSchema(StrictSchema):
    id = fields.Integer()
    kind = enum_field(TaskKind)
    status = enum_field(TaskStatus)
    created_at = fields.DateTime()
    due_at = fields.DateTime()
    overdue = fields.Function(lambda task: task.due_at <= now(), metadata={"type": "boolean"})
    answer_url = fields.Function(_answer_url, metadata={
        "type": "string", "description": "Where to answer: POST a check-in (with task_id) or the clip here."})


def _position(task: Any) -> list[Any]:
    return [task.due_at.isoformat(), task.id]


def _is_position(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and is_id(value[1])


@blp.get("")
@auth_required("person")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(PhoneTaskSchema, "PhoneTaskPage"))
def list_open_tasks(args: dict[str, Any]) -> dict[str, Any]:
    """Your open tasks, earliest deadline first; answer a spot check with POST /api/v1/checkins and its task_id."""
    rows = tasks.list_open_tasks(session=db_session(), person_id=current_actor().id or 0)
    after = decode_cursor(args["cursor"], _is_position)
    if after is not None:
        rows = [task for task in rows if _position(task) > after]
    return page(rows[: args["limit"] + 1], args["limit"], _position)
