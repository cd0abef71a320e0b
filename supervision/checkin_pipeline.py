"""A selfie check-in, as one use case in stages that read top to bottom.

submission (built at the HTTP edge: bytes with sha256 and sniffed type) -> liveness (policy, challenge, clip) ->
capture time -> task -> replay check -> analyse (one decode) -> keep the evidence -> match (references loaded once)
-> place -> judge (pure: supervision/checkin_judge.py) -> persist -> task and alerts.

Scheduled check-ins, spot-check answers (a task), leave returns and attendance at a session all run this pipeline;
they differ only in their Purpose: the kind recorded and the location rule applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.blobs import BlobStore, Payload, StoredBlob
from storage.db import on_rollback
from storage.enums import CheckinKind, CheckinStatus, TaskKind, TaskStatus
from storage.models import Checkin, Person, Task
from supervision import accounts, alerts, faces
from supervision.checkin_judge import CheckinPolicy, FaceFacts, Facts, Timing, Verdict, judge
from supervision.checkins import Fix, LocationCheck, LocationRule, at_home_or_on_leave
from supervision.errors import Conflict, NotFound, UnusableImage, ValidationFailed
from supervision.liveness import LivenessClip, LivenessPolicy, checkin_liveness
from supervision.passive import passive_flags
from verification.engine import FaceAnalysis, FaceEngine
from verification.errors import ImageError, QualityError
from verification.matching import MatchResult


@dataclass(frozen=True)
class Submission:
    """One check-in as the phone sent it, validated at the HTTP edge."""

    person: Person
    device_id: str | None
    photo: Payload
    fix: Fix
    captured_at: datetime
    task_id: int | None = None  # the spot check this answers
    liveness: LivenessClip = field(default_factory=LivenessClip)


@dataclass(frozen=True)
class Purpose:
    """What a check-in is for: the kind recorded, the rule its place is judged by, the leave it reports back from."""

    kind: str = CheckinKind.SCHEDULED
    location_rule: LocationRule = at_home_or_on_leave
    leave_request_id: int | None = None


@dataclass(frozen=True)
class CheckinContext:
    """The services and policies a check-in runs with, and the moment it is received."""

    session: Session
    blobs: BlobStore
    engine: FaceEngine
    policy: CheckinPolicy
    liveness: LivenessPolicy
    now: datetime


@dataclass
class CheckinOutcome:
    """The recorded check-in; `error` is set when the photo was unusable (the attempt is kept, the client gets it)."""

    checkin: Checkin
    error: UnusableImage | None = None


class _References:
    """The person's reference set, loaded on first use and then shared by the liveness check and the face match."""

    def __init__(self, ctx: CheckinContext, person_id: int) -> None:
        self._ctx, self._person_id = ctx, person_id
        self._loaded: faces.ReferenceSet | None = None

    def __call__(self) -> faces.ReferenceSet:
        if self._loaded is None:
            ctx = self._ctx
            self._loaded = faces.load_reference_set(session=ctx.session, blobs=ctx.blobs, engine=ctx.engine,
                                                    person_id=self._person_id, now=ctx.now)
        return self._loaded


@dataclass
class _Analysed:
    """What the analyse and match stages found for a usable photo."""

    analysis: FaceAnalysis
    match: MatchResult
    references: faces.ReferenceSet
    flags: list[str]
    location: LocationCheck


