"""Face detectors behind one interface: YuNet (OpenCV Zoo, default) and dlib's HOG (kept for comparison).

A detector gets an upright RGB image of about the detection size and returns every face it finds, in that image's
pixel coordinates, with five landmarks (eye centres, nose tip, mouth corners) that the aligners need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Protocol

import cv2
import numpy as np

from verification.models import DLIB_LOCK, DlibModels, OpenCVModels

# HOG's window is 80 px: small images are searched upsampled, at most 4 times.
_MAX_UPSAMPLE = 4
# Where the 68-point layout keeps the five points YuNet reports (image-left eye first, like YuNet).
_EYE_A, _EYE_B = slice(36, 42), slice(42, 48)
_NOSE_TIP, _MOUTH_A, _MOUTH_B = 30, 48, 54


@dataclass(frozen=True)
class Detection:
    """One face in detector-image coordinates."""

    x: float
    y: float
    w: float
    h: float
    score: float  # the detector's own confidence (YuNet: 0-1; HOG: SVM margin)
    points5: np.ndarray  # (5, 2): image-left eye, image-right eye, nose tip, image-left and image-right mouth corner
    confirmed: bool  # the detector is confident this is a real face (YuNet: score over the confirm level)
    points68: np.ndarray | None = None  # dlib's 68 points when the detector produced them (HOG)

    @property
    def side(self) -> float:
        """Mean of the box's width and height."""
        return (self.w + self.h) / 2.0

    def scaled(self, factor: float) -> Detection:
        """The same detection in an image `factor` times larger."""
        if factor == 1.0:
            return self
        return replace(
            self, x=self.x * factor, y=self.y * factor, w=self.w * factor, h=self.h * factor,
            points5=self.points5 * factor, points68=None if self.points68 is None else self.points68 * factor,
        )

    def trbl(self) -> tuple[int, int, int, int]:
        """Integer (top, right, bottom, left) box, the face_recognition convention the rest of the code uses."""
        return round(self.y), round(self.x + self.w), round(self.y + self.h), round(self.x)

    def yunet_row(self) -> np.ndarray:
        """The 15-value row cv2.FaceRecognizerSF.alignCrop expects."""
        values = [self.x, self.y, self.w, self.h, *self.points5.reshape(-1).tolist(), self.score]
        return np.asarray(values, dtype=np.float32)


class Detector(Protocol):
    """Finds faces in an upright RGB image."""

    name: str

    def detect(self, rgb: np.ndarray, *, target_long_side: int) -> list[Detection]:
        """Every face found, in the coordinates of `rgb`."""
        ...


class YuNetDetector:
    """OpenCV Zoo's YuNet (2023mar, int8 block-quantised), one instance per thread."""

    name = "yunet"

    def __init__(self, models: OpenCVModels, *, confirm_score: float) -> None:
        self.models = models
        self.confirm_score = confirm_score

    def detect(self, rgb: np.ndarray, *, target_long_side: int) -> list[Detection]:
        """Run YuNet once on the image (small photos are enlarged so a face covers the same share of the input)."""
        h, w = rgb.shape[:2]
        factor = 1.0
        if max(h, w) < target_long_side / 2:
            # YuNet's anchors start at 10 px; a 250 px LFW crop is searched at twice its size, which is what a
            # 640 px input does for a photo of the same framing.
            factor = min(4.0, 2 ** math.floor(math.log2(target_long_side / max(h, w))))
            rgb = cv2.resize(rgb, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_LINEAR)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        with self.models.detector() as detector:
            detector.setInputSize((bgr.shape[1], bgr.shape[0]))
            _, rows = detector.detect(bgr)
        if rows is None:
            return []
        found = []
        for row in rows:
            values = row.astype(np.float64) / np.array([factor] * 14 + [1.0])
            found.append(Detection(
                x=float(values[0]), y=float(values[1]), w=float(values[2]), h=float(values[3]),
                score=float(values[14]), points5=values[4:14].reshape(5, 2),
                confirmed=float(values[14]) >= self.confirm_score,
            ))
        return found


class HogDetector:
    """dlib's HOG detector with the 68-point landmarks; the engine's detector before YuNet."""

    name = "hog"

    def __init__(self, models: DlibModels) -> None:
        self.models = models

    def detect(self, rgb: np.ndarray, *, target_long_side: int) -> list[Detection]:
        """HOG at about the target size, one extra upsampling pass if nothing was found; 68 points per face."""
        image = np.ascontiguousarray(rgb)
        long_side = max(image.shape[:2])
        upsample = 0 if long_side >= target_long_side else min(
            _MAX_UPSAMPLE, math.ceil(math.log2(target_long_side / long_side)))
        with DLIB_LOCK:
            rects, scores, _ = self.models.face_detector.run(image, upsample, 0.0)
            if not rects and long_side * 2 ** (upsample + 1) <= 2 * target_long_side:
                rects, scores, _ = self.models.face_detector.run(image, upsample + 1, 0.0)
            found = []
            for rect, score in zip(rects, scores, strict=True):
                shape = self.models.landmarks_68(image, rect)
                points = np.asarray([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
                found.append(Detection(
                    x=float(rect.left()), y=float(rect.top()), w=float(rect.width()), h=float(rect.height()),
                    score=float(score), points5=five_points(points), confirmed=self._confirm(image, shape),
                    points68=points,
                ))
        return found

    def _confirm(self, image: np.ndarray, shape: Any) -> bool:
        # HOG fires on face-like textures (a mission patch); a real face is found again on its own aligned chip.
        chip = self.models.dlib.get_face_chip(image, shape, size=150, padding=0.25)
        _, chip_scores, _ = self.models.face_detector.run(chip, 0, -1.0)
        return max((float(x) for x in chip_scores), default=-1.0) >= 0.0


def five_points(points68: np.ndarray) -> np.ndarray:
    """YuNet's five landmarks taken from dlib's 68."""
    return np.stack([
        points68[_EYE_A].mean(axis=0), points68[_EYE_B].mean(axis=0), points68[_NOSE_TIP],
        points68[_MOUTH_A], points68[_MOUTH_B],
    ])
