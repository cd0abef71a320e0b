"""The face engine: decode an upload, find and gate the face, template it, and match templates.

The detector (YuNet by default, dlib's HOG on request) finds faces on a copy of about 640 px; the templates are
computed by the embedders on the larger decoded image: SFace, which decides by default, and dlib's ResNet when
the fused rule asks for its second opinion or liveness needs its 68 landmarks.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from verification import quality as q
from verification.decode import DecodedImage, decode_image
from verification.detectors import Detection, Detector, HogDetector, YuNetDetector
from verification.embedders import DLIB, SFACE, DlibEmbedder, Embedder, SFaceEmbedder
from verification.errors import QualityError, QualityErrorCode
from verification.matching import MatchResult, match_encodings
from verification.models import DlibModels, OpenCVModels, load_models, onnx_model_files
from verification.settings import EngineSettings, Purpose, QualityGates

ENGINE_VERSION = "sface-2021dec-int8bq+dlib-resnet-v1/yunet640/2"  # the default engine's version
_TEMPLATE_KEYS = {"sface": SFACE, "dlib": DLIB}

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


class TemplateSet(dict[str, np.ndarray]):
    """A face's templates by embedder key; a template not computed yet is computed on first access.

    The deciding template is computed with the analysis; the second opinion only when the rule asks for it, so a
    check-in pays for dlib only where the fused rule can change the outcome.
    """

    def __init__(self, computed: Mapping[str, np.ndarray], pending: Mapping[str, Callable[[], np.ndarray]]) -> None:
        super().__init__(computed)
        self._pending = dict(pending)

    def __missing__(self, key: str) -> np.ndarray:
        compute = self._pending.pop(key, None)
        if compute is None:
            raise KeyError(key)
        value = compute()
        self[key] = value
        return value

    def complete(self) -> dict[str, np.ndarray]:
        """Every template, computing the pending ones (and releasing the image they keep)."""
        for key in list(self._pending):
            self[key]  # noqa: B018  (__missing__ computes it)
        return dict(self)

    @property
    def pending(self) -> tuple[str, ...]:
        """Keys not computed yet."""
        return tuple(self._pending)


@dataclass
class FaceObservation:
    """One face: box and landmarks in full-resolution upright coordinates, and its templates."""

    box: tuple[int, int, int, int]  # top, right, bottom, left
    encoding: np.ndarray  # the deciding template (SFace by default)
    landmarks: dict[str, list[tuple[int, int]]] | None  # dlib's 68 points, grouped, when they were computed
    detector_score: float = 0.0
    # How far the detector's score lies above its confirmation level (>= 0: a confident, real face; a face-like
    # texture such as a mission patch stays below).
    confirm_score: float = 0.0
    templates: TemplateSet = field(default_factory=lambda: TemplateSet({}, {}), repr=False)
    points5: list[tuple[float, float]] | None = None

    @property
    def confirmed(self) -> bool:
        """Whether the detector is confident the face is real."""
        return self.confirm_score >= 0.0


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
        """The primary (largest) face's deciding template."""
        return self.faces[0].encoding

    @property
    def templates(self) -> TemplateSet:
        """The templates of the primary face, by embedder key (the second opinion computed on first access)."""
        return self.faces[0].templates


