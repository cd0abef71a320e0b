"""Officer endpoints: request remote video inspections, read their summaries and key frames, record a judgement."""

from __future__ import annotations

from typing import Any

from flask import Response
from marshmallow import fields, validate

from storage.enums import STAFF_ROLES, ReviewDecision, TaskKind, TaskStatus
from supervision import video_inspections
from supervision.evidence import EvidenceError
from supervision.scope import get_person
from web.api import Blueprint
from web.apidoc import EVIDENCE_PROBLEMS
from web.auth import auth_required, current_actor
from web.db import blobs, commit, committed_on, db_session, now
from web.files import private_file
from web.schemas import Id, PageArgsSchema, StrictSchema, decode_cursor, enum_field, page, page_schema

BANDS = ("verified", "needs_review", "rejected")

blp = Blueprint("officer_video", __name__, url_prefix="/api/v1/officer", description="Remote video inspections")


class InspectionCreateSchema(StrictSchema):
    respond_within_minutes = fields.Integer(
        load_default=60, validate=validate.Range(min=1, max=video_inspections.MAX_RESPONSE_MINUTES))


class InspectionListArgsSchema(PageArgsSchema):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in TaskStatus]))
    person_id = Id(load_default=None)


class InspectionSchema(StrictSchema):
    id = fields.Integer()
    person_id = fields.Integer()
    office_id = fields.Integer()
    kind = enum_field(TaskKind)
    status = enum_field(TaskStatus)
    created_at = fields.DateTime()
    due_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    created_by_id = fields.Integer(allow_none=True)
    band = fields.Method("_band", metadata={"type": ["string", "null"], "enum": [*BANDS, None],
                                            "description": "The clip's verdict once processed."})

    def _band(self, task: Any) -> str | None:
        summary = video_inspections.summary_of(task)
        return summary["band"] if summary else None


class InspectionDetailSchema(InspectionSchema):
    summary = fields.Method("_summary", metadata={"type": ["object", "null"], "description": (
        "frames sampled, with the person, matching, other persons, movement, best distance, band, reasons ...")})
    key_frames = fields.Method("_key_frames", metadata={"type": "array", "items": {"type": "object", "properties": {
        "n": {"type": "integer"}, "time_s": {"type": "number"}, "reason": {"type": "string"},
        "url": {"type": "string"}}}})
    review = fields.Method("_review", metadata={"type": ["object", "null"], "properties": {
        "decision": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]},
        "reviewed_by_id": {"type": ["integer", "null"]}, "reviewed_at": {"type": "string", "format": "date-time"}}})

    def _summary(self, task: Any) -> dict[str, Any] | None:
        return video_inspections.summary_of(task)

    def _key_frames(self, task: Any) -> list[dict[str, Any]]:
        frames = (task.result or {}).get("key_frames") or []
        return [{"n": f["n"], "time_s": f["time_s"], "reason": f["reason"],
                 "url": f"/api/v1/officer/video-inspections/{task.id}/key-frames/{f['n']}"} for f in frames]

    def _review(self, task: Any) -> dict[str, Any] | None:
        if task.reviewed_at is None:
            return None
        return {"decision": (task.result or {}).get("review_decision"), "note": task.review_note,
                "reviewed_by_id": task.reviewed_by_id, "reviewed_at": task.reviewed_at.isoformat()}


class InspectionReviewSchema(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf([d.value for d in ReviewDecision]))
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


@blp.post("/persons/<int:person_id>/video-inspections")
@auth_required(*STAFF_ROLES)
@blp.arguments(InspectionCreateSchema)
@blp.response(201, InspectionSchema)
@blp.problems("video_inspection_open")
def create_inspection(body: dict[str, Any], person_id: int) -> Any:
    """Ask the person for a short live video within the given minutes (listed in the phone's tasks)."""
    session = db_session()
    actor = current_actor()
    person = get_person(session, actor, person_id)
    task = video_inspections.create_inspection(session=session, actor=actor, person=person,
                                               respond_within_minutes=body["respond_within_minutes"], now=now())
    commit()
    return task


@blp.get("/video-inspections")
@auth_required(*STAFF_ROLES)
@blp.arguments(InspectionListArgsSchema, location="query")
@blp.response(200, page_schema(InspectionSchema, "VideoInspectionPage"))
def list_inspections(args: dict[str, Any]) -> dict[str, Any]:
    """Video inspections in your scope, newest first."""
    rows = video_inspections.list_inspections(session=db_session(), actor=current_actor(), status=args["status"],
                                              person_id=args["person_id"], after_id=decode_cursor(args["cursor"]),
                                              limit=args["limit"] + 1)
    return page(rows, args["limit"])


@blp.get("/video-inspections/<int:task_id>")
@auth_required(*STAFF_ROLES)
@blp.response(200, InspectionDetailSchema)
def get_inspection(task_id: int) -> Any:
    """The inspection summary: frames sampled, frames matching the person, other faces, movement, band (audited)."""
    task = video_inspections.view_inspection(session=db_session(), actor=current_actor(), task_id=task_id, now=now())
    commit()
    return task


@blp.get("/video-inspections/<int:task_id>/key-frames/<int(min=0):n>")
@auth_required(*STAFF_ROLES)
@blp.response(200, content_type="image/jpeg", description="One key frame of the clip")
@blp.problems(*EVIDENCE_PROBLEMS)
def key_frame(task_id: int, n: int) -> Response:
    """One key frame as JPEG; each access is audit-logged (a missing file is 410, an altered one 409, both alerted)."""
    with committed_on(EvidenceError):
        data, content_type = video_inspections.read_key_frame(session=db_session(), blobs=blobs(),
                                                              actor=current_actor(), task_id=task_id, n=n, now=now())
    commit()
    return private_file(data, content_type)


@blp.post("/video-inspections/<int:task_id>/review")
@auth_required(*STAFF_ROLES)
@blp.arguments(InspectionReviewSchema)
@blp.response(200, InspectionDetailSchema)
@blp.problems("already_reviewed", "not_processed")
def review_inspection(body: dict[str, Any], task_id: int) -> Any:
    """Record your judgement of a processed inspection (a reject needs a note); a second review is 409."""
    task = video_inspections.review_inspection(session=db_session(), actor=current_actor(), task_id=task_id,
                                               decision=body["decision"], note=body["note"], now=now())
    commit()
    return task
