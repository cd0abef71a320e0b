"""Video clips: decode with OpenCV within limits, sample frames, find faces, and summarise a remote inspection
or measure a liveness challenge.

Cost model (one core, 640x360 or a 368x656 selfie; bench/video_bench.py): decoding every frame ~0.2-1.5 ms, a
whole-frame search with YuNet (~11-16 ms) plus each face's templates (SFace and, with the fused matcher, dlib's
ResNet: ~30 ms a face) ~45-50 ms for one face, a search with dlib's HOG in a small crop around the last known face
plus its 68 landmarks ~5-6 ms (YuNet in the same crop: 8-16 ms, and without landmarks that hold up in deep turns,
see searched_points). An inspection therefore searches whole frames about 3 times a second; a liveness clip, which
needs 10 samples a second to catch a blink, searches whole frames every 0.4 s and follows the face in a crop in
between.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cv2
import numpy as np

from verification import liveness
from verification.engine import FaceEngine, FaceObservation
from verification.errors import InputError
from verification.matching import Band, band_for, face_distances
from verification.models import DLIB_LOCK
from verification.quality import yaw_from_five

# Frames larger than this (long side) are shrunk before analysis; the detector works on 640 px anyway.
_ANALYSIS_LONG_SIDE = 1280
# The face is scaled to about this size for the search in a crop: HOG's window is 80 px.
_TRACK_FACE_PX = 100
# The crop around the last known face, in face sides on each side.
_TRACK_MARGIN = 0.6
# Timestamps may overrun the nominal duration by a frame or two.
_DURATION_SLACK_S = 0.5
# A clip cannot hold more frames than this per second of its allowed duration (guards against broken timestamps).
_MAX_FPS = 240
# The engine's 68 points are trusted in a searched frame (where HOG did not find the face) only when their yaw is
# within this many degrees of the yaw of the detector's five points. Measured on the three real clips of
# docs/liveness.md: within 16 degrees in all 556 confirmed frames turned less than about 40 degrees; beyond 45 in
# 29 of 29 frames of the selfie's deep turn and 96 of 125 frames of the woman's profiles, where the points collapse.
_MAX_YAW_DISAGREEMENT = 45.0


class VideoErrorCode(StrEnum):
    """Why an upload cannot be used as a video."""

    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    VIDEO_TOO_LARGE = "video_too_large"
    VIDEO_TOO_LONG = "video_too_long"
    INVALID_VIDEO = "invalid_video"


class VideoError(InputError):
    """The upload cannot be used as a video (a VideoErrorCode)."""


@dataclass(frozen=True)
class VideoLimits:
    """What a clip may be: bytes, seconds and pixels per frame."""

    max_bytes: int = 30 * 1024 * 1024
    max_seconds: float = 30.0
    max_pixels: int = 1920 * 1088


@dataclass(frozen=True)
class VideoInfo:
    """Container facts read before decoding."""

    content_type: str
    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float | None


@dataclass
class Sample:
    """One decoded frame chosen for analysis."""

    number: int  # position in the decoded stream
    time_s: float
    rgb: np.ndarray


_CONTAINER_SUFFIX = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-msvideo": ".avi",
}
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}


def sniff_video_type(data: bytes) -> str | None:
    """Return the container type from magic bytes (MP4/MOV, WebM/Matroska, AVI), or None."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _IMAGE_BRANDS:
            return None  # HEIC/AVIF still images share the ISO-BMFF container
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    if len(data) >= 12 and data[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "video/quicktime"  # old QuickTime files start without ftyp
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "video/x-msvideo"
    return None


def _check_bytes(data: bytes, limits: VideoLimits) -> str:
    if len(data) > limits.max_bytes:
        raise VideoError(VideoErrorCode.VIDEO_TOO_LARGE,
                         f"The video is larger than {limits.max_bytes // (1024 * 1024)} MB.")
    content_type = sniff_video_type(data)
    if content_type is None:
        raise VideoError(VideoErrorCode.UNSUPPORTED_MEDIA_TYPE, "The upload is not an MP4, MOV, WebM or AVI video.")
    return content_type


class _Clip:
    """An opened capture on a private temporary copy of the bytes (OpenCV reads files, not buffers)."""

    def __init__(self, data: bytes, limits: VideoLimits) -> None:
        content_type = _check_bytes(data, limits)
        self._dir = tempfile.TemporaryDirectory(prefix="clip-")
        path = os.path.join(self._dir.name, "clip" + _CONTAINER_SUFFIX[content_type])
        with open(path, "wb") as handle:
            handle.write(data)
        self.capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        if not self.capture.isOpened():
            self.close()
            raise VideoError(VideoErrorCode.INVALID_VIDEO, "The video could not be read; it may be damaged.")
        width = int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        duration = count / fps if fps > 0 and count > 0 else None
        self.info = VideoInfo(content_type, width, height, fps, count, duration)
        try:
            if width <= 0 or height <= 0:
                raise VideoError(VideoErrorCode.INVALID_VIDEO, "The video has no picture.")
            if width * height > limits.max_pixels:
                raise VideoError(VideoErrorCode.VIDEO_TOO_LARGE,
                                 f"Frames of {width}x{height} are larger than accepted; record at 1080p or less.")
            if duration is not None and duration > limits.max_seconds + _DURATION_SLACK_S:
                raise _too_long(limits)
        except VideoError:
            self.close()
            raise

    def close(self) -> None:
        """Release the capture and delete the temporary copy."""
        capture = getattr(self, "capture", None)
        if capture is not None:
            capture.release()
        self._dir.cleanup()


def _too_long(limits: VideoLimits) -> VideoError:
    return VideoError(VideoErrorCode.VIDEO_TOO_LONG, f"The video is longer than {limits.max_seconds:g} seconds.")


def probe_video(data: bytes, limits: VideoLimits) -> VideoInfo:
    """Check size, type, frame size and duration, decoding only when the container declares no duration."""
    clip = _Clip(data, limits)
    try:
        capture = clip.capture
        if not capture.grab():
            raise VideoError(VideoErrorCode.INVALID_VIDEO, "The video holds no frame that can be decoded.")
        if clip.info.duration_s is not None:
            return clip.info
        # Streams without a declared length (some WebM): walk the frames' timestamps, within the limits.
        frames, last = 1, 0.0
        while capture.grab():
            frames += 1
            last = max(last, capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
            if frames > limits.max_seconds * _MAX_FPS or last > limits.max_seconds + _DURATION_SLACK_S:
                raise _too_long(limits)
        fps = clip.info.fps if clip.info.fps > 0 else (frames / last if last > 0 else 0.0)
        duration = frames / fps if fps > 0 else last
        info = clip.info
        return VideoInfo(info.content_type, info.width, info.height, fps, frames, duration)
    finally:
        clip.close()


def _shrink(frame: np.ndarray, long_side: int) -> np.ndarray:
    h, w = frame.shape[:2]
    if max(h, w) <= long_side:
        return frame
    factor = long_side / max(h, w)
    return cv2.resize(frame, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)


def sample_frames(data: bytes, *, limits: VideoLimits, fps: float,
                  max_frames: int) -> Generator[Sample, None, None]:
    """Decode the clip and yield RGB frames about 1/fps seconds apart (at most max_frames); raises VideoError."""
    clip = _Clip(data, limits)
    try:
        capture = clip.capture
        nominal_fps = clip.info.fps if clip.info.fps > 0 else 30.0
        hard_cap = int(limits.max_seconds * _MAX_FPS)
        interval = 1.0 / fps
        next_time = 0.0
        number = -1
        yielded = 0
        last_time = -1.0
        while capture.grab():
            number += 1
            if number > hard_cap:
                raise _too_long(limits)
            stamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            # Some containers give no timestamps; fall back to the nominal rate.
            time_s = stamp if stamp > last_time or number == 0 else number / nominal_fps
            last_time = time_s
            if time_s > limits.max_seconds + _DURATION_SLACK_S:
                raise _too_long(limits)
            if yielded >= max_frames or time_s + 1e-6 < next_time:
                continue
            ok, frame = capture.retrieve()
            if not ok or frame is None:
                continue
            next_time = max(next_time + interval, time_s + interval / 2)
            yielded += 1
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            rgb = cv2.cvtColor(_shrink(frame, _ANALYSIS_LONG_SIDE), cv2.COLOR_BGR2RGB)
            yield Sample(number=number, time_s=round(time_s, 3), rgb=np.ascontiguousarray(rgb))
        if number < 0:
            raise VideoError(VideoErrorCode.INVALID_VIDEO, "The video holds no frame that can be decoded.")
    finally:
        clip.close()


# ------------------------------------------------------------------------------------------------- faces
def significant_faces(faces: Sequence[FaceObservation], ratio: float) -> list[FaceObservation]:
    """Faces the detector confirmed (engine's rule) and not much smaller than the largest such face, largest first."""
    confirmed = sorted((f for f in faces if f.confirmed), key=lambda f: _side(f.box), reverse=True)
    if not confirmed:
        return []
    largest = _side(confirmed[0].box)
    return [f for f in confirmed if _side(f.box) >= ratio * largest]


def _side(box: tuple[int, int, int, int]) -> float:
    top, right, bottom, left = box
    return ((right - left) + (bottom - top)) / 2.0


def _points(face: FaceObservation) -> np.ndarray | None:
    return liveness.landmark_points(face.landmarks) if face.landmarks else None


def track_face(engine: FaceEngine, rgb: np.ndarray,
               box: tuple[int, int, int, int]) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """Find the face again in a crop around its last box; returns the new box and 68 points, or None."""
    top, right, bottom, left = box
    side = max(right - left, bottom - top, 1)
    margin = _TRACK_MARGIN * side
    h, w = rgb.shape[:2]
    x0, y0 = max(0, int(left - margin)), max(0, int(top - margin))
    x1, y1 = min(w, int(right + margin)), min(h, int(bottom + margin))
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    scale = _TRACK_FACE_PX / side
    crop = rgb[y0:y1, x0:x1]
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    small = np.ascontiguousarray(
        cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR))
    models = engine.models
    with DLIB_LOCK:
        rects, _scores, _ = models.face_detector.run(small, 0, 0.0)
        if not rects:
            return None
        best = max(rects, key=lambda r: r.width() * r.height())
        rect = models.dlib.rectangle(round(best.left() / scale + x0), round(best.top() / scale + y0),
                                     round(best.right() / scale + x0), round(best.bottom() / scale + y0))
        shape = models.landmarks_68(rgb, rect)
    points = np.asarray([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    return (rect.top(), rect.right(), rect.bottom(), rect.left()), points


# ---------------------------------------------------------------------------------------------- liveness
@dataclass(frozen=True)
class LivenessSampling:
    """How densely a liveness clip is looked at."""

    fps: float = 10.0  # a deliberate blink lasts 0.2-0.5 s: at least two samples
    max_frames: int = 100
    identity_every: int = 4  # a full face search (faces counted, encoding) every this many samples (0.4 s)


def liveness_measures(data: bytes, *, engine: FaceEngine, limits: VideoLimits,
                      sampling: LivenessSampling | None = None) -> list[liveness.FrameMeasures]:
    """Per-sample liveness measures of a clip; raises VideoError."""
    plan = sampling or LivenessSampling()
    samples = sample_frames(data, limits=limits, fps=plan.fps, max_frames=plan.max_frames)
    with closing(samples):
        return _measure_sequence(((s.time_s, s.rgb) for s in samples), engine=engine, plan=plan)


def liveness_measures_from_images(images: Sequence[np.ndarray], *, engine: FaceEngine, interval_s: float = 0.1,
                                  sampling: LivenessSampling | None = None) -> list[liveness.FrameMeasures]:
    """Per-frame liveness measures of still frames taken interval_s apart (upright RGB arrays)."""
    plan = sampling or LivenessSampling()
    frames = ((i * interval_s, _shrink(np.ascontiguousarray(rgb), _ANALYSIS_LONG_SIDE))
              for i, rgb in enumerate(images))
    return _measure_sequence(frames, engine=engine, plan=plan)


def searched_points(engine: FaceEngine, rgb: np.ndarray, face: FaceObservation) -> np.ndarray | None:
    """The 68 points of a face found by a whole-frame search, or None when no trustworthy fit exists.

    The points are placed from HOG's own box in a crop around the face, as in the frames between searches (the
    predictor was trained on HOG boxes). When HOG does not find the face there (a near-profile), the engine's
    points, predicted from the detector's box, are used only if their yaw agrees with the detector's five points:
    beyond about 50 degrees of turn the prediction from a YuNet box collapses to a near-frontal shape with the
    nose in the middle, i.e. a turn the other way (docs/liveness.md, "Landmarks").
    """
    tracked = track_face(engine, rgb, face.box)
    if tracked is not None:
        return tracked[1]
    points = _points(face)
    if points is None or face.points5 is None:
        return points
    disagreement = abs(liveness.head_yaw(points) - yaw_from_five(np.asarray(face.points5, dtype=np.float64)))
    return points if disagreement <= _MAX_YAW_DISAGREEMENT else None


def _measure_sequence(frames: Iterator[tuple[float, np.ndarray]], *, engine: FaceEngine,
                      plan: LivenessSampling) -> list[liveness.FrameMeasures]:
    ratio = engine.settings.significant_face_ratio
    measures: list[liveness.FrameMeasures] = []
    box: tuple[int, int, int, int] | None = None
    for index, (time_s, rgb) in enumerate(frames):
        tracked = None
        if box is not None and index % plan.identity_every != 0:
            tracked = track_face(engine, rgb, box)
        if tracked is not None:
            box, points = tracked
            measures.append(liveness.measure_points(points, time_s=time_s))
            continue
        faces = significant_faces(engine.encode_frame(rgb), ratio)
        if not faces:
            # Nothing confirmed (an unconfirmed candidate is a hard pose or no face): no measures, no identity.
            box = None
            measures.append(liveness.FrameMeasures(time_s=time_s, faces=0))
            continue
        primary = faces[0]
        box = primary.box
        points_or_none = searched_points(engine, rgb, primary)
        if points_or_none is None:
            measures.append(liveness.FrameMeasures(time_s=time_s, faces=len(faces), encoding=primary.encoding))
        else:
            measures.append(liveness.measure_points(points_or_none, time_s=time_s, faces=len(faces),
                                                    encoding=primary.encoding))
    return measures


# -------------------------------------------------------------------------------------------- inspection
@dataclass(frozen=True)
class InspectionSettings:
    """Sampling, evidence and decision limits of a remote video inspection (see docs/liveness.md)."""

    sample_fps: float = 3.0
    max_frames: int = 36
    key_frames: int = 4
    key_frame_long_side: int = 640
    key_frame_quality: int = 85
    # Verified needs the person alone in at least this many frames, and in this share of the frames with a face.
    min_matching_frames: int = 3
    min_matching_share: float = 0.5
    # Faces of other people are grouped into identities at the same-person tolerance of liveness clips (SFace
    # templates, see LivenessThresholds.same_person_distance for the measurements).
    other_identity_distance: float = 1.0
    # Movement: frames whose landmark shape differs from the clip's typical (medoid) shape after similarity
    # alignment by at least min_shape_change (RMS, in units of the shape's size). Measured: repeated still photos,
    # also warped like a hand-held print, stay at or below 0.047; the Hamilton clip's singer frames reach 0.07-0.22
    # (12 of 13 at or above 0.07). Movement is seen when enough frames move, so one odd landmark fit does not count.
    min_shape_change: float = 0.06
    min_moving_frames: int = 2
    min_moving_share: float = 0.2


@dataclass
class FrameFinding:
    """What one sampled frame of an inspection showed."""

    number: int
    time_s: float
    detected: int
    faces: int
    distance: float | None  # the primary face against the references
    band: Band | None
    other_people: int  # significant faces in the rejected band
    person_seen: bool  # some face in the verified band
    box: tuple[int, int, int, int] | None = None
    points: np.ndarray | None = field(default=None, repr=False)
    yaw: float | None = None
    other_encodings: list[np.ndarray] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {"frame": self.number, "time_s": self.time_s, "faces": self.faces, "detected": self.detected,
                "distance": None if self.distance is None else round(self.distance, 4), "band": self.band,
                "other_people": self.other_people}


@dataclass
class KeyFrame:
    """A JPEG kept as evidence."""

    number: int
    time_s: float
    reason: str
    jpeg: bytes = field(repr=False)


@dataclass
class Inspection:
    """The summary of an inspection clip and the key frames that back it."""

    summary: dict[str, Any]
    key_frames: list[KeyFrame]


def _procrustes_residual(a: np.ndarray, b: np.ndarray) -> float:
    """RMS distance between two point sets after the best similarity alignment, in units of their size."""
    a0 = a - a.mean(axis=0)
    b0 = b - b.mean(axis=0)
    na, nb = float(np.sqrt((a0**2).sum() / len(a0))), float(np.sqrt((b0**2).sum() / len(b0)))
    if na <= 0 or nb <= 0:
        return 0.0
    a0, b0 = a0 / na, b0 / nb
    u, _s, vt = np.linalg.svd(a0.T @ b0)
    rotation = u @ vt
    return float(np.sqrt(((a0 @ rotation - b0) ** 2).sum() / len(a0)))


def movement(findings: Sequence[FrameFinding], settings: InspectionSettings) -> dict[str, Any]:
    """How the main face moved: landmark shape change against the clip's typical shape (non-rigid) and box motion."""
    tracked = [f for f in findings if f.points is not None and f.box is not None]
    shapes = [f.points for f in tracked if f.points is not None]
    residuals: list[float] = []
    if len(shapes) >= 2:
        # The medoid shape: one odd landmark fit moves it less than it would move a mean.
        medoid = min(shapes, key=lambda p: sum(_procrustes_residual(p, q) for q in shapes))
        residuals = [_procrustes_residual(p, medoid) for p in shapes]
    moving = sum(1 for r in residuals if r >= settings.min_shape_change)
    shifts: list[float] = []
    for before, after in zip(tracked, tracked[1:], strict=False):
        assert before.box is not None and after.box is not None
        (t0, r0, b0, l0), (t1, r1, b1, l1) = before.box, after.box
        shifts.append(math.hypot((l1 + r1 - l0 - r0) / 2.0, (t1 + b1 - t0 - b0) / 2.0) / max(_side(before.box), 1.0))
    yaws = [f.yaw for f in tracked if f.yaw is not None]
    return {
        "seen": moving >= max(settings.min_moving_frames, settings.min_moving_share * len(residuals)),
        "moving_frames": moving,
        "frames_compared": len(residuals),
        "shape_change": round(statistics.median(residuals), 4) if residuals else 0.0,
        "head_shift": round(max(shifts, default=0.0), 3),
        "yaw_range_deg": round(max(yaws) - min(yaws), 1) if yaws else 0.0,
    }


def _encode_jpeg(rgb: np.ndarray, long_side: int, quality: int) -> bytes:
    small = _shrink(rgb, long_side)
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise VideoError(VideoErrorCode.INVALID_VIDEO, "A frame could not be encoded as JPEG.")
    return buffer.tobytes()


def _choose_key_frames(findings: list[FrameFinding], count: int) -> list[tuple[int, str]]:
    """Indices into findings worth keeping as evidence, with why: other people first, then the best match."""
    chosen: dict[int, str] = {}

    def add(index: int | None, reason: str) -> None:
        if index is not None and index not in chosen and len(chosen) < count:
            chosen[index] = reason

    add(next((i for i, f in enumerate(findings) if f.other_people), None), "other_person")
    add(next((i for i, f in enumerate(findings) if f.faces > 1), None), "multiple_faces")
    matched = [i for i, f in enumerate(findings) if f.distance is not None and f.band != "rejected"]
    add(min(matched, key=lambda i: findings[i].distance or 0.0) if matched else None, "best_match")
    with_face = [i for i, f in enumerate(findings) if f.faces > 0] or list(range(len(findings)))
    reason = "sample" if any(f.faces for f in findings) else "no_face"
    if with_face:
        for k in range(count):
            add(with_face[round(k * (len(with_face) - 1) / max(count - 1, 1))], reason)
    return sorted(chosen.items())


def _other_identities(findings: Sequence[FrameFinding], tolerance: float) -> int:
    means: list[np.ndarray] = []
    for finding in findings:
        for encoding in finding.other_encodings:
            if not means or float(face_distances(encoding, means).min()) > tolerance:
                means.append(encoding)
    return len(means)


def _decide(counts: dict[str, int], moved: bool, has_references: bool,
            settings: InspectionSettings) -> tuple[Band, list[str]]:
    if counts["frames_with_face"] == 0:
        return "rejected", ["no_face"]
    if not has_references:
        return "needs_review", ["no_references"]
    seen, others = counts["frames_person_seen"], counts["frames_other_person"]
    reasons: list[str] = []
    if others:
        reasons.append("other_person_seen")
    if counts["frames_multiple_faces"]:
        reasons.append("multiple_faces")
    if not moved:
        reasons.append("no_movement")
    # The relayed-video case: someone else is on camera as often as the person, or instead of them.
    if others and others >= seen:
        return "rejected", reasons
    matching = counts["frames_matching"]
    if seen == 0:
        reasons.append("person_not_verified")
    elif matching < settings.min_matching_frames or matching < settings.min_matching_share * counts["frames_with_face"]:
        reasons.append("few_matching_frames")
    return ("verified" if not reasons else "needs_review"), reasons


@dataclass
class SampledFaces:
    """The significant faces of one sampled frame, and a small copy of the frame for evidence."""

    number: int
    time_s: float
    detected: int
    faces: list[FaceObservation]
    thumbnail: np.ndarray = field(repr=False)
    # The main face's 68 points, placed as for liveness (searched_points); None without a trustworthy fit.
    points: np.ndarray | None = field(default=None, repr=False)


@dataclass
class ClipAnalysis:
    """Faces found in the sampled frames of a clip, before comparing them with anyone's references."""

    info: VideoInfo
    sample_fps: float
    frames: list[SampledFaces]
    engine_version: str
    analyse_ms: float


def analyse_clip(data: bytes, *, engine: FaceEngine, limits: VideoLimits,
                 settings: InspectionSettings | None = None) -> ClipAnalysis:
    """Sample the clip and find and encode the faces of each sampled frame; raises VideoError."""
    s = settings or InspectionSettings()
    started = time.perf_counter()
    ratio = engine.settings.significant_face_ratio
    info = probe_video(data, limits)
    fps = s.sample_fps
    if info.duration_s:
        # Long clips are sampled more thinly so the frame budget covers the whole clip.
        fps = min(fps, max(s.max_frames / info.duration_s, 0.2))
    frames: list[SampledFaces] = []
    samples = sample_frames(data, limits=limits, fps=fps, max_frames=s.max_frames)
    with closing(samples):
        for sample in samples:
            found = engine.encode_frame(sample.rgb)
            faces = significant_faces(found, ratio)
            frames.append(SampledFaces(number=sample.number, time_s=sample.time_s, detected=len(found),
                                       faces=faces, thumbnail=_shrink(sample.rgb, s.key_frame_long_side),
                                       points=searched_points(engine, sample.rgb, faces[0]) if faces else None))
    return ClipAnalysis(info=info, sample_fps=fps, frames=frames, engine_version=engine.version,
                        analyse_ms=round((time.perf_counter() - started) * 1000.0, 1))


def _finding(sampled: SampledFaces, refs: Sequence[np.ndarray], verify: float, reject: float) -> FrameFinding:
    finding = FrameFinding(number=sampled.number, time_s=sampled.time_s, detected=sampled.detected,
                           faces=len(sampled.faces), distance=None, band=None, other_people=0, person_seen=False)
    for k, face in enumerate(sampled.faces):
        distance = float(face_distances(face.encoding, refs).min()) if len(refs) else None
        band = band_for(distance, verify, reject) if len(refs) else None
        if k == 0:
            finding.distance, finding.band, finding.box = distance, band, face.box
            finding.points = sampled.points
            finding.yaw = liveness.head_yaw(finding.points) if finding.points is not None else None
        if band == "rejected":
            finding.other_people += 1
            finding.other_encodings.append(face.encoding)
        elif band == "verified":
            finding.person_seen = True
    return finding


def summarise(analysis: ClipAnalysis, *, references: Sequence[np.ndarray], verify_threshold: float,
              reject_threshold: float, settings: InspectionSettings | None = None) -> Inspection:
    """Compare the faces of an analysed clip with a person's references: counts, movement, band, key frames."""
    s = settings or InspectionSettings()
    refs = list(references)
    findings = [_finding(frame, refs, verify_threshold, reject_threshold) for frame in analysis.frames]
    counts = {
        "frames_sampled": len(findings),
        "frames_with_face": sum(1 for f in findings if f.faces),
        "frames_matching": sum(1 for f in findings if f.faces == 1 and f.band == "verified"),
        "frames_person_seen": sum(1 for f in findings if f.person_seen),
        "frames_inconclusive": sum(1 for f in findings if f.faces and not f.person_seen and not f.other_people),
        "frames_other_person": sum(1 for f in findings if f.other_people),
        "frames_multiple_faces": sum(1 for f in findings if f.faces > 1),
        "frames_no_face": sum(1 for f in findings if not f.faces),
    }
    # Movement is judged on the person's frames (those whose main face is not someone else), or on whoever is there.
    own = [f for f in findings if f.faces and f.band != "rejected"] or [f for f in findings if f.faces]
    moved = movement(own, s)
    band, reasons = _decide(counts, moved["seen"], bool(refs), s)
    distances = [f.distance for f in findings if f.person_seen and f.distance is not None]
    key_frames = [
        KeyFrame(number=findings[i].number, time_s=findings[i].time_s, reason=why,
                 jpeg=_encode_jpeg(analysis.frames[i].thumbnail, s.key_frame_long_side, s.key_frame_quality))
        for i, why in _choose_key_frames(findings, s.key_frames)
    ]
    info = analysis.info
    summary: dict[str, Any] = {
        **counts,
        "other_identities": _other_identities(findings, s.other_identity_distance),
        "movement": moved,
        "band": band,
        "reasons": reasons,
        "best_distance": round(min(distances), 4) if distances else None,
        "verify_threshold": verify_threshold,
        "reject_threshold": reject_threshold,
        "video": {"content_type": info.content_type, "width": info.width, "height": info.height,
                  "fps": round(info.fps, 3), "duration_s": None if info.duration_s is None else
                  round(info.duration_s, 2), "sample_fps": round(analysis.sample_fps, 3)},
        "frames": [f.as_dict() for f in findings],
        "engine_version": analysis.engine_version,
        "timings_ms": {"analyse": analysis.analyse_ms},
    }
    return Inspection(summary=summary, key_frames=key_frames)


def inspect_clip(data: bytes, *, engine: FaceEngine, references: Sequence[np.ndarray], limits: VideoLimits,
                 settings: InspectionSettings | None = None) -> Inspection:
    """Summarise who is in a clip, whether they move, and keep a few key frames; raises VideoError."""
    analysis = analyse_clip(data, engine=engine, limits=limits, settings=settings)
    return summarise(analysis, references=references, verify_threshold=engine.settings.verify,
                     reject_threshold=engine.settings.reject, settings=settings)
