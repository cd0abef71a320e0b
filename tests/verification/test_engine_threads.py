"""The engine loads its models once and gives the same answers from several threads as serially."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from verification.engine import FaceAnalysis, FaceEngine, get_engine
from verification.errors import QualityError
from verification.models import load_models
from verification.settings import EngineSettings


def test_get_engine_is_cached_per_settings(engine: FaceEngine) -> None:
    assert get_engine() is engine
    assert get_engine(EngineSettings()) is engine
    other = get_engine(EngineSettings(num_jitters=2))
    assert other is not engine
    assert other.models is engine.models  # the dlib models themselves are loaded once per process
    assert load_models.cache_info().misses == 1


def _outcome(engine: FaceEngine, data: bytes) -> tuple[str, object]:
    try:
        analysis: FaceAnalysis = engine.analyze(data, purpose="checkin")
    except QualityError as exc:
        return exc.code, exc.quality
    encodings = np.stack([f.encoding for f in analysis.faces])
    return "ok", (encodings, [f.box for f in analysis.faces], analysis.flags)


def test_concurrent_calls_match_serial_results(engine: FaceEngine, faces_dir: Path) -> None:
    names = [
        "edge/exif_orientation_6.jpg",
        "edge/multi_face_two_people.jpg",
        "edge/no_face_cat.png",
        "edge/heic_portrait.heic",
        "people/Tony_Blair/1.jpg",
        "east-asian/CN_nz010_AiDai/1.jpg",
    ]
    blobs = [(faces_dir / n).read_bytes() for n in names]
    serial = [_outcome(engine, b) for b in blobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda b: _outcome(engine, b), blobs * 2))
    for index, (code, value) in enumerate(parallel):
        expected_code, expected_value = serial[index % len(blobs)]
        assert code == expected_code
        if code == "ok":
            assert isinstance(value, tuple) and isinstance(expected_value, tuple)
            np.testing.assert_array_equal(value[0], expected_value[0])
            assert value[1:] == expected_value[1:]
        else:
            assert value == expected_value