def submit_checkin(ctx: CheckinContext, submission: Submission, purpose: Purpose | None = None) -> CheckinOutcome:
    """Verify a selfie check-in and record it with its evidence; an unusable photo is recorded as a failed attempt."""
    purpose = purpose or Purpose()
    person = submission.person
    references = _References(ctx, person.id)
    liveness = _liveness(ctx, submission, purpose, references)
    _check_capture_time(ctx, submission)
    task = _open_task(ctx.session, person, submission.task_id) if submission.task_id is not None else None
    duplicate_of = _replay_of(ctx.session, person.id, submission.photo)
    analysis, error = _analyse(ctx.engine, submission.photo) if duplicate_of is None else (None, None)
    stored = _keep_evidence(ctx, submission.photo, analysis, error)
    found = (_match(ctx, submission, purpose, analysis, references) if analysis is not None else None)
    device_bound = accounts.is_bound_device(session=ctx.session, person_id=person.id, device_id=submission.device_id)
    verdict = judge(_facts(submission, task, duplicate_of, error, found, device_bound, liveness, ctx.now), ctx.policy)
    checkin = _new_checkin(ctx, submission, purpose, task, device_bound, stored)
    _record_findings(ctx, checkin, verdict, error, duplicate_of, found, liveness)
    _follow_up(ctx, checkin, person, task)
    return CheckinOutcome(checkin, UnusableImage.refusing(error) if error is not None else None)


# ----------------------------------------------------------------------------------------------- stages
def _kind(submission: Submission, purpose: Purpose) -> str:
    # Answering a spot check makes any check-in a spot-check answer.
    return CheckinKind.SPOT_CHECK if submission.task_id is not None else purpose.kind


def _liveness(ctx: CheckinContext, submission: Submission, purpose: Purpose,
              references: _References) -> dict[str, Any] | None:
    return checkin_liveness(session=ctx.session, engine=ctx.engine, person=submission.person,
                            clip=submission.liveness, policy=ctx.liveness, kind=_kind(submission, purpose),
                            references=references, now=ctx.now)


def _check_capture_time(ctx: CheckinContext, submission: Submission) -> None:
    if submission.captured_at > ctx.now + ctx.policy.future_tolerance:
        raise ValidationFailed({"captured_at": ["The capture time is in the future."]})


def _open_task(session: Session, person: Person, task_id: int) -> Task:
    task = session.get(Task, task_id, with_for_update=True)
    if task is None or task.person_id != person.id or task.kind != TaskKind.SPOT_CHECK:
        raise NotFound("No such task.")
    # A spot check the sweep already marked missed can still be answered: the late answer is evidence too.
    if task.status not in (TaskStatus.OPEN, TaskStatus.MISSED):
        raise Conflict("This task is already answered or closed.", code="task_closed")
    return task


def _replay_of(session: Session, person_id: int, photo: Payload) -> int | None:
    # Failed attempts do not count: resending an unusable photo must get the same refusal again.
    return session.scalar(select(Checkin.id).where(Checkin.person_id == person_id, Checkin.photo_sha256 == photo.sha256,
                                                   Checkin.status != CheckinStatus.FAILED).limit(1))


def _analyse(engine: FaceEngine, photo: Payload) -> tuple[FaceAnalysis | None, ImageError | QualityError | None]:
    try:
        return engine.analyze(photo.data, purpose="checkin", content_type=photo.content_type), None
    except (ImageError, QualityError) as exc:
        return None, exc


def _keep_evidence(ctx: CheckinContext, photo: Payload, analysis: FaceAnalysis | None,
                   error: ImageError | QualityError | None) -> StoredBlob | None:
    # Photos that decoded are kept as evidence (failed attempts included); bytes that are no usable image are not.
    if isinstance(error, ImageError):
        return None
    # The engine names the type of what it decoded; a replay (not analysed) keeps the type sniffed on arrival.
    decoded_as = analysis.content_type if analysis is not None else error.content_type if error is not None else None
    stored = ctx.blobs.put(photo, content_type=decoded_as or photo.content_type or "application/octet-stream")
    on_rollback(ctx.session, lambda: ctx.blobs.delete(stored.key))
    return stored


