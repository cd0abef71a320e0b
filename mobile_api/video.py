"""Phone endpoint: upload the clip an officer asked for in a remote video inspection."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest.fields import Upload
from marshmallow import Schema, fields

from storage.models import Person
from supervision import video_inspections
from supervision.errors import UnusableVideo
from web.api import Blueprint
from web.apidoc import VIDEO_PROBLEMS
from web.auth import auth_required, current_actor
from web.db import after_commit, blobs, commit, db_session, now, policies
from web.idempotency import idempotent
from web.jobs import jobs
from web.schemas import StrictSchema, enum_field
from web.uploads import payload

blp = Blueprint("video_inspections", __name__, url_prefix="/api/v1/video-inspections",
                description="Remote video inspections")

# Room for the multipart envelope around the clip.
_MULTIPART_SLACK = 64 * 1024


class ClipFilesSchema(StrictSchema):
    video = Upload(required=True)


class ClipAcceptedSchema(Schema):
    task_id = fields.Integer()
    status = enum_field(("processing",))


@blp.before_request
def _clip_body_limit() -> None:
    # Clips are larger than photos: this blueprint alone gets the video limit instead of MAX_CONTENT_LENGTH.
    limit = policies().inspection_clips.max_bytes + _MULTIPART_SLACK
    if request.content_length is not None and request.content_length > limit:
        raise UnusableVideo("The video is larger than the server accepts.", code="video_too_large", status=413)
    request.max_content_length = limit


@blp.post("/<int:task_id>/clip")
@auth_required("person")
@idempotent
@blp.arguments(ClipFilesSchema, location="files")
@blp.response(202, ClipAcceptedSchema, example={"task_id": 7, "status": "processing"})
@blp.problems(*VIDEO_PROBLEMS, "task_closed")
def upload_clip(files: dict[str, Any], task_id: int) -> dict[str, Any]:
    """Upload the inspection clip (multipart `video`); it is checked off the request thread."""
    session = db_session()
    person = session.get(Person, current_actor().id)
    assert person is not None
    task = video_inspections.submit_clip(session=session, blobs=blobs(), person=person, task_id=task_id,
                                         data=payload(files["video"]), limits=policies().inspection_clips,
                                         now=now())
    commit()
    # Only after the commit: a worker must find the clip and the task in the processing state.
    clip_task_id = task.id
    after_commit(lambda: jobs.enqueue(video_inspections.run_clip_job, task_id=clip_task_id))
    return {"task_id": task.id, "status": "processing"}
