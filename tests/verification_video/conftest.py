"""Fixtures for the video and liveness engine tests: the shared clip, one engine, references (no app)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.verification_video.clips import read_frames
from verification.engine import FaceEngine, get_engine
from verification.video import ClipAnalysis, VideoLimits, analyse_clip, significant_faces

REPO_ROOT = Path(__file__).resolve().parents[2]
FACES_DIR = REPO_ROOT.parent / "shared" / "faces"
# Frames of the singer that the 3-per-second sampling (every 10th frame at 29.97 fps) does not pick itself.
SINGER_FRAMES = (97, 143, 187)
OTHER_IDENTITY = "Colin_Powell"


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """../shared/faces, or skip when it is not there."""
    if not (FACES_DIR / "video" / "short_hamilton_clip.mp4").is_file():
        pytest.skip(f"test media not found at {FACES_DIR} (expected ../shared/faces beside the repository)")
    return FACES_DIR


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    return get_engine()


@pytest.fixture(scope="session")
def hamilton(faces_dir: Path) -> Path:
    return faces_dir / "video" / "short_hamilton_clip.mp4"


@pytest.fixture(scope="session")
def hamilton_analysis(engine: FaceEngine, hamilton: Path) -> ClipAnalysis:
    """The shared clip sampled and searched once for the whole session."""
    return analyse_clip(hamilton.read_bytes(), engine=engine, limits=VideoLimits())


@pytest.fixture(scope="session")
def singer_references(engine: FaceEngine, hamilton: Path) -> list[np.ndarray]:
    """The person enrolled from frames of the clip (frames the sampling does not use itself)."""
    frames = read_frames(hamilton, SINGER_FRAMES)
    encodings = []
    for number in SINGER_FRAMES:
        # Frame 187 also holds an unconfirmed candidate (YuNet score 0.5) in the dark background: not a face.
        faces = significant_faces(engine.encode_frame(frames[number]), engine.settings.significant_face_ratio)
        assert len(faces) == 1, f"frame {number}: {len(faces)} faces"
        encodings.append(faces[0].encoding)
    return encodings


@pytest.fixture(scope="session")
def other_references(engine: FaceEngine, faces_dir: Path) -> list[np.ndarray]:
    """A different identity enrolled from three of its photos."""
    photos = sorted((faces_dir / "people" / OTHER_IDENTITY).glob("*.jpg"))[:3]
    return [engine.analyze(p.read_bytes(), purpose="enrol").encoding for p in photos]
