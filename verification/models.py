"""The dlib models behind face_recognition, loaded once per process and used under one lock."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

# dlib's Python calls hold the GIL for their whole run (measured: two threads take exactly twice as long
# as one), so per-thread model copies (~130 MB each) would buy no parallelism. One process-wide lock keeps
# the objects, which dlib does not document as thread-safe, to one caller at a time.
DLIB_LOCK = threading.RLock()


@dataclass(frozen=True)
class DlibModels:
    """The detector, landmark predictor and encoder objects."""

    face_detector: Any
    landmarks_68: Any
    encoder: Any
    cnn_detector: Any
    dlib: Any


@functools.cache
def load_models() -> DlibModels:
    """Import face_recognition (which loads the models) once and undo its global Pillow side effect."""
    with DLIB_LOCK:
        import dlib
        import face_recognition.api as fr_api
        from PIL import ImageFile

        # face_recognition switches LOAD_TRUNCATED_IMAGES on for the whole process at import; a truncated
        # upload must be refused, not half-decoded into grey, so switch it back off here, the one place
        # that imports it.
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        return DlibModels(
            face_detector=fr_api.face_detector,
            landmarks_68=fr_api.pose_predictor_68_point,
            encoder=fr_api.face_encoder,
            cnn_detector=fr_api.cnn_face_detector,
            dlib=dlib,
        )