def _match(ctx: CheckinContext, submission: Submission, purpose: Purpose, analysis: FaceAnalysis,
           references: Callable[[], faces.ReferenceSet]) -> _Analysed:
    refs = references()
    # Every significant face in the photo is compared; the one closest to the person decides.
    results = [ctx.engine.decide(face.templates, refs.templates) for face in analysis.faces]
    match = min(results, key=lambda r: float("inf") if r.distance is None else r.distance)
    flags = [*analysis.flags, *passive_flags(session=ctx.session, person=submission.person,
                                             device_id=submission.device_id, exif=analysis.exif,
                                             captured_at=submission.captured_at)]
    location = purpose.location_rule(ctx.session, submission.person, submission.fix, submission.captured_at,
                                     ctx.policy)
    return _Analysed(analysis=analysis, match=match, references=refs, flags=flags, location=location)


def _facts(submission: Submission, task: Task | None, duplicate_of: int | None,
           error: ImageError | QualityError | None, found: _Analysed | None, device_bound: bool,
           liveness: dict[str, Any] | None, now: datetime) -> Facts:
    face = None
    if found is not None:
        face = FaceFacts(band=found.match.band, faces=len(found.analysis.faces),
                         references_active=found.references.active, references_used=len(found.references.references))
    return Facts(timing=Timing(captured_at=submission.captured_at, received_at=now,
                               task_due_at=task.due_at if task is not None else None),
                 face=face, failure=error.code if error is not None else None, duplicate_of=duplicate_of,
                 location_reasons=found.location.reasons if found is not None else (), device_bound=device_bound,
                 liveness=liveness)


def _new_checkin(ctx: CheckinContext, submission: Submission, purpose: Purpose, task: Task | None,
                 device_bound: bool, stored: StoredBlob | None) -> Checkin:
    person, fix = submission.person, submission.fix
    return Checkin(
        person_id=person.id, office_id=person.office_id,
        kind=_kind(submission, purpose),
        task_id=task.id if task is not None else None, leave_request_id=purpose.leave_request_id,
        device_id=submission.device_id, device_bound=device_bound,
        received_at=ctx.now, captured_at=submission.captured_at,
        latitude=fix.latitude, longitude=fix.longitude, accuracy_m=fix.accuracy_m,
        photo_sha256=submission.photo.sha256,
        photo_blob_key=stored.key if stored else None,
        photo_content_type=stored.content_type if stored else None,
        photo_size=stored.size if stored else None,
        reasons=[], flags=[],
    )


def _record_findings(ctx: CheckinContext, checkin: Checkin, verdict: Verdict,
                     error: ImageError | QualityError | None, duplicate_of: int | None, found: _Analysed | None,
                     liveness: dict[str, Any] | None) -> None:
    checkin.status, checkin.reasons, checkin.liveness = verdict.status, list(verdict.reasons), liveness
    if error is not None:
        checkin.failure_code = error.code
        checkin.quality = error.quality if isinstance(error, QualityError) and error.quality else None
        checkin.engine_version = ctx.engine.version
    elif duplicate_of is not None:
        checkin.match = {"duplicate_of": duplicate_of}
    elif found is not None:
        refs, match = found.references, found.match
        checkin.quality, checkin.flags = found.analysis.quality, found.flags
        checkin.exif = found.analysis.exif or None
        checkin.engine_version = ctx.engine.version
        checkin.match = match.as_dict()
        if refs.unusable or refs.encoded_now:
            checkin.match["references"] = {"active": refs.active, "used": len(refs.references),
                                           "encoded_now": refs.encoded_now, "unusable": refs.unusable}
        if match.best_index is not None:
            checkin.best_reference_id = refs.references[match.best_index].id
        checkin.location = found.location.location


def _follow_up(ctx: CheckinContext, checkin: Checkin, person: Person, task: Task | None) -> None:
    ctx.session.add(checkin)
    ctx.session.flush()
    if task is not None and checkin.status != CheckinStatus.FAILED:
        task.status = TaskStatus.COMPLETED
        task.completed_at = ctx.now
        task.checkin_id = checkin.id
    alerts.on_checkin_recorded(session=ctx.session, checkin=checkin, person=person, now=ctx.now)
