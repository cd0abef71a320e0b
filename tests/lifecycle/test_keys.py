"""Key rotation: after `checkin rotate-keys` and removing the old key from the ring, every photo still opens and
every template still matches; templates are sealed at rest and bound to their row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from server.cli import main
from storage.blobs import BlobKeyRetired, make_blob_store
from storage.crypto import Keyring, SealError, decode_key, fingerprint_id, generate_key
from storage.models import AuditEvent, ReferenceTemplate
from supervision.audit import AuditAction
from supervision.faces import encoding_to_bytes, stored_templates
from tests.lifecycle.helpers import add_photo_checkin, add_reference


def _env(config: dict[str, Any], **extra: str) -> dict[str, str]:
    env = {f"CHECKIN_{key}": str(config[key]) for key in (
        "INSTANCE_PATH", "DATABASE_URL", "BLOB_PATH", "JWT_SECRET_KEY", "BLOB_BACKEND", "S3_BUCKET", "S3_PREFIX",
        "S3_ENDPOINT_URL", "S3_REGION")}
    env["CHECKIN_ENV"] = "testing"
    return {**env, **extra}


def test_templates_are_sealed_at_rest_and_bound_to_their_row(db_session, blobs, person, officer, clock):
    vector = np.linspace(-1, 1, 128)
    one = add_reference(db_session, blobs, person, officer.id, clock.now(), vector=vector)
    two = add_reference(db_session, blobs, person, officer.id, clock.now(), vector=vector[::-1].copy())
    db_session.commit()

    [row_one] = db_session.scalars(select(ReferenceTemplate).where(ReferenceTemplate.reference_id == one.id))
    assert encoding_to_bytes(vector) not in row_one.vector
    assert row_one.key_id == db_session.info["keyring"].newest_id
    assert np.array_equal(stored_templates(db_session, [one.id])[one.id]["sface-test"], vector)
    # A sealed vector copied onto another reference's row does not open there.
    [row_two] = db_session.scalars(select(ReferenceTemplate).where(ReferenceTemplate.reference_id == two.id))
    row_two.vector = row_one.vector
    db_session.flush()
    with pytest.raises(SealError):
        stored_templates(db_session, [two.id])


def test_rotation_then_retiring_the_old_key_keeps_every_photo_and_template(app, db_session, blobs, person,
                                                                           officer, clock):
    config = app.config["CHECKIN"]
    old_key = config["ENCRYPTION_KEY"]
    vector = np.linspace(0, 2, 128)
    checkins = [add_photo_checkin(db_session, blobs, person, clock.now()) for _ in range(3)]
    reference = add_reference(db_session, blobs, person, officer.id, clock.now(), vector=vector)
    # A template from before 0006 (plaintext, no key id) is sealed by the rotation too.
    legacy = ReferenceTemplate(reference_id=reference.id, template="dlib-resnet-v1", vector=encoding_to_bytes(vector),
                               key_id=None, engine_version="dlib-resnet-v1/old", created_at=clock.now())
    db_session.add(legacy)
    db_session.commit()
    photos = {c.photo_blob_key: blobs.get(c.photo_blob_key) for c in checkins}
    photos[reference.blob_key] = blobs.get(reference.blob_key)
    new_key = generate_key()

    # Step 1: the ring holds the old key (as CHECKIN_ENCRYPTION_KEY) and the new one, newest last.
    rotate = CliRunner(env=_env(config, CHECKIN_ENCRYPTION_KEY=old_key, CHECKIN_ENCRYPTION_KEYS=f"2027:{new_key}"))
    result = rotate.invoke(main, ["rotate-keys"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "rewrapped=4" in result.output and "templates=2" in result.output
    again = rotate.invoke(main, ["rotate-keys"], catch_exceptions=False)
    assert "rewrapped=0 current=4" in again.output and "templates=0" in again.output

    # Step 2: the old key is gone from the ring.
    newest_only = make_blob_store({**config, "KEYRING": Keyring.parse(f"2027:{new_key}")})
    for key, data in photos.items():
        assert newest_only.get(key) == data
        assert newest_only.key_id(key) == "2027"
    db_session.info["keyring"] = Keyring.parse(f"2027:{new_key}")
    db_session.expire_all()
    templates = stored_templates(db_session, [reference.id])[reference.id]
    assert np.array_equal(templates["sface-test"], vector) and np.array_equal(templates["dlib-resnet-v1"], vector)
    assert {row.key_id for row in db_session.scalars(select(ReferenceTemplate))} == {"2027"}
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == AuditAction.KEYS_ROTATED))
    assert event.details["newest_key_id"] == "2027"


def test_without_rotation_a_retired_key_is_named(app, blobs, person, db_session, clock):
    checkin = add_photo_checkin(db_session, blobs, person, clock.now())
    db_session.commit()
    config = app.config["CHECKIN"]
    newest_only = make_blob_store({**config, "KEYRING": Keyring.parse(generate_key())})

    with pytest.raises(BlobKeyRetired, match=fingerprint_id(decode_key(config["ENCRYPTION_KEY"]))):
        newest_only.get(checkin.photo_blob_key)
