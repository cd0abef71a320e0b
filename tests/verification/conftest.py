"""Fixtures for the face engine tests: the shared test photos and one engine per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from verification.engine import FaceAnalysis, FaceEngine, get_engine

REPO_ROOT = Path(__file__).resolve().parents[2]
FACES_DIR = REPO_ROOT.parent / "shared" / "faces"


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """The shared test photos (never copied into the repository); skips the test where they are absent."""
    if not (FACES_DIR / "edge").is_dir():
        pytest.skip(f"test photos not found at {FACES_DIR} (expected ../shared/faces beside the repository)")
    return FACES_DIR


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    """The process-wide engine with default settings (models load once per test session)."""
    return get_engine()


AnalyzeFn = Callable[[Path, str], FaceAnalysis]


@pytest.fixture(scope="session")
def analyze_file(engine: FaceEngine) -> AnalyzeFn:
    """Analyse a photo for a purpose, cached for the session so tests can share results."""
    cache: dict[tuple[Path, str], FaceAnalysis] = {}

    def run(path: Path, purpose: str) -> FaceAnalysis:
        key = (path, purpose)
        if key not in cache:
            kind = "enrol" if purpose == "enrol" else "checkin"
            cache[key] = engine.analyze(path.read_bytes(), purpose=kind)
        return cache[key]

    return run
