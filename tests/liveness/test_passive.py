"""Passive signals on every check-in: EXIF time, camera model changes, missing camera metadata."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image

from storage.models import Checkin
from supervision.passive import camera_model, exif_capture_time
from tests.liveness.conftest import PERSON_IDENTITY, checkin_form, photo_path, post_multipart, upload

CHECKINS = "/api/v1/checkins"


def _with_exif(path: Any, *, make: str | None, model: str | None, taken: datetime | None,
               zone: str = "+08:00") -> bytes:
    image = Image.open(path)
    exif = Image.Exif()
    if make:
        exif[271] = make
    if model:
        exif[272] = model
    if taken:
        local = taken.astimezone(datetime.strptime(zone, "%z").tzinfo)
        exif[306] = local.strftime("%Y:%m:%d %H:%M:%S")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


def _checkin(client: Any, headers: dict[str, str], photo: bytes, captured_at: datetime) -> dict[str, Any]:
    response = post_multipart(client, CHECKINS, headers,
                              {**checkin_form(captured_at), "photo": upload(photo, "selfie.jpg")})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_exif_time_reads_the_offset_or_the_office_timezone():
    at = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)

    assert exif_capture_time({"DateTimeOriginal": "2026:05:01 10:00:00", "OffsetTimeOriginal": "+08:00"},
                             "UTC") == at
    assert exif_capture_time({"DateTime": "2026:05:01 10:00:00"}, "Asia/Shanghai") == at
    assert exif_capture_time({"DateTime": "garbage"}, "Asia/Shanghai") is None
    assert exif_capture_time({}, "Asia/Shanghai") is None


def test_camera_model_joins_make_and_model():
    assert camera_model({"Make": "HUAWEI", "Model": "ELS-AN00"}) == "HUAWEI ELS-AN00"
    assert camera_model({"DateTime": "2026:05:01 10:00:00"}) is None


def test_checkins_are_flagged_for_camera_changes_and_exif_times(client, auth, enrolled, clock, db_session,
                                                                media_dir):
    headers = auth.person("P001")
    now = clock.now()
    first = _with_exif(photo_path(media_dir, PERSON_IDENTITY, 1), make="Xiaomi", model="2201123C", taken=now)
    other_camera = _with_exif(photo_path(media_dir, PERSON_IDENTITY, 2), make="Apple", model="iPhone 12",
                              taken=now)
    old_photo = _with_exif(photo_path(media_dir, PERSON_IDENTITY, 3), make="Xiaomi", model="2201123C",
                           taken=now - timedelta(days=3))
    no_camera = _with_exif(photo_path(media_dir, PERSON_IDENTITY, 4), make=None, model=None, taken=now)

    ids = [_checkin(client, headers, photo, now)["id"] for photo in (first, other_camera, old_photo, no_camera)]
    no_exif = _checkin(client, headers, photo_path(media_dir, PERSON_IDENTITY, 5).read_bytes(), now)["id"]

    flags = {i: db_session.get(Checkin, i).flags for i in [*ids, no_exif]}
    assert not {"camera_changed", "exif_time_mismatch", "no_camera_model"} & set(flags[ids[0]])
    assert "camera_changed" in flags[ids[1]]
    assert "exif_time_mismatch" in flags[ids[2]]
    assert "camera_changed" in flags[ids[2]]  # back to the first phone's camera after the iPhone
    assert "no_camera_model" in flags[ids[3]]
    # Without any EXIF the engine's own flag says it; it is not repeated.
    assert "no_exif" in flags[no_exif] and "no_camera_model" not in flags[no_exif]
