"""Fixtures for liveness and video inspection tests through the API: wiring, config, people and references."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from storage.models import ReferenceFace
from supervision.faces import add_templates
from verification.engine import FaceEngine, get_engine

HOME = {"latitude": "31.2304", "longitude": "121.4737", "accuracy_m": "20"}
PERSON_IDENTITY = "Tony_Blair"
STRANGER_IDENTITY = "Hu_Jintao"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # Clips are processed inline, so a test sees the summary right after the upload.
    return {"JOBS_SYNC": True}


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """../shared/faces, or skip when it is not there."""
    path = Path(__file__).resolve().parents[2].parent / "shared" / "faces"
    if not (path / "video" / "short_hamilton_clip.mp4").is_file():
        pytest.skip(f"test media not found at {path} (expected ../shared/faces beside the repository)")
    return path


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    return get_engine()


def photo_path(media_dir: Path, identity: str, n: int) -> Path:
    return media_dir / "people" / identity / f"{n}.jpg"


def add_references(session: Any, person: Any, officer: Any,
                   templates: list[dict[str, np.ndarray]]) -> list[ReferenceFace]:
    """Reference rows for person with the given templates (the enrolment path has its own tests)."""
    refs = [ReferenceFace(person_id=person.id, blob_key=f"test{i:08d}", content_type="image/jpeg", size=0,
                          sha256="0" * 64, quality={}, engine_version="test", created_by_id=officer.id)
            for i in range(len(templates))]
    session.add_all(refs)
    session.flush()
    for ref, found in zip(refs, templates, strict=True):
        add_templates(session=session, reference=ref, templates=found, engine_version="test", now=ref.created_at)
    session.commit()
    return refs


@pytest.fixture
def enrolled(db_session: Any, person: Any, officer: Any, engine: FaceEngine, media_dir: Path) -> Any:
    """The person, enrolled with three photos of PERSON_IDENTITY (3-5); photo 2 is their selfie.

    Photo 1 is not used: it holds a second, cut-off man at its edge whom YuNet finds (HOG did not).
    """
    photos = [photo_path(media_dir, PERSON_IDENTITY, n).read_bytes() for n in (3, 4, 5)]
    templates = [engine.analyze(photo, purpose="checkin").templates.complete() for photo in photos]
    add_references(db_session, person, officer, templates)
    return person


def checkin_form(captured_at: datetime, **extra: Any) -> dict[str, Any]:
    return {**HOME, "captured_at": captured_at.isoformat(), **extra}


def upload(data: bytes, name: str) -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=name)


def post_multipart(client: Any, url: str, headers: dict[str, str], data: dict[str, Any]) -> Any:
    """POST a multipart body encoded in memory (the test client spools bodies over 500 kB to a temporary file
    that it never closes, which fails the run under -W error)."""
    items = [(key, item) for key, value in data.items() for item in (value if isinstance(value, list) else [value])]
    boundary, body = encode_multipart(MultiDict(items))
    return client.post(url, headers=headers, data=body, content_type=f"multipart/form-data; boundary={boundary}")
