"""CHECKIN_ENCRYPTION_KEYS and the blob backend settings."""

from __future__ import annotations

import json

import pytest

from server.config import ConfigError, load_config
from storage.crypto import Keyring, decode_key, fingerprint_id, generate_key

JWT = "j" * 40


def _env(tmp_path, **values: str) -> dict[str, str]:
    return {"CHECKIN_INSTANCE_PATH": str(tmp_path / "instance"), "CHECKIN_JWT_SECRET_KEY": JWT, **values}


def test_a_single_key_is_a_ring_of_one_named_by_its_fingerprint(tmp_path):
    key = generate_key()
    config = load_config(environ=_env(tmp_path, CHECKIN_ENCRYPTION_KEY=key))

    assert config["KEYRING"].ids == [fingerprint_id(decode_key(key))]


def test_the_keyring_is_newest_last_and_keeps_the_single_key_as_its_oldest(tmp_path):
    old, one, two = generate_key(), generate_key(), generate_key()
    config = load_config(environ=_env(tmp_path, CHECKIN_ENCRYPTION_KEY=old,
                                      CHECKIN_ENCRYPTION_KEYS=f"2026a:{one}, 2026b:{two}"))

    assert config["KEYRING"].ids == [fingerprint_id(decode_key(old)), "2026a", "2026b"]
    assert config["KEYRING"].newest_id == "2026b"


def test_a_development_instance_keeps_its_generated_key_in_the_ring(tmp_path):
    first = load_config(environ=_env(tmp_path, CHECKIN_ENV="development"))
    stored = json.loads((tmp_path / "instance" / "secrets.json").read_text())["ENCRYPTION_KEY"]
    new = generate_key()

    second = load_config(environ=_env(tmp_path, CHECKIN_ENV="development", CHECKIN_ENCRYPTION_KEYS=f"new:{new}"))

    assert second["KEYRING"].ids == [first["KEYRING"].newest_id, "new"]
    assert first["KEYRING"].newest_id == fingerprint_id(decode_key(stored))


def test_production_accepts_a_keyring_without_the_single_key(tmp_path):
    config = load_config(environ=_env(tmp_path, CHECKIN_ENV="production", CHECKIN_ENCRYPTION_KEYS=generate_key()))

    assert len(config["KEYRING"].ids) == 1


@pytest.mark.parametrize("value, message", [
    ("a:not-base64!", "base64"),
    (f"a:{generate_key()},a:{generate_key()}", "twice"),
    (f"bad id:{generate_key()}", "key id"),
])
def test_bad_keyrings_are_refused(tmp_path, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(environ=_env(tmp_path, CHECKIN_ENCRYPTION_KEYS=value))


def test_the_same_key_twice_is_refused():
    key = decode_key(generate_key())
    with pytest.raises(ValueError, match="repeats"):
        Keyring([("a", key), ("b", key)])


def test_s3_needs_a_bucket_and_backends_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="CHECKIN_S3_BUCKET"):
        load_config(environ=_env(tmp_path, CHECKIN_ENCRYPTION_KEY=generate_key(), CHECKIN_BLOB_BACKEND="s3"))
    with pytest.raises(ConfigError, match="CHECKIN_BLOB_BACKEND"):
        load_config(environ=_env(tmp_path, CHECKIN_ENCRYPTION_KEY=generate_key(), CHECKIN_BLOB_BACKEND="ftp"))
