"""Every setting is checked at start-up: a word that is not one of the choices, a yes/no that is neither, a size
written as the README writes it, and production's refusal of SQLite and per-process rate limits."""

from __future__ import annotations

import logging

import pytest

from server.config import (
    ConfigError,
    check_service_config,
    load_config,
    log_format,
    parse_bool,
    parse_pixels,
    parse_size,
)
from storage.blobs import generate_key

SECRETS = {"CHECKIN_JWT_SECRET_KEY": "v" * 40}


@pytest.fixture
def env(tmp_path):
    return {"CHECKIN_INSTANCE_PATH": str(tmp_path / "instance"), **SECRETS, "CHECKIN_ENCRYPTION_KEY": generate_key()}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("CHECKIN_LIVENESS_MODE", "alwyas", "did you mean 'always'"),
    ("CHECKIN_LOG_FORMAT", "jsno", "did you mean 'json'"),
    ("CHECKIN_LOG_LEVEL", "verbose", "CHECKIN_LOG_LEVEL must be one of"),
    ("CHECKIN_FACE_MATCHER", "sface+dlb", "matcher must be one of"),
    ("CHECKIN_FACE_DETECTOR", "yunett", "detector must be one of"),
    ("CHECKIN_DUTY_STRICT_DAYS", "mon,tue,wednsday,xyz", "unknown weekday"),
    ("CHECKIN_DUTY_TIMEZONE", "Asia/Shangai", "unknown time zone"),
    ("CHECKIN_DB_ECHO", "ture", "not a yes/no value"),
    ("CHECKIN_JOBS_SYNC", "maybe", "not a yes/no value"),
    ("CHECKIN_LIVENESS_BY_LEVEL", '{"strict": "alway"}', "did you mean 'always'"),
    ("CHECKIN_LIVENESS_BY_LEVEL", '{"strickt": "always"}', "did you mean 'strict'"),
    ("CHECKIN_LIVENESS_BY_LEVEL", "strict=always", "not JSON"),
    ("CHECKIN_RATELIMIT_STORAGE_URL", "redis:/127.0.0.1:6379/0", "CHECKIN_RATELIMIT_STORAGE_URL"),
    ("CHECKIN_RATELIMIT_STORAGE_URL", "memroy://", "CHECKIN_RATELIMIT_STORAGE_URL"),
    ("CHECKIN_QUEUE_URL", "127.0.0.1:6379", "CHECKIN_QUEUE_URL"),
    ("CHECKIN_DATABASE_URL", "postgres://u@h/db", "CHECKIN_DATABASE_URL"),
    ("CHECKIN_DATABASE_URL", "not a url", "CHECKIN_DATABASE_URL"),
    ("CHECKIN_LOGIN_RATE_LIMIT", "20 per minit", "CHECKIN_LOGIN_RATE_LIMIT"),
    ("CHECKIN_MAX_CONTENT_LENGTH", "15 MiBs", "CHECKIN_MAX_CONTENT_LENGTH"),
    ("CHECKIN_MAX_CONTENT_LENGTH", "0", "must be positive"),
    ("CHECKIN_JOB_THREADS", "-1", "must be positive"),
    ("CHECKIN_TRUST_PROXY_HOPS", "-1", "zero or more"),
    ("CHECKIN_MIN_REFERENCES", "12", "cannot exceed CHECKIN_MAX_REFERENCES"),
    ("CHECKIN_ENV", "prod", "CHECKIN_ENV must be one of"),
])
def test_a_typo_in_a_setting_stops_start_up(env, name, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("+", r"\+")):
        load_config(environ={**env, name: value})


def test_create_app_stops_on_a_typo(env, monkeypatch, tmp_path):
    from server import create_app

    monkeypatch.setenv("CHECKIN_LIVENESS_MODE", "spot-checks")

    with pytest.raises(ConfigError, match="did you mean 'spot_checks'"):
        create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "JWT_SECRET_KEY": "c" * 40})


@pytest.mark.parametrize(("text", "size"), [
    ("15728640", 15728640), ("15 MB", 15 * 1024 * 1024), ("15MB", 15 * 1024 * 1024), ("10 mb", 10 * 1024 * 1024),
    ("512 KiB", 512 * 1024), ("1.5 GB", int(1.5 * 1024**3)), ("300 B", 300), (4096, 4096),
])
def test_sizes_are_read_as_the_readme_writes_them(text, size):
    assert parse_size(text) == size


