"""Requests and assertions shared by the check-in tests: photos, multipart bodies, enrolment, problem documents."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Checkin

CHECKINS = "/api/v1/checkins"
OFFICER_CHECKINS = "/api/v1/officer/checkins"
OFFICER_PERSONS = "/api/v1/officer/persons"
AUDIT = "/api/v1/officer/audit"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}

# The factories' home area (tests.factories.make_person): 3 km around this point.
HOME = (31.2304, 121.4737)
# About 14 km from HOME: outside the home area even with a generous accuracy.
AWAY = (31.3200, 121.5800)

# Why an enrolment photo may be refused while the engine's gates are being calibrated; anything else is a failure.
ENROL_REFUSALS = {
    "face_too_small",
    "image_too_dark",
    "image_too_bright",
    "image_too_blurry",
    "face_not_frontal",
    "no_face",
    "multiple_faces",
    "reference_mismatch",
}


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Check an RFC 9457 problem response and hand back its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert PROBLEM_KEYS <= body.keys(), body
    assert body["status"] == status
    assert body["code"] == code, body
    return body


def identity_photos(faces_dir: Path, identity: str) -> list[Path]:
    """The photos of one identity folder (e.g. "people/Colin_Powell") in numeric order: 1.jpg, 2.jpg, ... 10.jpg."""
    folder = faces_dir / identity
    assert folder.is_dir(), f"no identity folder {folder}"
    return sorted((p for p in folder.iterdir() if p.suffix == ".jpg"), key=lambda p: int(p.stem))


def edge_photo(faces_dir: Path, name: str) -> bytes:
    """The bytes of one file of ../shared/faces/edge."""
    return (faces_dir / "edge" / name).read_bytes()


def checkin_form(photo: bytes, *, captured_at: datetime, at: tuple[float, float] = HOME,
                 accuracy_m: float = 15.0) -> dict[str, Any]:
    """A multipart body for POST /api/v1/checkins (a fresh stream each call: bodies cannot be re-sent)."""
    return {
        "photo": (io.BytesIO(photo), "selfie.jpg"),
        "latitude": str(at[0]),
        "longitude": str(at[1]),
        "accuracy_m": str(accuracy_m),
        "captured_at": captured_at.isoformat(),
    }


def post_checkin(client: Any, headers: dict[str, str], photo: bytes, *, captured_at: datetime,
                 at: tuple[float, float] = HOME, accuracy_m: float = 15.0, key: str | None = None) -> Any:
    """Check in through the phone API."""
    request_headers = dict(headers)
    if key is not None:
        request_headers["Idempotency-Key"] = key
    return client.post(CHECKINS, headers=request_headers, content_type="multipart/form-data",
                       data=checkin_form(photo, captured_at=captured_at, at=at, accuracy_m=accuracy_m))


def post_reference(client: Any, headers: dict[str, str], person_id: int, photo: bytes, *, force: bool = False,
                   note: str | None = None) -> Any:
    """Enrol one reference photo through the officer API."""
    data: dict[str, Any] = {"photo": (io.BytesIO(photo), "reference.jpg")}
    if force:
        data["force"] = "true"
    if note is not None:
        data["note"] = note
    return client.post(f"{OFFICER_PERSONS}/{person_id}/faces", headers=headers, content_type="multipart/form-data",
                       data=data)


@dataclass(frozen=True)
class Enrolment:
    """The outcome of enrolling an identity: which photos became references and which are left to probe with."""

    person_id: int
    references: list[Path]
    reference_ids: list[int]
    probes: list[Path]


def enrol_identity(client: Any, headers: dict[str, str], person_id: int, photos: list[Path],
                   count: int = 3) -> Enrolment:
    """Enrol the first `count` photos the API accepts, trying them in order; the rest are probes."""
    references: list[Path] = []
    reference_ids: list[int] = []
    refusals: dict[str, str] = {}
    for path in photos:
        if len(references) == count:
            break
        response = post_reference(client, headers, person_id, path.read_bytes())
        if response.status_code == 201:
            references.append(path)
            reference_ids.append(response.get_json()["id"])
            continue
        body = response.get_json()
        assert response.status_code == 422 and body.get("code") in ENROL_REFUSALS, (path, response.status_code, body)
        refusals[path.name] = body["code"]
    assert len(references) == count, (
        f"only {len(references)} of {len(photos)} photos of {photos[0].parent.name} were accepted as references "
        f"(refused: {refusals})"
    )
    return Enrolment(person_id, references, reference_ids, [p for p in photos if p not in references])


def own_checkins(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The caller's check-in history (first page, newest first)."""
    response = client.get(CHECKINS, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def count_checkins(session: Session) -> int:
    """Checkin rows as committed now (the session's earlier snapshot is dropped first)."""
    session.rollback()
    return session.scalar(select(func.count()).select_from(Checkin)) or 0


def blob_files(store: Any) -> list[Any]:
    """Every file under a filesystem store's root (temporary files included), or every object under an S3 store's
    prefix (whatever its name); a Path is taken as a filesystem root."""
    if isinstance(store, Path | str) or hasattr(store, "root"):
        root = Path(store if isinstance(store, Path | str) else store.root)
        return sorted(p for p in root.rglob("*") if p.is_file())
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=store.prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def outcome(body: dict[str, Any]) -> str:
    """A short description of a check-in answer for assertion messages."""
    match = body.get("match") or {}
    return f"{body.get('status')} {body.get('reasons')} distance={match.get('distance')}"
