"""Active liveness: blink, mouth and head-turn measures from 68-point landmarks, and the check that requested
actions happen in order, by one person, across the frames of a short clip.

The landmarks are dlib's 68 points (verification.video places them); the identity frames carry the engine's
deciding template (SFace: unit vectors, compared by Euclidean distance, sqrt(2 - 2 cos)).

Direction convention: ``turn_left`` means the person turns the head to their OWN left. In an un-mirrored frame
(what the camera sensor saw, as a second person standing at the camera would see it) the nose then moves toward
the right edge of the image. Phones often mirror front-camera recordings; the client says so with ``mirrored``,
and the direction is flipped.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verification.matching import band_for, face_distances
from verification.settings import EngineSettings

ACTIONS = ("blink", "turn_left", "turn_right", "open_mouth")

# Where face_recognition-style groups sit in the 68-point layout; inner-lip points are only in the lip groups.
_GROUP_SLICES: dict[str, tuple[int, int]] = {
    "chin": (0, 17),
    "left_eyebrow": (17, 22),
    "right_eyebrow": (22, 27),
    "nose_bridge": (27, 31),
    "nose_tip": (31, 36),
    "left_eye": (36, 42),
    "right_eye": (42, 48),
}
# Positions inside the top_lip / bottom_lip groups of points 48..67 (see verification.engine._LANDMARK_GROUPS).
_TOP_LIP_POINTS = (48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60)
_BOTTOM_LIP_POINTS = (54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64)


@dataclass(frozen=True)
class LivenessThresholds:
    """Decision limits; the values and the measurements behind them are described in docs/liveness.md."""

    # A frame shows closed eyes when the eye aspect ratio falls to this fraction of the person's open-eye
    # baseline. Literature: open ~0.3, closed ~0.05-0.15 (ratio <= 0.5). Measured on the Hamilton clip, squints and
    # downward glances reached 0.70 of the baseline and the 99th percentile frame-to-frame change was 20%.
    blink_closed_ratio: float = 0.6
    # ... and the eyes count as open again (before and after the dip) at this fraction of the baseline.
    blink_open_ratio: float = 0.8
    # Eye measures are only trusted near the starting pose: turning distorts the eye outline.
    blink_max_yaw_change: float = 20.0
    # A turn is a change of the estimated yaw of at least this many degrees from the start, in the asked direction.
    # A still face jitters by ~1-2 degrees; a deliberate turn moves the estimate by 30-60 degrees.
    turn_degrees: float = 20.0
    # Mouth open: inner-lip opening / mouth width at least this much (talking and smiling in news photos: 99th
    # percentile 0.45; singing on the Hamilton clip: max 0.47) and this much above the person's resting mouth.
    mouth_open_min: float = 0.5
    mouth_open_rise: float = 0.3
    # Frames of one person in one clip (SFace templates; docs/liveness.md, "Identity across frames"). Measured on
    # the real clips, every confirmed face at 10 samples a second, distance to the person's mean template: frontal
    # selfie with blinks (140 frames) max 0.34; the Hamilton singer (41, 50-90 px faces, yaw to 48 degrees) max
    # 0.79; selfie with turns, looking down and up (207) p95 0.88, max 1.16 (looking down); the woman turning all
    # the way round (363, profiles included) p95 1.17, max 1.23 (profile); the challenge clips cut from them at
    # most 0.59 from their mean. Other people: a frame of one against another's mean at least 1.03 (the woman's
    # profiles against the singer; 1.12 for every other pairing), frame pairs at least 1.09 (median 1.40). 1.0
    # (cosine 0.5, the check-in verify band) keeps everyone else apart; a person's extreme poses fall outside as
    # outliers. dlib's 0.6 would split the selfie man's own turning challenge (9 of 20 identity frames outside).
    # The reference match keeps the engine's calibrated bands.
    same_person_distance: float = 1.0
    # Share of identity frames allowed outside the main person's cluster (or rejected against the references).
    max_outlier_fraction: float = 0.2
    # Fewer measured frames than this cannot show a sequence of actions.
    min_face_frames: int = 5
    # The starting pose is the median of this many first measured frames.
    start_frames: int = 3


@dataclass(frozen=True)
class FrameMeasures:
    """What one sampled frame shows; measures are None when no face was measured in it."""

    time_s: float
    ear: float | None = None
    mouth: float | None = None
    yaw: float | None = None  # degrees; positive when the nose points toward the image's right edge
    # Significant faces in the whole frame; None for frames where only the tracked face was measured.
    faces: int | None = None
    encoding: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def measured(self) -> bool:
        """Whether the frame has face measures."""
        return self.ear is not None and self.mouth is not None and self.yaw is not None


@dataclass
class StepResult:
    """One requested action and whether (and when) it was seen."""

    action: str
    passed: bool | None  # None: not evaluated because an earlier step failed
    time_s: float | None = None
    value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {"action": self.action, "passed": self.passed, "time_s": _round(self.time_s, 2),
                "value": _round(self.value, 3)}


@dataclass
class IdentityResult:
    """Whether the frames show one person, and how that person compares with the references."""

    identity_frames: int
    multiple_face_frames: int
    clusters: int
    outlier_frames: int
    rejected_frames: int
    same_person: bool
    distance: float | None  # median over the main person's frames of the distance to the nearest reference
    band: str | None  # None when there are no references
    different_person: bool  # the frames show someone other than the enrolled person

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "identity_frames": self.identity_frames,
            "multiple_face_frames": self.multiple_face_frames,
            "clusters": self.clusters,
            "outlier_frames": self.outlier_frames,
            "rejected_frames": self.rejected_frames,
            "same_person": self.same_person,
            "distance": _round(self.distance, 4),
            "band": self.band,
            "different_person": self.different_person,
        }


@dataclass
class LivenessResult:
    """The outcome of checking a clip against a challenge."""

    passed: bool
    failed_step: str | None
    steps: list[StepResult]
    identity: IdentityResult
    frames: int
    face_frames: int
    baseline: dict[str, float | None]

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, as stored on the check-in."""
        return {
            "passed": self.passed,
            "failed_step": self.failed_step,
            "steps": [step.as_dict() for step in self.steps],
            "identity": self.identity.as_dict(),
            "different_person": self.identity.different_person,
            "frames": self.frames,
            "face_frames": self.face_frames,
            "baseline": {k: _round(v, 3) for k, v in self.baseline.items()},
        }


