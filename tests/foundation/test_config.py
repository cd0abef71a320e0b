"""server.config.load_config: defaults, then CHECKIN_* environment, then overrides; secrets by mode."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from server.config import ConfigError, load_config
from storage.blobs import decode_key, generate_key

JWT_SECRET = "s" * 40


def _env(tmp_path, **values: str) -> dict[str, str]:
    return {"CHECKIN_INSTANCE_PATH": str(tmp_path / "instance"), **values}


def test_production_without_secrets_names_both(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_config(environ=_env(tmp_path, CHECKIN_ENV="production"))

    assert "CHECKIN_JWT_SECRET_KEY" in str(raised.value)
    assert "CHECKIN_ENCRYPTION_KEY" in str(raised.value)
    assert not (tmp_path / "instance" / "secrets.json").exists()


@pytest.mark.parametrize(("given", "missing"), [
    ({"CHECKIN_JWT_SECRET_KEY": JWT_SECRET}, "CHECKIN_ENCRYPTION_KEY"),
    ({"CHECKIN_ENCRYPTION_KEY": "__generated__"}, "CHECKIN_JWT_SECRET_KEY"),
])
def test_production_with_one_secret_names_the_other(tmp_path, given, missing):
    given = {k: generate_key() if v == "__generated__" else v for k, v in given.items()}

    with pytest.raises(ConfigError, match=missing) as raised:
        load_config(environ=_env(tmp_path, CHECKIN_ENV="production", **given))

    assert set(given).isdisjoint(str(raised.value).replace(missing, "").split())


def test_production_with_secrets_from_environment(tmp_path):
    key = generate_key()

    config = load_config(environ=_env(tmp_path, CHECKIN_ENV="production", CHECKIN_JWT_SECRET_KEY=JWT_SECRET,
                                      CHECKIN_ENCRYPTION_KEY=key))

    assert (config["JWT_SECRET_KEY"], config["ENCRYPTION_KEY"]) == (JWT_SECRET, key)
    assert not (tmp_path / "instance" / "secrets.json").exists()


def test_create_app_refuses_production_without_secrets(tmp_path, monkeypatch):
    from server import create_app

    for name in ("CHECKIN_JWT_SECRET_KEY", "CHECKIN_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHECKIN_ENV", "production")

    with pytest.raises(ConfigError, match="CHECKIN_JWT_SECRET_KEY"):
        create_app({"INSTANCE_PATH": str(tmp_path / "instance")})


def test_development_generates_secrets_once_with_mode_0600(tmp_path):
    first = load_config(environ=_env(tmp_path))
    path = tmp_path / "instance" / "secrets.json"

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored == {"JWT_SECRET_KEY": first["JWT_SECRET_KEY"], "ENCRYPTION_KEY": first["ENCRYPTION_KEY"]}
    assert len(first["JWT_SECRET_KEY"]) >= 32
    assert len(decode_key(first["ENCRYPTION_KEY"])) == 32

    second = load_config(environ=_env(tmp_path))

    assert (second["JWT_SECRET_KEY"], second["ENCRYPTION_KEY"]) == (first["JWT_SECRET_KEY"], first["ENCRYPTION_KEY"])


def test_development_secrets_differ_between_instances(tmp_path):
    one = load_config(environ={"CHECKIN_INSTANCE_PATH": str(tmp_path / "a")})
    two = load_config(environ={"CHECKIN_INSTANCE_PATH": str(tmp_path / "b")})

    assert one["JWT_SECRET_KEY"] != two["JWT_SECRET_KEY"]
    assert one["ENCRYPTION_KEY"] != two["ENCRYPTION_KEY"]


def test_development_tightens_loose_secrets_file(tmp_path):
    load_config(environ=_env(tmp_path))
    path = tmp_path / "instance" / "secrets.json"
    path.chmod(0o644)

    load_config(environ=_env(tmp_path))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_defaults_and_derived_paths(tmp_path):
    config = load_config(environ=_env(tmp_path))
    instance = (tmp_path / "instance").resolve()

    assert config["ENV"] == "development"
    assert config["INSTANCE_PATH"] == str(instance)
    assert config["DATABASE_URL"] == f"sqlite:///{instance / 'checkin.db'}"
    assert config["BLOB_PATH"] == str(instance / "blobs")
    assert config["LOGIN_FAILURE_LIMIT"] == "5 per 5 minutes"
    assert config["RATELIMIT_STORAGE_URL"] == "memory://"


def test_environment_overrides_defaults_with_types(tmp_path):
    config = load_config(environ=_env(tmp_path, CHECKIN_MAX_CONTENT_LENGTH="123", CHECKIN_DB_ECHO="true",
                                      CHECKIN_LOGIN_RATE_LIMIT="7 per minute", CHECKIN_TRUST_PROXY_HOPS="2",
                                      CHECKIN_DATABASE_URL="postgresql+psycopg://u@h/db"))

    assert config["MAX_CONTENT_LENGTH"] == 123 and type(config["MAX_CONTENT_LENGTH"]) is int
    assert config["DB_ECHO"] is True
    assert config["LOGIN_RATE_LIMIT"] == "7 per minute"
    assert config["TRUST_PROXY_HOPS"] == 2
    assert config["DATABASE_URL"] == "postgresql+psycopg://u@h/db"


def test_overrides_beat_environment(tmp_path):
    config = load_config({"MAX_CONTENT_LENGTH": 456, "JWT_SECRET_KEY": "o" * 40},
                         environ=_env(tmp_path, CHECKIN_MAX_CONTENT_LENGTH="123", CHECKIN_JWT_SECRET_KEY=JWT_SECRET))

    assert config["MAX_CONTENT_LENGTH"] == 456
    assert config["JWT_SECRET_KEY"] == "o" * 40


def test_unparseable_environment_value_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="CHECKIN_MAX_CONTENT_LENGTH"):
        load_config(environ=_env(tmp_path, CHECKIN_MAX_CONTENT_LENGTH="fifteen megabytes"))


@pytest.mark.parametrize("bad_key", ["not base64 !!", "c2hvcnQ=", base64.b64encode(b"k" * 33).decode()])
def test_bad_encryption_key_is_config_error(tmp_path, bad_key):
    with pytest.raises(ConfigError, match="CHECKIN_ENCRYPTION_KEY"):
        load_config(environ=_env(tmp_path, CHECKIN_ENCRYPTION_KEY=bad_key, CHECKIN_JWT_SECRET_KEY=JWT_SECRET))


@pytest.mark.parametrize("junk", ["trailing", "inside"])
def test_encryption_key_with_junk_is_config_error(tmp_path, junk):
    key = generate_key()
    bad_key = key + "AAAA" if junk == "trailing" else key[:10] + "!" + key[10:]

    with pytest.raises(ConfigError, match="CHECKIN_ENCRYPTION_KEY"):
        load_config(environ=_env(tmp_path, CHECKIN_ENCRYPTION_KEY=bad_key, CHECKIN_JWT_SECRET_KEY=JWT_SECRET))


def test_short_jwt_secret_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="CHECKIN_JWT_SECRET_KEY"):
        load_config(environ=_env(tmp_path, CHECKIN_JWT_SECRET_KEY="too-short", CHECKIN_ENCRYPTION_KEY=generate_key()))


def test_development_restart_can_still_read_stored_photos(tmp_path, monkeypatch):
    from server import create_app

    for name in ("CHECKIN_ENV", "CHECKIN_JWT_SECRET_KEY", "CHECKIN_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    overrides = {"INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}"}
    first = create_app(overrides)
    stored = first.extensions["checkin.blobs"].put(b"selfie bytes", content_type="image/jpeg")

    restarted = create_app(overrides)

    assert restarted.extensions["checkin.blobs"].get(stored.key) == b"selfie bytes"
    for application in (first, restarted):
        application.extensions["checkin.db"].engine.dispose()


def test_per_format_pixel_caps_and_model_copies_come_from_the_environment(tmp_path):
    from verification.settings import DEFAULT_PIXEL_CAPS

    config = load_config({"INSTANCE_PATH": str(tmp_path)},
                         environ={"CHECKIN_FACE_MAX_PIXELS_PNG": "4000000", "CHECKIN_FACE_MODEL_COPIES": "2"})
    settings = config["FACE_ENGINE"]
    assert settings.pixel_caps == {**DEFAULT_PIXEL_CAPS, "image/png": 4_000_000}
    assert isinstance(settings.max_pixels_png, int) and settings.model_copies == 2


@pytest.mark.parametrize("bad", [{"CHECKIN_FACE_MAX_PIXELS_HEIC": "0"}, {"CHECKIN_FACE_MAX_PIXELS_WEBP": "1.5"},
                                 {"CHECKIN_FACE_MAX_PIXELS_JPEG": "300000000"}, {"CHECKIN_FACE_MODEL_COPIES": "0"}])
def test_bad_pixel_caps_or_model_copies_stop_the_start(tmp_path, bad):
    with pytest.raises(ConfigError, match="face engine settings"):
        load_config({"INSTANCE_PATH": str(tmp_path)}, environ=bad)


def test_a_configured_format_cap_refuses_an_image_the_default_accepts():
    import io

    from PIL import Image

    from verification.engine import FaceEngine
    from verification.errors import ImageError, ImageErrorCode, QualityError, QualityErrorCode
    from verification.settings import EngineSettings

    buffer = io.BytesIO()
    Image.new("RGB", (2000, 1500), (90, 100, 110)).save(buffer, "PNG")
    png = buffer.getvalue()
    strict = FaceEngine(EngineSettings(max_pixels_png=2_000_000))
    with pytest.raises(ImageError) as refused:
        strict.analyze(png, purpose="checkin")
    assert refused.value.code == ImageErrorCode.IMAGE_TOO_LARGE and "2,000,000" in str(refused.value)
    with pytest.raises(QualityError) as default:  # decoded, then refused for having no face
        FaceEngine(EngineSettings()).analyze(png, purpose="checkin")
    assert default.value.code == QualityErrorCode.NO_FACE
