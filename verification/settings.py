"""Configuration of the face engine: sizes, thresholds and quality gates."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Purpose = Literal["enrol", "checkin"]

# Matchers: the template a decision is made on, and the fused rule (docs/faces.md, "Choosing the matcher").
MATCHERS = ("sface", "dlib", "sface+dlib")
DETECTORS = ("yunet", "hog")
# Calibrated bands per template (docs/faces.md): at most 0.1% impostor auto-verify on EACH dev set, 3 and 5 refs.
DEFAULT_BANDS: dict[str, tuple[float, float]] = {
    "sface": (1.00, 1.16),  # Euclidean distance of unit vectors: cosine similarity 0.50 and 0.33
    "dlib": (0.36, 0.52),
}

# Pixel caps per sniffed content type, checked on the header before any pixel is decoded (larger: 413
# image_too_large). They follow what phones send. JPEG decodes at 1/8 DCT scale at most, so a 200 MP photo
# (16320x12240: Samsung HP-sensor and Xiaomi 200 MP modes) costs 15-40 MB and 0.1-0.2 s. A progressive JPEG (web and
# app re-encodes, not cameras) keeps every DCT coefficient even when drafted (~3 bytes per pixel), like the
# formats decoded at full size: PNG (screenshots <= 6 MP, 12-16 MP re-encodes; 4096x4096 ~ 70 MB at RGBA), WEBP
# (chat-app re-encodes <= 12 MP; libwebp's canvases cost ~15 bytes per pixel) and HEIC (~7 bytes per pixel while
# decoding: a 50 MP one costs 350 MB and 1-2 s, so the cap covers what phones write by default, the 24 MP of
# iPhone 15/16 Pro (5712x4284) and 12 MP elsewhere, and refuses the opt-in 48 MP "HEIF Max"; 200 MP and 50 MP
# modes of Android phones write JPEG).
PROGRESSIVE_JPEG = "image/jpeg;progressive"
PIXEL_CEILING = 200_000_000  # no cap may exceed it: Pillow's bomb guard is set to it as a backstop
DEFAULT_PIXEL_CAPS: dict[str, int] = {
    "image/jpeg": 200_000_000,
    PROGRESSIVE_JPEG: 16_777_216,
    "image/png": 16_777_216,
    "image/webp": 12_582_912,
    "image/heic": 25_000_000,
}
# The EngineSettings field that overrides each format's cap.
_FORMAT_CAP_FIELDS: dict[str, str] = {
    "image/jpeg": "max_pixels_jpeg",
    PROGRESSIVE_JPEG: "max_pixels_progressive_jpeg",
    "image/png": "max_pixels_png",
    "image/webp": "max_pixels_webp",
    "image/heic": "max_pixels_heic",
}

# Each value is where degrading real photos measurably hurts matching (docs/faces.md, "Quality gates"): enrolment
# where the genuine auto-verify rate is still >= 90% of that of undegraded photos, check-in where it falls to half,
# unless an officer could no longer use the photo (face size). References last for years, so they must be the better.
# Face size is YuNet's box width (HOG: its box side), blur and brightness are measured on that box.
DEFAULT_GATES: dict[str, dict[str, float]] = {
    "yunet": {"enrol_min_face_px": 43.0, "checkin_min_face_px": 30.0, "enrol_min_blur": 10.0, "checkin_min_blur": 5.0,
              "enrol_min_brightness": 45.0, "enrol_max_brightness": 175.0,
              "checkin_min_brightness": 20.0, "checkin_max_brightness": 225.0},
    "hog": {"enrol_min_face_px": 48.0, "checkin_min_face_px": 34.0, "enrol_min_blur": 25.0, "checkin_min_blur": 10.0,
            "enrol_min_brightness": 45.0, "enrol_max_brightness": 175.0,
            "checkin_min_brightness": 20.0, "checkin_max_brightness": 210.0},
}


@dataclass(frozen=True)
class QualityGates:
    """Limits a face must meet for one purpose; None switches a gate off."""

    min_face_px: float
    min_brightness: float
    max_brightness: float
    min_blur: float
    max_yaw_degrees: float | None


@dataclass(frozen=True)
class EngineSettings:
    """All tunables of the engine; the app builds it from CHECKIN_FACE_* settings."""

    # Which template decides ("sface", "dlib") or the fused rule "sface+dlib" (dlib vetoes what SFace verifies).
    matcher: str = "sface+dlib"
    detector: str = "yunet"
    # Detection runs on a copy whose long side is about this many pixels (smaller images are upsampled
    # by the detector instead), so detection costs the same for a 0.3 MP and a 14 MP upload.
    detect_long_side: int = 640
    # JPEGs are decoded at 1/2, 1/4 or 1/8 scale (Image.draft) while staying at least this long (a 12 MP photo:
    # 1/4, 1008 px); templates are computed on that decoded image, detection on a ~640 px copy of it.
    decode_long_side: int = 640
    # Caps every format; each format also has its own, lower cap (DEFAULT_PIXEL_CAPS, or the max_pixels_<format>
    # fields below when set: CHECKIN_FACE_MAX_PIXELS_PNG and so on).
    max_pixels: int = PIXEL_CEILING
    max_pixels_jpeg: int | None = None
    max_pixels_progressive_jpeg: int | None = None
    max_pixels_png: int | None = None
    max_pixels_webp: int | None = None
    max_pixels_heic: int | None = None
    # Copies of the YuNet + SFace pair per process, shared by its request threads. One pair costs ~100 MB (the
    # block-quantised SFace graph is expanded to float32 when loaded, plus its inference buffers); a second one lets
    # two threads of one worker run the ONNX models at once, which on a 2-core machine with 2 workers buys nothing
    # (bench/checkin_bench.py).
    model_copies: int = 1
    num_jitters: int = 1
    # The matcher's bands; None takes DEFAULT_BANDS for the matcher's template (resolved at construction).
    verify_threshold: float | None = None
    reject_threshold: float | None = None
    # Fused rule only: a dlib distance above this vetoes an SFace "verified" (None: dlib's own reject band).
    dlib_veto_threshold: float | None = None
    # Fused rule only: dlib is consulted for SFace distances above this (the closest impostor on the dev sets lies
    # at 0.96, every look-alike relative above 0.99); a clearer SFace verify stands on its own.
    dlib_consult_above: float = 0.90
    # YuNet: candidates above the first score are kept; a face counts as confirmed (may decide, may count as a
    # second person) from the second (docs/faces.md, "Detector").
    yunet_score_threshold: float = 0.5
    yunet_confirm_score: float = 0.8
    # A second face narrower than this fraction of the main face is a bystander in the background.
    significant_face_ratio: float = 0.5
    # Gates (docs/faces.md, "Quality gates"); None takes DEFAULT_GATES for the detector, whose boxes and crops
    # the measures come from.
    enrol_min_face_px: float | None = None
    enrol_min_brightness: float | None = None
    enrol_max_brightness: float | None = None
    enrol_min_blur: float | None = None
    enrol_max_yaw_degrees: float | None = None
    checkin_min_face_px: float | None = None
    checkin_min_brightness: float | None = None
    checkin_max_brightness: float | None = None
    checkin_min_blur: float | None = None
    checkin_max_yaw_degrees: float | None = None

    def __post_init__(self) -> None:
        # Bad configuration must fail when the app starts, not on the first check-in.
        if self.matcher not in MATCHERS:
            raise ValueError(f"matcher must be one of {', '.join(MATCHERS)}")
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}")
        verify, reject = DEFAULT_BANDS[self.template]
        if self.verify_threshold is None:
            object.__setattr__(self, "verify_threshold", verify)
        if self.reject_threshold is None:
            object.__setattr__(self, "reject_threshold", reject)
        for name, value in DEFAULT_GATES[self.detector].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.dlib_veto_threshold is None:
            object.__setattr__(self, "dlib_veto_threshold", DEFAULT_BANDS["dlib"][1])
        if not 0.0 < self.yunet_score_threshold <= self.yunet_confirm_score <= 1.0:
            raise ValueError("need 0 < yunet_score_threshold <= yunet_confirm_score <= 1")
        if not 0.0 < self.verify <= self.reject < 2.0:
            raise ValueError("need 0 < verify_threshold <= reject_threshold < 2")
        if min(self.detect_long_side, self.decode_long_side, self.max_pixels, self.num_jitters) < 1:
            raise ValueError("sizes, max_pixels and num_jitters must be positive")
        if not 0.0 < self.significant_face_ratio <= 1.0:
            raise ValueError("significant_face_ratio must be in (0, 1]")
        if self.max_pixels > PIXEL_CEILING:
            raise ValueError(f"max_pixels cannot exceed {PIXEL_CEILING:,}")
        for name in _FORMAT_CAP_FIELDS.values():
            value = getattr(self, name)
            if value is None:
                continue
            if float(value) != int(value) or not 1 <= int(value) <= PIXEL_CEILING:
                raise ValueError(f"{name} must be a whole number of pixels from 1 to {PIXEL_CEILING:,}")
            object.__setattr__(self, name, int(value))
        if not 1 <= self.model_copies <= 16:
            raise ValueError("model_copies must be from 1 to 16")

    @property
    def pixel_caps(self) -> dict[str, int]:
        """Pixel cap per sniffed content type: DEFAULT_PIXEL_CAPS with the configured per-format caps applied."""
        caps = dict(DEFAULT_PIXEL_CAPS)
        for content_type, name in _FORMAT_CAP_FIELDS.items():
            value = getattr(self, name)
            if value is not None:
                caps[content_type] = value
        return caps

    @property
    def template(self) -> str:
        """The template whose distance the bands apply to ("sface" or "dlib")."""
        return "dlib" if self.matcher == "dlib" else "sface"

    @property
    def verify(self) -> float:
        """The resolved verify band (never None after construction)."""
        return float(self.verify_threshold or 0.0)

    @property
    def reject(self) -> float:
        """The resolved reject band."""
        return float(self.reject_threshold or 0.0)

    @property
    def veto(self) -> float:
        """The resolved dlib veto level of the fused rule."""
        return float(self.dlib_veto_threshold or 0.0)

    def gates(self, purpose: Purpose) -> QualityGates:
        """Return the quality gates for enrolment or check-in photos."""
        if purpose not in ("enrol", "checkin"):
            raise ValueError(f"unknown purpose {purpose!r}")

        def value(name: str) -> float:
            return float(getattr(self, f"{purpose}_{name}"))

        return QualityGates(
            min_face_px=value("min_face_px"),
            min_brightness=value("min_brightness"),
            max_brightness=value("max_brightness"),
            min_blur=value("min_blur"),
            max_yaw_degrees=getattr(self, f"{purpose}_max_yaw_degrees"),
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> EngineSettings:
        """Build settings from field names (config keys without prefix), converting strings."""
        kwargs: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in values:
                continue
            optional = "None" in str(field.type)
            kwargs[field.name] = _coerce(values[field.name], field.default, optional)
        return cls(**kwargs)


def _coerce(value: Any, default: Any, optional: bool) -> Any:
    # Environment variables arrive as strings; convert them to the type of the field's default.
    if not isinstance(value, str):
        return value
    text = value.strip()
    if isinstance(default, bool):
        return text.lower() in {"1", "true", "yes", "on"}
    if optional and text.lower() in {"", "none", "off"}:
        return None
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float) or default is None:
        return float(text)
    return text