# ----------------------------------------------------------------------------------------------- measures
def landmark_points(landmarks: Mapping[str, Sequence[tuple[float, float]]]) -> np.ndarray:
    """The 68 points (68x2 float) from face_recognition-style landmark groups."""
    points = np.zeros((68, 2), dtype=np.float64)
    for name, (start, end) in _GROUP_SLICES.items():
        points[start:end] = np.asarray(landmarks[name], dtype=np.float64)
    for group, order in (("top_lip", _TOP_LIP_POINTS), ("bottom_lip", _BOTTOM_LIP_POINTS)):
        for position, index in enumerate(order):
            points[index] = landmarks[group][position]
    return points


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def _eye_ratio(eye: np.ndarray) -> float:
    width = _dist(eye[0], eye[3])
    if width <= 0:
        return 0.0
    return (_dist(eye[1], eye[5]) + _dist(eye[2], eye[4])) / (2.0 * width)


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Mean eye aspect ratio of both eyes (Soukupova & Cech 2016): eyelid opening over eye width."""
    return (_eye_ratio(points[36:42]) + _eye_ratio(points[42:48])) / 2.0


def mouth_open_ratio(points: np.ndarray) -> float:
    """Inner-lip opening (mean of three vertical gaps) over the inner mouth width."""
    width = _dist(points[60], points[64])
    if width <= 0:
        return 0.0
    gap = _dist(points[61], points[67]) + _dist(points[62], points[66]) + _dist(points[63], points[65])
    return gap / (3.0 * width)


def head_yaw(points: np.ndarray) -> float:
    """Yaw in degrees from the nose tip's place between the jaw ends; positive toward the image's right edge.

    The head is treated as a cylinder: the nose tip moves by sin(yaw) of the half-width. Measured along the
    jaw line, so tilting the head (roll) does not read as a turn, and a flat photo turned in front of the camera
    keeps the nose at the same fraction of the jaw: it does not read as a turn either.
    """
    left, right, nose = points[0], points[16], points[30]
    axis = right - left
    width = float(np.linalg.norm(axis))
    if width <= 0:
        return 0.0
    offset = float(np.dot(nose - (left + right) / 2.0, axis / width)) / (width / 2.0)
    return math.degrees(math.asin(max(-1.0, min(1.0, offset))))


def measure_points(points: np.ndarray, *, time_s: float, faces: int | None = None,
                   encoding: np.ndarray | None = None) -> FrameMeasures:
    """The liveness measures of one face's 68 points."""
    return FrameMeasures(time_s=time_s, ear=eye_aspect_ratio(points), mouth=mouth_open_ratio(points),
                         yaw=head_yaw(points), faces=faces, encoding=encoding)