class FaceEngine:
    """Face detection, quality gating, templating and matching with fixed settings."""

    def __init__(self, settings: EngineSettings | None = None, models: DlibModels | None = None,
                 opencv: OpenCVModels | None = None) -> None:
        self.settings = settings or EngineSettings()
        s = self.settings
        self._dlib_models = models
        self._opencv = opencv
        self.detector: Detector = (
            HogDetector(self.models) if s.detector == "hog"
            else YuNetDetector(self.opencv, confirm_score=s.yunet_confirm_score)
        )
        self.primary_key = _TEMPLATE_KEYS[s.template]
        self.embedders: dict[str, Embedder] = {}
        if s.matcher in ("sface", "sface+dlib"):
            self.embedders[SFACE] = SFaceEmbedder(self.opencv)
        if s.matcher in ("dlib", "sface+dlib"):
            self.embedders[DLIB] = self.dlib_embedder

    # --------------------------------------------------------------------------------------------- models
    @property
    def models(self) -> DlibModels:
        """dlib's models, loaded on first use (HOG, the 68 landmarks, the ResNet)."""
        if self._dlib_models is None:
            self._dlib_models = load_models()
        return self._dlib_models

    @property
    def opencv(self) -> OpenCVModels:
        """YuNet and SFace, loaded and checked on first use."""
        if self._opencv is None:
            self._opencv = _shared_opencv(self.settings)
        return self._opencv

    @functools.cached_property
    def dlib_embedder(self) -> DlibEmbedder:
        """dlib's ResNet and 68-point predictor behind the embedder interface."""
        return DlibEmbedder(self.models, num_jitters=self.settings.num_jitters)

    @property
    def version(self) -> str:
        """Engine identifier recorded with results: matcher template, detector and its size."""
        s = self.settings
        base = _TEMPLATE_KEYS[s.template] + ("+" + DLIB if s.matcher == "sface+dlib" else "")
        return f"{base}/{s.detector}{s.detect_long_side}/2"

    @property
    def template_keys(self) -> tuple[str, ...]:
        """The templates this engine computes for each face, deciding one first."""
        return tuple(self.embedders)

    # ----------------------------------------------------------------------------------------- analyze
    def analyze(self, data: bytes, *, purpose: Purpose, content_type: str | None = None) -> FaceAnalysis:
        """Decode bytes, apply EXIF orientation, gate quality, template; raises ImageError or QualityError.

        `content_type` is the sniffed type when the caller knows it (the bytes are then not sniffed again); either
        error carries the type the bytes turned out to be.
        """
        if purpose not in ("enrol", "checkin"):
            raise ValueError(f"unknown purpose {purpose!r}")
        started = time.perf_counter()
        s = self.settings
        decoded = decode_image(data, max_pixels=s.max_pixels, min_long_side=s.decode_long_side,
                               caps=s.pixel_caps, content_type=content_type)
        decoded_at = time.perf_counter()
        try:
            analysis = self._analyze_decoded(decoded, purpose=purpose)
        except QualityError as exc:
            exc.content_type = decoded.content_type
            raise
        analysis.timings_ms["decode"] = round((decoded_at - started) * 1000.0, 2)
        analysis.timings_ms["total"] = round((time.perf_counter() - started) * 1000.0, 2)
        return analysis

    def analyze_image(self, rgb: np.ndarray, *, purpose: Purpose) -> FaceAnalysis:
        """Analyse an already decoded, upright uint8 RGB array (used by evaluation and tests)."""
        started = time.perf_counter()
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        decoded = DecodedImage(rgb=rgb, content_type="image/x-raw", width=rgb.shape[1], height=rgb.shape[0],
                               scale=1.0, orientation=1)
        analysis = self._analyze_decoded(decoded, purpose=purpose)
        analysis.timings_ms["total"] = round((time.perf_counter() - started) * 1000.0, 2)
        return analysis

    def _analyze_decoded(self, decoded: DecodedImage, *, purpose: Purpose) -> FaceAnalysis:
        gates = self.settings.gates(purpose)
        work, work_scale = _shrink(decoded.rgb, 2 * self.settings.decode_long_side, self.settings.decode_long_side)
        full_scale = decoded.scale * work_scale  # full-resolution pixels per work-image pixel
        quality: dict[str, Any] = {"width": decoded.width, "height": decoded.height, "purpose": purpose}
        flags: list[str] = []
        if not decoded.has_exif and decoded.content_type != "image/x-raw":
            flags.append("no_exif")
        timings: dict[str, float] = {}

        t0 = time.perf_counter()
        found = self._detect(work)
        t1 = time.perf_counter()
        timings["detect"] = round((t1 - t0) * 1000.0, 2)
        quality["faces_detected"] = len(found)
        faces, extra_flags = self._significant(found)
        flags.extend(extra_flags)
        if not faces:
            self._raise_without_face(work, gates, quality)
        primary = faces[0]
        quality.update(self._measure(work, primary, full_scale))
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
        observations = [self._observe(work, face, full_scale, landmarks=False) for face in faces]
        timings["encode"] = round((time.perf_counter() - t1) * 1000.0, 2)
        if q.touches_border(observations[0].box, decoded.width, decoded.height):
            flags.append("face_cut_off")
        return FaceAnalysis(faces=observations, quality=quality, flags=flags, content_type=decoded.content_type,
                            width=decoded.width, height=decoded.height, exif=decoded.exif, timings_ms=timings)

    # ------------------------------------------------------------------------------------------ steps
    def _detect(self, work: np.ndarray) -> list[Detection]:
        target = self.settings.detect_long_side
        small, factor = _shrink(work, target, target)
        return [d.scaled(factor) for d in self.detector.detect(small, target_long_side=target)]

    def _significant(self, found: list[Detection]) -> tuple[list[Detection], list[str]]:
        """Confirmed faces, largest first; others are dropped with a flag (unconfirmed, or a small bystander)."""
        flags: list[str] = []
        ordered = sorted(found, key=lambda d: (d.confirmed, d.side), reverse=True)
        confirmed = [d for d in ordered if d.confirmed]
        if len(confirmed) < len(ordered):
            flags.append("unconfirmed_faces")
        if not confirmed:
            # A lone face the detector is unsure of is still matched (flagged), as the matcher will reject a
            # texture that is no face; it never counts as a second person next to a confirmed one.
            return ordered[:1], ["unconfirmed_face"]
        minimum = self.settings.significant_face_ratio * confirmed[0].side
        faces = [confirmed[0]]
        for other in confirmed[1:]:
            if other.side < minimum:
                flags.append("background_faces")
            else:
                faces.append(other)
        return faces, sorted(set(flags), key=flags.index)

    def _observe(self, image: np.ndarray, face: Detection, scale: float, *, landmarks: bool) -> FaceObservation:
        # The deciding template now; the others (dlib's second opinion) only when a rule asks for them.
        computed = {self.primary_key: self.embedders[self.primary_key].embed(image, face)}
        pending = {key: functools.partial(embedder.embed, image, face)
                   for key, embedder in self.embedders.items() if key != self.primary_key}
        templates = TemplateSet(computed, pending)
        points68 = None
        if landmarks:
            points68 = self.dlib_embedder.points68(image, face)
        return FaceObservation(
            box=face.scaled(scale).trbl(),
            encoding=computed[self.primary_key],
            landmarks=_landmark_dict(points68, scale) if points68 is not None else None,
            detector_score=round(face.score, 3),
            confirm_score=round(face.score - self.settings.yunet_confirm_score, 3)
            if self.settings.detector == "yunet" else (0.0 if face.confirmed else -1.0),
            templates=templates,
            points5=[(round(float(x) * scale, 1), round(float(y) * scale, 1)) for x, y in face.points5],
        )

    def _measure(self, image: np.ndarray, face: Detection, scale: float) -> dict[str, Any]:
        gray = q.to_luma(q.crop(image, face.trbl()))
        eye_px = float(np.linalg.norm(face.points5[0] - face.points5[1]))
        return {
            "face_px": round(face.w * scale),
            "face_px_encoded": round(face.w, 1),
            "inter_eye_px": round(eye_px * scale, 1),
            "brightness": round(q.brightness(gray), 1),
            "blur": round(q.blur_score(gray), 1),
            "yaw": round(q.yaw_from_five(face.points5), 1),
            "detector_score": round(face.score, 3),
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
            raise QualityError(QualityErrorCode.IMAGE_TOO_BLURRY, "The face is too blurry to verify.", quality)
        if gates.max_yaw_degrees is not None and abs(quality["yaw"]) > gates.max_yaw_degrees:
            raise QualityError(
                QualityErrorCode.FACE_NOT_FRONTAL, "The face must look straight at the camera.", quality
            )

    def _raise_without_face(self, image: np.ndarray, gates: QualityGates, quality: dict[str, Any]) -> None:
        # When no face is found in a very dark or washed-out photo, the exposure is the actionable cause.
        level = round(float(q.to_luma(image).mean()), 1)
        quality["image_brightness"] = level
        if level < gates.min_brightness:
            raise QualityError(QualityErrorCode.IMAGE_TOO_DARK, "The photo is too dark to find a face.", quality)
        if level > gates.max_brightness:
            raise QualityError(QualityErrorCode.IMAGE_TOO_BRIGHT, "The photo is too bright to find a face.", quality)
        raise QualityError(QualityErrorCode.NO_FACE, "No face was found in the photo.", quality)

    # ------------------------------------------------------------------------------------------- match
    def match(self, probe: np.ndarray, references: Sequence[np.ndarray]) -> MatchResult:
        """Match a probe's deciding template against a person's references of the same kind (minimum distance)."""
        result = match_encodings(probe, references, verify_threshold=self.settings.verify,
                                 reject_threshold=self.settings.reject)
        result.template = self.primary_key
        return result

    def decide(self, probe: Mapping[str, np.ndarray], references: Mapping[str, Sequence[np.ndarray]]) -> MatchResult:
        """Match the deciding template and apply the engine's rule.

        The fused rule asks dlib for a second opinion on an SFace "verified" whose distance lies above
        `dlib_consult_above` (where the dev sets' closest impostors and look-alike relatives lie); a dlib distance
        beyond its veto level sends the check-in to review. dlib never turns a review or a reject into a verify.
        """
        result = self.match(probe[self.primary_key], references.get(self.primary_key, ()))
        if self.settings.matcher != "sface+dlib" or result.band != "verified":
            return result
        if result.distance is not None and result.distance <= self.settings.dlib_consult_above:
            result.second_opinion = {"template": DLIB, "consulted": False,
                                     "consult_above": self.settings.dlib_consult_above}
            return result
        veto_at = self.settings.veto
        second = match_encodings(probe[DLIB], references.get(DLIB, ()), verify_threshold=veto_at,
                                 reject_threshold=veto_at)
        result.second_opinion = {"template": DLIB, "consulted": True, "distance": second.distance,
                                 "veto_threshold": veto_at, "consult_above": self.settings.dlib_consult_above}
        if second.distance is None or second.distance > veto_at:
            result.band = "needs_review"
            result.second_opinion["vetoed"] = True
        return result

    def encode_frame(self, rgb: np.ndarray, *, landmarks: bool = True) -> list[FaceObservation]:
        """Find and template every face in an upright RGB video frame, largest first, without quality gates."""
        frame = np.ascontiguousarray(rgb, dtype=np.uint8)
        found = sorted(self._detect(frame), key=lambda d: d.side, reverse=True)
        return [self._observe(frame, face, 1.0, landmarks=landmarks) for face in found]


def _shrink(rgb: np.ndarray, limit: int, long_side: int) -> tuple[np.ndarray, float]:
    """A copy whose long side is `long_side` when the image is longer than `limit`, and the scale factor."""
    current = max(rgb.shape[:2])
    if current <= limit:
        return rgb, 1.0
    factor = long_side / current
    size = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
    small = np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    return small, rgb.shape[1] / small.shape[1]


def _landmark_dict(points: np.ndarray, scale: float) -> dict[str, list[tuple[int, int]]]:
    full = [(round(float(x) * scale), round(float(y) * scale)) for x, y in points]
    return {name: [full[i] for i in idx] for name, idx in _LANDMARK_GROUPS.items()}


_OPENCV: dict[tuple[float, float, int], OpenCVModels] = {}
_ENGINES: dict[EngineSettings, FaceEngine] = {}
_ENGINES_LOCK = threading.Lock()


def _shared_opencv(settings: EngineSettings) -> OpenCVModels:
    key = (settings.yunet_score_threshold, 0.3, settings.model_copies)
    with _ENGINES_LOCK:
        models = _OPENCV.get(key)
        if models is None:
            models = OpenCVModels(onnx_model_files(), score_threshold=key[0], nms_threshold=key[1],
                                  copies=settings.model_copies)
            _OPENCV[key] = models
        return models


def get_engine(settings: EngineSettings | None = None) -> FaceEngine:
    """Return the process-wide engine for these settings, loading (and checking) its models on first use."""
    key = settings or EngineSettings()
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
    if engine is None:
        engine = FaceEngine(key)
        with _ENGINES_LOCK:
            engine = _ENGINES.setdefault(key, engine)
    return engine


def warm_up(engine: FaceEngine) -> None:
    """Load every model now (start-up: dlib's too, liveness needs its landmarks), so a broken file fails early."""
    engine.models  # noqa: B018  (the properties load on first access)
    engine.opencv  # noqa: B018