def test_size_settings_from_the_environment(env):
    config = load_config(environ={**env, "CHECKIN_MAX_CONTENT_LENGTH": "15 MB", "CHECKIN_VIDEO_MAX_BYTES": "30 MB",
                                  "CHECKIN_LIVENESS_MAX_BYTES": "10485760", "CHECKIN_VIDEO_MAX_PIXELS": "1920x1088"})

    assert config["MAX_CONTENT_LENGTH"] == 15728640
    assert config["VIDEO_MAX_BYTES"] == 30 * 1024 * 1024
    assert config["LIVENESS_MAX_BYTES"] == 10485760
    assert config["VIDEO_MAX_PIXELS"] == 1920 * 1088


def test_size_overrides_may_be_text_too(env):
    config = load_config({"VIDEO_MAX_BYTES": "5 MB"}, environ=env)

    assert config["VIDEO_MAX_BYTES"] == 5 * 1024 * 1024


def test_pixels_and_booleans():
    assert parse_pixels("1920x1088") == parse_pixels("1920 × 1088") == parse_pixels("2088960") == 2088960
    words = ("true", "YES", "on", "1", "false", "No", "off", "0", "")
    assert [parse_bool(v) for v in words] == [True] * 4 + [False] * 5
    with pytest.raises(ValueError):
        parse_pixels("big")


def test_defaults_pass_the_checks(env):
    config = load_config(environ=env)

    assert config["LIVENESS_MODE"] == "off" and config["LOG_LEVEL"] == "INFO"
    assert log_format(config) == "text"


def test_a_misspelt_setting_name_is_reported(env, caplog):
    with caplog.at_level(logging.WARNING, logger="server.config"):
        load_config(environ={**env, "CHECKIN_LIVENES_MODE": "always", "CHECKIN_TEST_DATABASE_URL": "sqlite://"})

    messages = [r.getMessage() for r in caplog.records if r.name == "server.config"]
    assert messages == ["CHECKIN_LIVENES_MODE is not a setting and is ignored (did you mean CHECKIN_LIVENESS_MODE?)"]


def _production(env, **values):
    return load_config(environ={**env, "CHECKIN_ENV": "production", **values})


def test_production_refuses_sqlite_unless_allowed(env):
    config = _production(env, CHECKIN_RATELIMIT_STORAGE_URL="redis://127.0.0.1:6379/0")

    with pytest.raises(ConfigError, match="production mode refuses SQLite"):
        check_service_config(config)
    check_service_config(_production(env, CHECKIN_RATELIMIT_STORAGE_URL="redis://127.0.0.1:6379/0",
                                     CHECKIN_ALLOW_SQLITE_IN_PRODUCTION="true"))


def test_production_refuses_the_memory_rate_limit_store_unless_allowed(env):
    config = _production(env, CHECKIN_DATABASE_URL="postgresql+psycopg://u@127.0.0.1:5432/checkin")

    with pytest.raises(ConfigError, match="in-memory rate-limit store"):
        check_service_config(config)
    check_service_config(_production(env, CHECKIN_DATABASE_URL="postgresql+psycopg://u@127.0.0.1:5432/checkin",
                                     CHECKIN_ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION="yes"))


def test_production_with_postgresql_and_redis_starts(env):
    config = _production(env, CHECKIN_DATABASE_URL="postgresql+psycopg://u@127.0.0.1:5432/checkin",
                         CHECKIN_RATELIMIT_STORAGE_URL="redis://127.0.0.1:6379/0")

    check_service_config(config)
    assert log_format(config) == "json"  # production logs JSON unless told otherwise


def test_development_allows_sqlite_and_memory(env):
    check_service_config(load_config(environ=env))


def test_create_app_refuses_production_on_sqlite(tmp_path):
    from server import create_app

    with pytest.raises(ConfigError, match="production mode refuses SQLite"):
        create_app({"ENV": "production", "INSTANCE_PATH": str(tmp_path / "instance"),
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", "JWT_SECRET_KEY": "q" * 40,
                    "ENCRYPTION_KEY": generate_key()})