# ------------------------------------------------------------------------------------------------ identity
def _bands(verify: float | None, reject: float | None) -> tuple[float, float]:
    """The given bands, or the default engine's for the template its frames carry."""
    if verify is None or reject is None:
        defaults = EngineSettings()
        verify = defaults.verify if verify is None else verify
        reject = defaults.reject if reject is None else reject
    return float(verify), float(reject)


def _clusters(encodings: list[np.ndarray], tolerance: float) -> list[int]:
    """Greedy clustering in time order: each encoding joins the nearest cluster mean within tolerance."""
    means: list[np.ndarray] = []
    counts: list[int] = []
    labels: list[int] = []
    for encoding in encodings:
        if means:
            distances = face_distances(encoding, means)
            best = int(np.argmin(distances))
            if distances[best] <= tolerance:
                counts[best] += 1
                means[best] = means[best] + (encoding - means[best]) / counts[best]
                labels.append(best)
                continue
        means.append(np.asarray(encoding, dtype=np.float64))
        counts.append(1)
        labels.append(len(means) - 1)
    return labels


def check_identity(frames: Sequence[FrameMeasures], references: Sequence[np.ndarray] = (), *,
                   thresholds: LivenessThresholds | None = None,
                   verify_threshold: float | None = None,
                   reject_threshold: float | None = None) -> IdentityResult:
    """One face per frame, one person across the frames, and that person against the references.

    The bands default to those of the default engine (its deciding template's calibrated bands).
    """
    t = thresholds or LivenessThresholds()
    verify_threshold, reject_threshold = _bands(verify_threshold, reject_threshold)
    identity = [f for f in frames if f.faces is not None and f.faces > 0 and f.encoding is not None]
    multiple = sum(1 for f in frames if f.faces is not None and f.faces > 1)
    encodings = [np.asarray(f.encoding, dtype=np.float64) for f in identity]
    labels = _clusters(encodings, t.same_person_distance)
    main = max(set(labels), key=labels.count) if labels else None
    ref_distances = [float(face_distances(e, references).min()) if len(references) else None for e in encodings]
    rejected = [d is not None and d > reject_threshold for d in ref_distances]
    outliers = sum(1 for label in labels if label != main)
    allowed = math.floor(t.max_outlier_fraction * len(identity))
    same_person = bool(identity) and outliers <= allowed
    main_distances = [d for d, label in zip(ref_distances, labels, strict=True) if label == main and d is not None]
    distance = statistics.median(main_distances) if main_distances else None
    band = band_for(distance, verify_threshold, reject_threshold) if len(references) else None
    rejected_count = sum(rejected)
    # Someone else is shown when the references say so (the main person is not the enrolled one, or too many
    # frames are); without references, when the frames split into people. Two clusters that the references do
    # not reject (a turned head drifts) fail the check, for an officer to look at, but are not called someone else.
    if len(references):
        different_person = band == "rejected" or rejected_count > allowed
    else:
        different_person = bool(identity) and not same_person
    return IdentityResult(
        identity_frames=len(identity),
        multiple_face_frames=multiple,
        clusters=len(set(labels)),
        outlier_frames=outliers,
        rejected_frames=rejected_count,
        same_person=same_person,
        distance=distance,
        band=band,
        different_person=different_person,
    )


