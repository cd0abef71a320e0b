"""The face engine: decode an upload, find and gate the face, encode it, and match encodings."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from verification import quality as q
from verification.decode import DecodedImage, decode_image
from verification.errors import QualityError, QualityErrorCode
from verification.matching import MatchResult, match_encodings
from verification.models import DLIB_LOCK, DlibModels, load_models
from verification.settings import EngineSettings, Purpose, QualityGates

ENGINE_VERSION = "dlib-resnet-v1/hog640/1"

# The 68-point layout, grouped the way face_recognition.face_landmarks() names the parts.
_LANDMARK_GROUPS: dict[str, list[int]] = {
    "chin": list(range(0, 17)),
    "left_eyebrow": list(range(17, 22)),
    "right_eyebrow": list(range(22, 27)),
    "nose_bridge": list(range(27, 31)),
    "nose_tip": list(range(31, 36)),
    "left_eye": list(range(36, 42)),
    "right_eye": list(range(42, 48)),
    "top_lip": [48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60],
    "bottom_lip": [54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64],
}
# Aligned chip used to confirm a detection: the size and padding dlib's encoder itself uses.
_CHIP_SIZE = 150
_CHIP_PADDING = 0.25
_MAX_UPSAMPLE = 4


@dataclass
class FaceObservation:
    """One face: box and landmarks in full-resolution upright coordinates, and its encoding."""

    box: tuple[int, int, int, int]  # top, right, bottom, left
    encoding: np.ndarray
    landmarks: dict[str, list[tuple[int, int]]] | None
    detector_score: float = 0.0
    # Detector score on the face's own aligned 150 px chip; a real face is found there again (>= 0),
    # a face-like texture (a mission patch, a pattern) usually is not.
    confirm_score: float = 0.0


@dataclass
class FaceAnalysis:
    """The outcome of analysing one upload."""

    faces: list[FaceObservation]
    quality: dict[str, Any]
    flags: list[str]
    content_type: str
    width: int
    height: int
    exif: dict[str, str]
    timings_ms: dict[str, float]

    @property
    def encoding(self) -> np.ndarray:
        """The primary (largest) face's 128-d encoding."""
        return self.faces[0].encoding


@dataclass
class _Candidate:
    rect: Any  # dlib.rectangle in encode-image coordinates
    shape: Any  # dlib.full_object_detection
    points: list[tuple[int, int]]
    score: float
    confirm_score: float
    side: float
    confirmed: bool = field(init=False)

    def __post_init__(self) -> None:
        self.confirmed = self.confirm_score >= 0.0


