"""The check-in decision: a pure function from what the pipeline found to a status and its reason codes.

No database, no engine: every row of the decision table in the README ("Check-in decisions") is a case of `judge`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage.enums import CheckinStatus, Reason


@dataclass(frozen=True)
class FaceFacts:
    """The face match of a usable photo: the band of the closest face and how many references took part."""

    band: str  # verified, needs_review or rejected (verification.matching.Band)
    faces: int = 1  # significant faces in the photo
    references_active: int = 0  # the person's active references, usable or not
    references_used: int = 0  # those that carried the deciding templates


@dataclass(frozen=True)
class Timing:
    """When the photo was taken, when it arrived, and when the answered task was due (if any)."""

    captured_at: datetime
    received_at: datetime
    task_due_at: datetime | None = None


@dataclass(frozen=True)
class Facts:
    """Everything the decision depends on.

    Exactly one of `failure` (the photo was unusable: its error code), `duplicate_of` (the same bytes were already
    used by this person: that check-in's id) and `face` is set.
    """

    timing: Timing
    face: FaceFacts | None = None
    failure: str | None = None
    duplicate_of: int | None = None
    location_reasons: tuple[str, ...] = ()
    device_bound: bool = True
    liveness: Mapping[str, Any] | None = None  # the stored liveness result; None when the check-in carried none


@dataclass(frozen=True)
class CheckinPolicy:
    """The deployment's check-in rules (CHECKIN_LATE_MINUTES and the rest), built once from configuration."""

    late_after: timedelta = timedelta(minutes=10)
    future_tolerance: timedelta = timedelta(minutes=5)
    max_accuracy_m: float = 500.0
    # Fewer references than this cannot auto-verify: the calibration assumed at least this many.
    min_references: int = 3


@dataclass(frozen=True)
class Verdict:
    """A status and its reason codes, in the order they are recorded."""

    status: str
    reasons: tuple[str, ...] = ()


def _face_reasons(face: FaceFacts, rules: CheckinPolicy) -> list[str]:
    if not face.references_active:
        return [Reason.NO_REFERENCES]
    if not face.references_used:
        # References exist, but none carries this engine's template and none could be templated from its photo.
        return [Reason.REFERENCES_NOT_ENCODED]
    if face.references_used < rules.min_references and face.band == "verified":
        return [Reason.TOO_FEW_REFERENCES]
    by_band: dict[str, list[str]] = {"rejected": [Reason.FACE_MISMATCH], "needs_review": [Reason.FACE_INCONCLUSIVE]}
    return by_band.get(face.band, [])


def _circumstance_reasons(facts: Facts, rules: CheckinPolicy) -> list[str]:
    timing = facts.timing
    reasons = list(facts.location_reasons)
    if timing.received_at - timing.captured_at > rules.late_after:
        reasons.append(Reason.LATE)
    if timing.task_due_at is not None and timing.captured_at > timing.task_due_at:
        reasons.append(Reason.TASK_LATE)
    if not facts.device_bound:
        reasons.append(Reason.DEVICE_NOT_BOUND)
    if facts.liveness is not None and not facts.liveness.get("passed"):
        reasons.append(Reason.LIVENESS_FAILED)
    return reasons


def judge(facts: Facts, rules: CheckinPolicy) -> Verdict:
    """The status and reasons of a check-in.

    An unusable photo fails; reused bytes are rejected; otherwise a face mismatch (or a liveness clip of someone
    else) rejects, any reason sends the check-in to an officer, and only a check-in without one verifies.
    """
    if facts.failure is not None:
        return Verdict(CheckinStatus.FAILED)
    if facts.duplicate_of is not None:
        return Verdict(CheckinStatus.REJECTED, (Reason.DUPLICATE_IMAGE,))
    face = facts.face
    if face is None:
        raise ValueError("a usable photo is judged with its face facts")
    reasons = _face_reasons(face, rules)
    if face.faces > 1:
        reasons.append(Reason.MULTIPLE_FACES)
    reasons.extend(_circumstance_reasons(facts, rules))
    if face.band == "rejected" or (facts.liveness or {}).get("different_person"):
        return Verdict(CheckinStatus.REJECTED, tuple(reasons))
    return Verdict(CheckinStatus.NEEDS_REVIEW if reasons else CheckinStatus.VERIFIED, tuple(reasons))
