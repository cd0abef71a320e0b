"""What the generated OpenAPI document says beyond the schemas: the problem+json answers of each operation with
their `code` values, the Idempotency-Key header, and examples.

Decorators mark a view (``problems``, and ``auth_required`` / ``idempotent`` themselves); ``ProblemDocs``, an apispec
plugin, turns the marks and what the operation already shows (a path id, a body, a bearer token) into responses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any, TypeVar

from apispec import BasePlugin

from web.problems import HTTP_TITLES, PROBLEM_TYPE

F = TypeVar("F", bound=Callable[..., Any])

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
IDEMPOTENCY_PARAMETER = "IdempotencyKey"
MARK = "x-checkin"

# Every stable `code` a client can meet: its HTTP status and what it means.
PROBLEM_CODES: dict[str, tuple[int, str]] = {
    "invalid_json": (400, "The body is not JSON this API reads (too deep, huge numbers, NaN, not UTF-8)."),
    "unauthorized": (401, "No bearer token was sent."),
    "invalid_token": (401, "The token is malformed or its signature is wrong."),
    "token_expired": (401, "The access token has expired: refresh it."),
    "token_revoked": (401, "The session has ended (logout, refresh-token reuse, account disabled): log in again."),
    "invalid_credentials": (401, "Wrong username or password (the same answer whether or not the user exists)."),
    "forbidden": (403, "This endpoint is not for your role, or the decision belongs to another level."),
    "not_found": (404, "No such resource in your scope (resources outside your scope are not found either)."),
    "evidence_unavailable": (410, "The stored photo or clip is missing; the office has been alerted."),
    "request_too_large": (413, "The body is larger than the server accepts (CHECKIN_MAX_CONTENT_LENGTH)."),
    "image_too_large": (413, "The upload, or the pixel count its header declares, is larger than accepted."),
    "video_too_large": (413, "The clip is larger than the server accepts."),
    "unsupported_media_type": (415, "The upload is not a JPEG, PNG, WEBP or HEIC image (or not a supported video)."),
    "validation_failed": (422, "Some fields are invalid: `errors` names them."),
    "invalid_image": (422, "The upload could not be decoded as an image."),
    "no_face": (422, "No face was found in the photo."),
    "multiple_faces": (422, "More than one face is in the photo."),
    "face_too_small": (422, "The face is too small: hold the phone closer."),
    "face_not_frontal": (422, "The face is turned away: look at the camera."),
    "image_too_dark": (422, "The photo is too dark."),
    "image_too_bright": (422, "The photo is too bright."),
    "image_too_blurry": (422, "The photo is too blurry."),
    "reference_mismatch": (422, "The face clearly differs from the person's other reference photos (force it with a "
                                "note if it is right)."),
    "invalid_video": (422, "The clip could not be decoded."),
    "video_too_long": (422, "The clip is longer than accepted."),
    "liveness_required": (422, "This check-in needs a liveness challenge: ask for one, then send the clip."),
    "challenge_expired": (422, "The liveness challenge has expired: ask for a new one."),
    "person_not_active": (422, "The person is no longer under supervision."),
    "leave_invalid_period": (422, "The leave must end after it starts."),
    "leave_in_past": (422, "The leave cannot start in the past."),
    "leave_beyond_supervision": (422, "The leave cannot end after the supervision end date."),
    "leave_too_long": (422, "The leave is longer than one request may be (CHECKIN_LEAVE_MAX_DAYS)."),
    "leave_notice_too_short": (422, "The leave must be asked earlier (`emergency: true` waives it)."),
    "leave_overlap": (422, "The period overlaps another pending, approved, active or overdue leave."),
    "leave_yearly_limit": (422, "The leave would exceed the days allowed per calendar year."),
    "idempotency_conflict": (409, "This Idempotency-Key was used with a different request."),
    "idempotency_in_progress": (409, "The first request with this Idempotency-Key still runs: retry after "
                                     "`Retry-After` seconds."),
    "evidence_tampered": (409, "The stored photo or clip failed its integrity check; the office has been alerted."),
    "activity_cancelled": (409, "The session was cancelled; there is nothing to attend."),
    "already_checked_in": (409, "This attendance already has its check-in."),
    "already_checked_out": (409, "This attendance already has its check-out."),
    "not_checked_in": (409, "Check in at the session before checking out."),
    "attendance_recorded": (409, "An officer already recorded this attendance."),
    "attendance_decided": (409, "This attendance was already confirmed or rejected."),
    "attendance_exists": (409, "The person's attendance at this session is already recorded."),
    "tracking_off": (409, "Location tracking is not switched on for you: the phone should stop uploading fixes."),
    "already_reviewed": (409, "It was already reviewed (or needs no review)."),
    "already_resolved": (409, "The alert is already resolved."),
    "nothing_to_undo": (409, "There is no review decision to undo."),
    "undo_expired": (409, "The time to undo the decision has passed."),
    "undo_superseded": (409, "The alert the decision raised was handled already, so it cannot be undone."),
    "undo_sanction": (409, "A sanction was recorded with the resolution: it stays on file and is corrected instead."),
    "undo_not_yours": (403, "Only the officer who decided may undo the decision."),
    "task_closed": (409, "The task is already answered or closed."),
    "too_many_references": (409, "The person has the most reference photos allowed: delete one first."),
    "person_code_taken": (409, "The person code is already registered."),
    "office_exists": (409, "An office with this code already exists."),
    "username_taken": (409, "The username is taken."),
    "spot_check_open": (409, "The person already has an open spot check."),
    "video_inspection_open": (409, "The person already has an open video inspection."),
    "not_processed": (409, "The clip has not been processed yet."),
    "challenge_used": (409, "The liveness challenge was already used."),
    "invalid_transition": (409, "The leave request is not in a state that allows this."),
    "rate_limited": (429, "Too many attempts: wait `Retry-After` seconds."),
    "service_unavailable": (503, "The database is not reachable: retry after `Retry-After` seconds (safe with the "
                                 "same Idempotency-Key)."),
    "storage_unavailable": (503, "The photo store cannot be written: retry later."),
    "storage_full": (507, "The photo store is full; the upload was not kept: retry later."),
}

# Codes every request to a multipart image endpoint can meet (the upload is judged before anything else).
IMAGE_PROBLEMS = ("image_too_large", "unsupported_media_type", "invalid_image", "no_face", "multiple_faces",
                  "face_too_small", "face_not_frontal", "image_too_dark", "image_too_bright", "image_too_blurry",
                  "storage_unavailable", "storage_full")
VIDEO_PROBLEMS = ("video_too_large", "unsupported_media_type", "invalid_video", "video_too_long",
                  "storage_unavailable", "storage_full")
EVIDENCE_PROBLEMS = ("evidence_unavailable", "evidence_tampered")
TOKEN_PROBLEMS = ("unauthorized", "invalid_token", "token_expired", "token_revoked")
IDEMPOTENCY_PROBLEMS = ("idempotency_conflict", "idempotency_in_progress")


def mark(func: F, **marks: Any) -> F:
    """Record documentation marks on a view function (read by ProblemDocs when the spec is built)."""
    doc = deepcopy(getattr(func, "_apidoc", {}))
    manual = doc.setdefault("manual_doc", {})
    current = manual.setdefault(MARK, {})
    for key, value in marks.items():
        if isinstance(value, list | tuple):
            current[key] = list(dict.fromkeys([*current.get(key, []), *value]))
        else:
            current[key] = value
    func._apidoc = doc  # type: ignore[attr-defined]
    return func


def problems(*codes: str) -> Callable[[F], F]:
    """Document the problem+json codes this endpoint can answer with (beyond the ones every endpoint has)."""
    unknown = [code for code in codes if code not in PROBLEM_CODES]
    if unknown:
        raise ValueError(f"undocumented problem codes: {', '.join(unknown)}")

    def decorator(func: F) -> F:
        return mark(func, problems=list(codes))

    return decorator


def problem_example(code: str, **extra: Any) -> dict[str, Any]:
    """A problem+json body as the server sends it for code."""
    status, meaning = PROBLEM_CODES[code]
    return {"type": PROBLEM_TYPE.format(code=code), "title": HTTP_TITLES.get(status, "Error"), "status": status,
            "detail": meaning, "code": code, **extra}


_EXAMPLE_EXTRA: dict[str, dict[str, Any]] = {
    "validation_failed": {"errors": {"latitude": ["Missing data for required field."]}},
    "no_face": {"checkin_id": 41, "quality": {"faces": 0, "brightness": 121.5}},
    "idempotency_in_progress": {"retry_after": 1},
}


def _response(codes: Iterable[str], status: int) -> dict[str, Any]:
    codes = list(dict.fromkeys(codes))
    lines = [f"- `{code}`: {PROBLEM_CODES[code][1]}" for code in codes]
    schema = {"allOf": [{"$ref": PROBLEM_REF},
                        {"type": "object", "properties": {"code": {"type": "string", "enum": codes}}}]}
    examples = {code: {"summary": PROBLEM_CODES[code][1],
                       "value": problem_example(code, **_EXAMPLE_EXTRA.get(code, {}))} for code in codes}
    response: dict[str, Any] = {
        "description": "\n".join(lines),
        "content": {PROBLEM_CONTENT_TYPE: {"schema": schema, "examples": examples}},
    }
    if status in (409, 429, 503, 507) and any(code in _RETRY_AFTER for code in codes):
        response["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                               "schema": {"type": "integer"}}}
    return response


_RETRY_AFTER = {"idempotency_in_progress", "rate_limited", "service_unavailable", "storage_unavailable",
                "storage_full"}


class ProblemDocs(BasePlugin):
    """apispec plugin: every operation documents its problem+json answers, grouped by status, with the codes."""

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None,
                         **_kwargs: Any) -> None:
        for operation in (operations or {}).values():
            marks = operation.pop(MARK, {})
            codes = self._codes(path or "", operation, marks)
            responses = operation.setdefault("responses", {})
            by_status: dict[int, list[str]] = {}
            for code in codes:
                by_status.setdefault(PROBLEM_CODES[code][0], []).append(code)
            for status, group in sorted(by_status.items()):
                responses[str(status)] = _response(group, status)
            if 422 not in by_status:
                responses.pop("422", None)
            responses.pop(422, None)
            responses["default"] = {"description": "Any other error, as problem+json (e.g. 500 `internal_error`).",
                                    "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}}}
            if marks.get("idempotent"):
                self._idempotency(operation)

    @staticmethod
    def _codes(path: str, operation: dict[str, Any], marks: dict[str, Any]) -> list[str]:
        codes: list[str] = []
        body = operation.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            codes += ["invalid_json", "request_too_large"]
        if operation.get("requestBody") or any(p.get("in") == "query" for p in operation.get("parameters", [])
                                               if isinstance(p, dict)):
            codes.append("validation_failed")
        if operation.get("security") != []:
            codes += TOKEN_PROBLEMS
        if marks.get("roles"):
            codes.append("forbidden")
        if "{" in path:
            codes.append("not_found")
        codes += marks.get("problems", [])
        if marks.get("idempotent"):
            codes += IDEMPOTENCY_PROBLEMS
        codes.append("service_unavailable")
        return list(dict.fromkeys(codes))

    @staticmethod
    def _idempotency(operation: dict[str, Any]) -> None:
        parameters = operation.setdefault("parameters", [])
        parameters.append(IDEMPOTENCY_PARAMETER)
        for status, response in operation["responses"].items():
            if str(status).startswith("2"):
                response.setdefault("headers", {})["Idempotent-Replayed"] = {
                    "description": "`true` when this is the stored answer to an earlier request with the same key.",
                    "schema": {"type": "string", "enum": ["true"]}}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": ("A unique value per intended action (e.g. a UUID made when the user pressed the button). A retry "
                    "with the same key and body gets the original answer (`Idempotent-Replayed: true`) and never a "
                    "second record; the same key with another body is 409 `idempotency_conflict`. Answers are kept "
                    "for CHECKIN_IDEMPOTENCY_RETENTION_HOURS."),
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "example": "5b0d3c1e-8f1a-4c55-9a43-2f6f3f0b6a1e",
}