# ------------------------------------------------------------------------------------------------- actions
def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _find_blink(frames: list[FrameMeasures], start: int, start_yaw: float, open_ear: float,
                t: LivenessThresholds) -> tuple[int, float] | None:
    """First open -> closed -> open sequence at or after start; returns the reopening frame and the lowest ratio."""
    closed = t.blink_closed_ratio * open_ear
    reopened = t.blink_open_ratio * open_ear
    seen_open = False
    dip: float | None = None
    for i in range(start, len(frames)):
        frame = frames[i]
        assert frame.ear is not None and frame.yaw is not None
        if abs(frame.yaw - start_yaw) > t.blink_max_yaw_change:
            continue
        if dip is None:
            if frame.ear >= reopened:
                seen_open = True
            elif frame.ear <= closed and seen_open:
                dip = frame.ear
        elif frame.ear <= dip:
            dip = frame.ear
        elif frame.ear >= reopened:
            return i, dip / open_ear
    return None


def _find_turn(frames: list[FrameMeasures], start: int, start_yaw: float, direction: int,
               t: LivenessThresholds) -> tuple[int, float] | None:
    for i in range(start, len(frames)):
        yaw = frames[i].yaw
        assert yaw is not None
        change = direction * (yaw - start_yaw)
        if change >= t.turn_degrees:
            return i, change
    return None


def _find_mouth(frames: list[FrameMeasures], start: int, rest: float,
                t: LivenessThresholds) -> tuple[int, float] | None:
    needed = max(t.mouth_open_min, rest + t.mouth_open_rise)
    for i in range(start, len(frames)):
        mouth = frames[i].mouth
        assert mouth is not None
        if mouth >= needed:
            return i, mouth
    return None


def check_actions(frames: Sequence[FrameMeasures], actions: Sequence[str], *,
                  references: Sequence[np.ndarray] = (), mirrored: bool = False,
                  thresholds: LivenessThresholds | None = None,
                  verify_threshold: float | None = None,
                  reject_threshold: float | None = None) -> LivenessResult:
    """Check that the actions happen in the given order, by one person (the enrolled one, when references are given).

    The first failing check is reported as failed_step: "face" (too few frames with a face), "one_face",
    "same_person", or the first action that was not seen after the previous one.
    """
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown:
        raise ValueError(f"unknown liveness actions: {unknown}")
    t = thresholds or LivenessThresholds()
    ordered = sorted(frames, key=lambda f: f.time_s)
    measured = [f for f in ordered if f.measured]
    identity = check_identity(ordered, references, thresholds=t, verify_threshold=verify_threshold,
                              reject_threshold=reject_threshold)

    start_yaw = _median([f.yaw for f in measured[: t.start_frames] if f.yaw is not None])
    open_ear = _median([f.ear for f in measured if f.ear is not None and f.yaw is not None and start_yaw is not None
                        and abs(f.yaw - start_yaw) <= t.blink_max_yaw_change])
    mouths = sorted(f.mouth for f in measured if f.mouth is not None)
    rest_mouth = mouths[len(mouths) // 5] if mouths else None  # 20th percentile: the mouth at rest
    baseline = {"yaw": start_yaw, "ear": open_ear, "mouth": rest_mouth}

    steps = [StepResult(action, None) for action in actions]
    failed: str | None = None
    if len(measured) < t.min_face_frames:
        failed = "face"
    elif identity.multiple_face_frames > 0:
        failed = "one_face"
    elif not identity.same_person or identity.different_person:
        failed = "same_person"

    cursor = 0
    # Own left is toward the image's right edge in an un-mirrored frame.
    left = -1 if mirrored else 1
    for step in steps:
        if failed is not None:
            break
        assert start_yaw is not None and rest_mouth is not None
        found: tuple[int, float] | None
        if step.action == "blink":
            found = _find_blink(measured, cursor, start_yaw, open_ear, t) if open_ear else None
        elif step.action == "open_mouth":
            found = _find_mouth(measured, cursor, rest_mouth, t)
        else:
            direction = left if step.action == "turn_left" else -left
            found = _find_turn(measured, cursor, start_yaw, direction, t)
        if found is None:
            step.passed = False
            failed = step.action
            break
        index, value = found
        step.passed, step.time_s, step.value = True, measured[index].time_s, value
        cursor = index + 1

    return LivenessResult(passed=failed is None, failed_step=failed, steps=steps, identity=identity,
                          frames=len(ordered), face_frames=len(measured), baseline=baseline)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)
