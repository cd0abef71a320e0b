"""Face embedders behind one interface: SFace (OpenCV Zoo, default) and dlib's ResNet (kept as second opinion).

Both are compared by Euclidean distance, so one matcher serves both. SFace vectors are scaled to unit length, where
that distance is sqrt(2 - 2 cos), a monotonic view of the cosine similarity the model was trained with; dlib's are
kept as the library returns them (its 0.36/0.52 bands and every stored encoding are in that space).
"""

from __future__ import annotations

from typing import Any, Protocol

import cv2
import numpy as np

from verification.detectors import Detection
from verification.models import DLIB_LOCK, DlibModels, OpenCVModels

SFACE = "sface-2021dec-int8bq"
DLIB = "dlib-resnet-v1"
EMBEDDERS = (SFACE, DLIB)
# Where dlib's HOG would put its box, from YuNet's (median over LFW photos, in YuNet box widths): the 68-point
# predictor was trained on HOG boxes and places points best from a box of that shape.
_HOG_SIDE_PER_WIDTH = 1.12
_HOG_DROP_PER_WIDTH = 0.08


class Embedder(Protocol):
    """Turns one detected face into a template."""

    key: str

    def embed(self, rgb: np.ndarray, face: Detection) -> np.ndarray:
        """A template of the face (coordinates of `face` are those of `rgb`)."""
        ...


def unit(vector: np.ndarray) -> np.ndarray:
    """The vector scaled to length 1 (float64)."""
    values = np.asarray(vector, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(values))
    return values / norm if norm > 0 else values


class SFaceEmbedder:
    """SFace (2021dec, int8 block-quantised): 112 px crop aligned on the five landmarks, 128-d feature."""

    key = SFACE

    def __init__(self, models: OpenCVModels) -> None:
        self.models = models

    def embed(self, rgb: np.ndarray, face: Detection) -> np.ndarray:
        """Align on the five points and run the recogniser."""
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        with self.models.recognizer() as recognizer:
            crop = recognizer.alignCrop(bgr, face.yunet_row())
            feature = recognizer.feature(crop)
        return unit(feature)


class DlibEmbedder:
    """dlib's ResNet (face_recognition's encoder) on 68 landmarks, under the process-wide dlib lock."""

    key = DLIB

    def __init__(self, models: DlibModels, *, num_jitters: int = 1) -> None:
        self.models = models
        self.num_jitters = num_jitters

    def shape(self, rgb: np.ndarray, face: Detection) -> Any:
        """dlib's 68-point shape for the face: the detector's own (HOG) or predicted from a HOG-like box."""
        dlib = self.models.dlib
        if face.points68 is not None:
            parts = [dlib.point(round(x), round(y)) for x, y in face.points68]
            return dlib.full_object_detection(self._rect(face), parts)
        with DLIB_LOCK:
            return self.models.landmarks_68(rgb, self._rect(face))

    def points68(self, rgb: np.ndarray, face: Detection) -> np.ndarray:
        """The 68 landmarks as an array (for liveness measures)."""
        if face.points68 is not None:
            return face.points68
        shape = self.shape(rgb, face)
        return np.asarray([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def embed(self, rgb: np.ndarray, face: Detection) -> np.ndarray:
        """Encode with dlib's ResNet."""
        image = np.ascontiguousarray(rgb)
        shape = self.shape(image, face)
        with DLIB_LOCK:
            descriptor = self.models.encoder.compute_face_descriptor(image, shape, self.num_jitters)
        return np.asarray(descriptor, dtype=np.float64)

    def _rect(self, face: Detection) -> Any:
        if face.points68 is not None:  # HOG's own box
            return self.models.dlib.rectangle(round(face.x), round(face.y), round(face.x + face.w),
                                              round(face.y + face.h))
        side = _HOG_SIDE_PER_WIDTH * face.w
        cx, cy = face.x + face.w / 2.0, face.y + face.h / 2.0 + _HOG_DROP_PER_WIDTH * face.w
        return self.models.dlib.rectangle(round(cx - side / 2), round(cy - side / 2), round(cx + side / 2),
                                          round(cy + side / 2))