class FaceEngine:
    """Face detection, quality gating, encoding and matching with fixed settings."""

    def __init__(self, settings: EngineSettings | None = None, models: DlibModels | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.models = models or load_models()

    @property
    def version(self) -> str:
        """Engine identifier recorded with results; differs from ENGINE_VERSION only for non-default sizes."""
        if self.settings.detect_long_side == 640:
            return ENGINE_VERSION
        return f"dlib-resnet-v1/hog{self.settings.detect_long_side}/1"

    # ----------------------------------------------------------------------------------------- analyze
    def analyze(self, data: bytes, *, purpose: Purpose) -> FaceAnalysis:
        """Decode bytes, apply EXIF orientation, gate quality, encode; raises ImageError or QualityError."""
        if purpose not in ("enrol", "checkin"):
            raise ValueError(f"unknown purpose {purpose!r}")
        started = time.perf_counter()
        s = self.settings
        decoded = decode_image(data, max_pixels=s.max_pixels, min_long_side=s.decode_long_side)
        decoded_at = time.perf_counter()
        analysis = self._analyze_decoded(decoded, purpose=purpose)
        analysis.timings_ms["decode"] = round((decoded_at - started) * 1000.0, 2)
        analysis.timings_ms["total"] = round((time.perf_counter() - started) * 1000.0, 2)
        return analysis

    def analyze_image(self, rgb: np.ndarray, *, purpose: Purpose) -> FaceAnalysis:
        """Analyse an already decoded, upright uint8 RGB array (used by evaluation and tests)."""
        started = time.perf_counter()
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        decoded = DecodedImage(
            rgb=rgb,
            content_type="image/x-raw",
            width=rgb.shape[1],
            height=rgb.shape[0],
            scale=1.0,
            orientation=1,
        )
        analysis = self._analyze_decoded(decoded, purpose=purpose)
        analysis.timings_ms["total"] = round((time.perf_counter() - started) * 1000.0, 2)
        return analysis

    def _analyze_decoded(self, decoded: DecodedImage, *, purpose: Purpose) -> FaceAnalysis:
        s = self.settings
        gates = s.gates(purpose)
        work, work_scale = self._working_image(decoded.rgb)
        full_scale = decoded.scale * work_scale  # full-resolution pixels per work-image pixel
        quality: dict[str, Any] = {"width": decoded.width, "height": decoded.height, "purpose": purpose}
        flags: list[str] = []
        if not decoded.has_exif and decoded.content_type != "image/x-raw":
            flags.append("no_exif")
        timings: dict[str, float] = {}

        t0 = time.perf_counter()
        with DLIB_LOCK:
            detect_img, detect_scale = self._detection_image(work)
            rects, scores, upsample = self._detect(detect_img, allow_cnn=purpose == "enrol")
            if s.encode_on_detect_image:
                enc_img, enc_scale = detect_img, full_scale * detect_scale
                enc_rects = rects
            else:
                enc_img, enc_scale = work, full_scale
                enc_rects = [self._scale_rect(r, detect_scale) for r in rects]
            t1 = time.perf_counter()
            timings["detect"] = round((t1 - t0) * 1000.0, 2)
            quality["detect_upsample"] = upsample
            quality["faces_detected"] = len(rects)
            if not rects:
                self._raise_without_face(detect_img, gates, quality)
            candidates = [self._landmarks(enc_img, r, sc) for r, sc in zip(enc_rects, scores, strict=True)]
            faces, extra_flags = self._significant(candidates)
            flags.extend(extra_flags)
            primary = faces[0]
            quality.update(self._measure(enc_img, primary, enc_scale))
            if len(faces) > 1:
                quality["significant_faces"] = len(faces)
                if purpose == "enrol":
                    raise QualityError(
                        QualityErrorCode.MULTIPLE_FACES,
                        f"The photo shows {len(faces)} faces; an enrolment photo must show only the person.",
                        quality,
                    )
                flags.append("multiple_faces")
            self._gate(gates, quality)
            observations = [
                FaceObservation(
                    box=self._full_box(c.rect, enc_scale),
                    encoding=np.asarray(
                        self.models.encoder.compute_face_descriptor(enc_img, c.shape, s.num_jitters),
                        dtype=np.float64,
                    ),
                    landmarks=self._landmark_dict(c.points, enc_scale),
                    detector_score=round(c.score, 3),
                    confirm_score=round(c.confirm_score, 3),
                )
                for c in faces
            ]
            timings["landmarks_encode"] = round((time.perf_counter() - t1) * 1000.0, 2)
        if q.touches_border(observations[0].box, decoded.width, decoded.height):
            flags.append("face_cut_off")
        return FaceAnalysis(
            faces=observations,
            quality=quality,
            flags=flags,
            content_type=decoded.content_type,
            width=decoded.width,
            height=decoded.height,
            exif=decoded.exif,
            timings_ms=timings,
        )

    # ------------------------------------------------------------------------------------------ steps
    def _working_image(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        # Formats without DCT scaling (PNG, WEBP, HEIC) arrive at full size; shrink very large ones so
        # landmarks and quality crops do not walk 12 MP arrays.
        limit = 2 * self.settings.decode_long_side
        long_side = max(rgb.shape[:2])
        if long_side <= limit:
            return rgb, 1.0
        factor = self.settings.decode_long_side / long_side
        size = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(small), rgb.shape[1] / small.shape[1]

    def _detection_image(self, work: np.ndarray) -> tuple[np.ndarray, float]:
        long_side = max(work.shape[:2])
        target = self.settings.detect_long_side
        if long_side <= target:
            return work, 1.0
        factor = target / long_side
        size = (max(1, round(work.shape[1] * factor)), max(1, round(work.shape[0] * factor)))
        small = np.ascontiguousarray(cv2.resize(work, size, interpolation=cv2.INTER_AREA))
        return small, work.shape[1] / small.shape[1]

    def _detect(self, image: np.ndarray, *, allow_cnn: bool) -> tuple[list[Any], list[float], int]:
        """HOG detection at about detect_long_side; one extra upsampling pass if nothing was found."""
        target = self.settings.detect_long_side
        long_side = max(image.shape[:2])
        # Small images are searched at the same effective size as large ones, so the smallest findable
        # face is a fixed fraction of the photo (HOG's window is 80 px).
        upsample = 0 if long_side >= target else min(_MAX_UPSAMPLE, math.ceil(math.log2(target / long_side)))
        rects, scores, _ = self.models.face_detector.run(image, upsample, 0.0)
        if not rects and long_side * 2 ** (upsample + 1) <= 2 * target:
            upsample += 1
            rects, scores, _ = self.models.face_detector.run(image, upsample, 0.0)
        if not rects and self.settings.cnn_fallback:
            if allow_cnn or image.shape[0] * image.shape[1] <= self.settings.cnn_max_pixels:
                found = self.models.cnn_detector(image, upsample)
                rects = [d.rect for d in found]
                scores = [float(d.confidence) for d in found]
        return list(rects), [float(x) for x in scores], upsample

    def _scale_rect(self, rect: Any, factor: float) -> Any:
        if factor == 1.0:
            return rect
        return self.models.dlib.rectangle(
            round(rect.left() * factor),
            round(rect.top() * factor),
            round(rect.right() * factor),
            round(rect.bottom() * factor),
        )

    def _landmarks(self, image: np.ndarray, rect: Any, score: float) -> _Candidate:
        shape = self.models.landmarks_68(image, rect)
        points = [(p.x, p.y) for p in shape.parts()]
        chip = self.models.dlib.get_face_chip(image, shape, size=_CHIP_SIZE, padding=_CHIP_PADDING)
        _, chip_scores, _ = self.models.face_detector.run(chip, 0, -1.0)
        confirm = max((float(x) for x in chip_scores), default=-1.0)
        side = ((rect.right() - rect.left()) + (rect.bottom() - rect.top())) / 2.0
        return _Candidate(
            rect=rect, shape=shape, points=points, score=score, confirm_score=confirm, side=side
        )

    def _significant(self, candidates: list[_Candidate]) -> tuple[list[_Candidate], list[str]]:
        """Primary face first; keep other faces only if confirmed and not much smaller than the primary."""
        ordered = sorted(candidates, key=lambda c: (c.confirmed, c.side), reverse=True)
        primary = ordered[0]
        flags: list[str] = []
        if not primary.confirmed:
            flags.append("unconfirmed_face")
        faces = [primary]
        minimum = self.settings.significant_face_ratio * primary.side
        for other in ordered[1:]:
            if not other.confirmed:
                flags.append("unconfirmed_faces")
            elif other.side < minimum:
                flags.append("background_faces")
            else:
                faces.append(other)
        return faces, sorted(set(flags), key=flags.index)

    def _measure(self, image: np.ndarray, face: _Candidate, scale: float) -> dict[str, Any]:
        box = (face.rect.top(), face.rect.right(), face.rect.bottom(), face.rect.left())
        gray = q.to_luma(q.crop(image, box))
        return {
            "face_px": round(face.side * scale),
            "face_px_encoded": round(face.side, 1),
            "inter_eye_px": round(q.inter_eye_px(face.points) * scale, 1),
            "brightness": round(q.brightness(gray), 1),
            "blur": round(q.blur_score(gray), 1),
            "yaw": round(q.yaw_degrees(face.points), 1),
            "detector_score": round(face.score, 3),
            "confirm_score": round(face.confirm_score, 3),
        }

    def _gate(self, gates: QualityGates, quality: dict[str, Any]) -> None:
        size = quality["face_px_encoded"]
        if size < gates.min_face_px:
            raise QualityError(
                QualityErrorCode.FACE_TOO_SMALL,
                f"The face is about {size:.0f} px wide; at least {gates.min_face_px:.0f} px is needed.",
                quality,
            )
        if quality["brightness"] < gates.min_brightness:
            raise QualityError(QualityErrorCode.IMAGE_TOO_DARK, "The face is too dark to verify.", quality)
        if quality["brightness"] > gates.max_brightness:
            raise QualityError(QualityErrorCode.IMAGE_TOO_BRIGHT, "The face is over-exposed.", quality)
        if quality["blur"] < gates.min_blur:
            raise QualityError(
                QualityErrorCode.IMAGE_TOO_BLURRY, "The face is too blurry to verify.", quality
            )
        if gates.max_yaw_degrees is not None and abs(quality["yaw"]) > gates.max_yaw_degrees:
            raise QualityError(
                QualityErrorCode.FACE_NOT_FRONTAL, "The face must look straight at the camera.", quality
            )

    def _raise_without_face(self, image: np.ndarray, gates: QualityGates, quality: dict[str, Any]) -> None:
        # When no face is found in a very dark or washed-out photo, the exposure is the actionable cause.
        level = round(float(q.to_luma(image).mean()), 1)
        quality["image_brightness"] = level
        if level < gates.min_brightness:
            raise QualityError(
                QualityErrorCode.IMAGE_TOO_DARK, "The photo is too dark to find a face.", quality
            )
        if level > gates.max_brightness:
            raise QualityError(
                QualityErrorCode.IMAGE_TOO_BRIGHT, "The photo is too bright to find a face.", quality
            )
        raise QualityError(QualityErrorCode.NO_FACE, "No face was found in the photo.", quality)

    @staticmethod
    def _full_box(rect: Any, scale: float) -> tuple[int, int, int, int]:
        return (
            round(rect.top() * scale),
            round(rect.right() * scale),
            round(rect.bottom() * scale),
            round(rect.left() * scale),
        )

    @staticmethod
    def _landmark_dict(points: list[tuple[int, int]], scale: float) -> dict[str, list[tuple[int, int]]]:
        full = [(round(x * scale), round(y * scale)) for x, y in points]
        return {name: [full[i] for i in idx] for name, idx in _LANDMARK_GROUPS.items()}

    # ------------------------------------------------------------------------------------------- match
    def match(self, probe: np.ndarray, references: Sequence[np.ndarray]) -> MatchResult:
        """Match a probe encoding against a person's reference encodings (minimum distance)."""
        return match_encodings(
            probe,
            references,
            verify_threshold=self.settings.verify_threshold,
            reject_threshold=self.settings.reject_threshold,
        )

    def encode_frame(self, rgb: np.ndarray) -> list[FaceObservation]:
        """Find and encode every face in an upright RGB video frame, largest first, without quality gates."""
        frame = np.ascontiguousarray(rgb, dtype=np.uint8)
        with DLIB_LOCK:
            detect_img, detect_scale = self._detection_image(frame)
            rects, scores, _ = self._detect(detect_img, allow_cnn=False)
            candidates = [
                self._landmarks(frame, self._scale_rect(r, detect_scale), sc)
                for r, sc in zip(rects, scores, strict=True)
            ]
            candidates.sort(key=lambda c: c.side, reverse=True)
            jitters = self.settings.num_jitters
            return [
                FaceObservation(
                    box=self._full_box(c.rect, 1.0),
                    encoding=np.asarray(
                        self.models.encoder.compute_face_descriptor(frame, c.shape, jitters), dtype=np.float64
                    ),
                    landmarks=self._landmark_dict(c.points, 1.0),
                    detector_score=round(c.score, 3),
                    confirm_score=round(c.confirm_score, 3),
                )
                for c in candidates
            ]


_ENGINES: dict[EngineSettings, FaceEngine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(settings: EngineSettings | None = None) -> FaceEngine:
    """Return the process-wide engine for these settings, loading the dlib models on first use."""
    key = settings or EngineSettings()
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = FaceEngine(key)
            _ENGINES[key] = engine
        return engine


