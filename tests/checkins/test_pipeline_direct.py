"""The pipeline called directly, as a CLI or a worker would: with bytes nobody sniffed at an HTTP edge."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from storage.blobs import Payload
from supervision.checkin_judge import CheckinPolicy
from supervision.checkin_pipeline import CheckinContext, Submission, submit_checkin
from supervision.checkins import Fix
from supervision.liveness import LivenessPolicy
from tests.checkins.helpers import HOME, edge_photo, identity_photos
from verification.engine import get_engine


def _submit(app: Any, db_session: Any, blobs: Any, person: Any, clock: Any, data: bytes) -> Any:
    engine = get_engine(app.config["CHECKIN"]["FACE_ENGINE"])
    ctx = CheckinContext(session=db_session, blobs=blobs, engine=engine, policy=CheckinPolicy(),
                         liveness=LivenessPolicy(), now=clock.now())
    outcome = submit_checkin(ctx, Submission(person=person, device_id="phone-1", photo=Payload.of(data),
                                             fix=Fix(*HOME, 20.0),
                                             captured_at=clock.now() - timedelta(minutes=1)))
    db_session.commit()
    return outcome


def test_an_unsniffed_photo_is_stored_with_the_type_the_engine_decoded(app, db_session, blobs, person, clock,
                                                                       faces_dir: Path) -> None:
    photo = identity_photos(faces_dir, "people/Colin_Powell")[0].read_bytes()

    outcome = _submit(app, db_session, blobs, person, clock, photo)

    assert outcome.error is None
    assert outcome.checkin.photo_content_type == "image/jpeg"
    assert blobs.get(outcome.checkin.photo_blob_key) == photo


def test_an_unsniffed_photo_without_a_face_keeps_the_decoded_type_too(app, db_session, blobs, person, clock,
                                                                      faces_dir: Path) -> None:
    outcome = _submit(app, db_session, blobs, person, clock, edge_photo(faces_dir, "no_face_coffee.png"))

    assert outcome.error is not None and outcome.error.code == "no_face"
    assert outcome.checkin.status == "failed" and outcome.checkin.photo_content_type == "image/png"
