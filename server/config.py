"""Configuration: defaults, then CHECKIN_* environment variables, then explicit overrides."""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from storage.blobs import BLOB_BACKENDS
from storage.crypto import Keyring, KeyringError, decode_key, generate_key
from storage.migrate import default_database_url

# Every key here can be set as CHECKIN_<KEY> in the environment; README lists them all.
DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    "INSTANCE_PATH": "instance",
    "DATABASE_URL": "",  # empty: SQLite file under INSTANCE_PATH
    "BLOB_PATH": "",  # empty: INSTANCE_PATH/blobs
    "JWT_SECRET_KEY": "",
    "ENCRYPTION_KEY": "",
    # A keyring "id1:base64,id2:base64" (newest last) for key rotation; ENCRYPTION_KEY, when set, stays its oldest key.
    "ENCRYPTION_KEYS": "",
    # Blobs on the filesystem (one server) or in an S3-compatible bucket (several servers; AWS_* credentials).
    "BLOB_BACKEND": "filesystem",
    "S3_BUCKET": "",
    "S3_PREFIX": "",
    "S3_ENDPOINT_URL": "",
    "S3_REGION": "",
    # Retention (supervision.retention, `checkin purge`), in days; 0 keeps that kind forever.
    "RETENTION_RELEASED_DAYS": 5 * 365,  # photos, clips, key frames, attachments, templates after release
    "RETENTION_KEY_FRAMES_DAYS": 365,  # video key frames, whatever the person's status
    "RETENTION_FAILED_ATTEMPT_DAYS": 180,  # photos of failed (unusable) attempts
    "RETENTION_AUDIT_DAYS": 15 * 365,  # the audit log is kept longest
    "MAX_CONTENT_LENGTH": 15 * 1024 * 1024,
    "ACCESS_TOKEN_MINUTES": 15,
    "REFRESH_TOKEN_DAYS": 30,
    "RATELIMIT_STORAGE_URL": "memory://",
    "LOGIN_RATE_LIMIT": "20 per minute",
    "LOGIN_FAILURE_LIMIT": "5 per 5 minutes",
    "TRUST_PROXY_HOPS": 0,
    # FACE_* map onto verification.settings.EngineSettings fields; None keeps the engine's calibrated default.
    "FACE_VERIFY_THRESHOLD": None,
    "FACE_REJECT_THRESHOLD": None,
    "FACE_DETECT_LONG_SIDE": None,
    "FACE_NUM_JITTERS": None,
    "MIN_REFERENCES": 3,
    "MAX_REFERENCES": 10,
    "CHECKIN_LATE_MINUTES": 10,
    "CHECKIN_FUTURE_TOLERANCE_MINUTES": 5,
    "MAX_LOCATION_ACCURACY_M": 500,
    # A retry polls this long for the first request, then gets 409 idempotency_in_progress with Retry-After.
    "IDEMPOTENCY_WAIT_SECONDS": 2.0,
    # A reservation is leased this long (the longest a request can run: gunicorn's worker timeout), then a retry
    # may take it over; finished answers are replayed for IDEMPOTENCY_RETENTION_HOURS, then the sweep prunes them.
    "IDEMPOTENCY_LEASE_SECONDS": 120,
    "IDEMPOTENCY_RETENTION_HOURS": 72,
    "DB_ECHO": False,
    "CONSOLE_IDLE_MINUTES": 30,
    # Logs: "text" (one readable line) or "json" (one object a line, with the request id); empty: json in
    # production, text otherwise.
    "LOG_FORMAT": "",
    "LOG_LEVEL": "INFO",
    # Production refuses SQLite and the per-process rate-limit store unless these say it is meant.
    "ALLOW_SQLITE_IN_PRODUCTION": False,
    "ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION": False,
    # Liveness challenges and remote video inspections (docs/liveness.md).
    "LIVENESS_MODE": "off",  # off | spot_checks | always
    "LIVENESS_BY_LEVEL": {},  # per supervision level, JSON in the environment: {"strict": "always"}
    "LIVENESS_CHALLENGE_SECONDS": 120,
    "LIVENESS_MAX_BYTES": 10 * 1024 * 1024,
    "LIVENESS_MAX_SECONDS": 15,
    "LIVENESS_MAX_FRAMES": 40,
    "VIDEO_MAX_BYTES": 30 * 1024 * 1024,
    "VIDEO_MAX_SECONDS": 30,
    "VIDEO_MAX_PIXELS": 1920 * 1088,
    # Background jobs: QUEUE_URL (redis://...) sends them to RQ (`checkin worker`); empty runs them in-process.
    "QUEUE_URL": "",
    "QUEUE_NAME": "checkin",
    "JOB_THREADS": 1,
    "JOB_TIMEOUT_SECONDS": 600,
    "JOBS_SYNC": False,
    # Leave rules (supervision.leave.LeavePolicy); per-office overrides as JSON {office_code: {field: value}}.
    "LEAVE_MIN_NOTICE_DAYS": 3,
    "LEAVE_OFFICE_MAX_DAYS": 7,
    "LEAVE_MAX_DAYS": 30,
    "LEAVE_MAX_DAYS_PER_YEAR": 60,
    "LEAVE_RETURN_GRACE_HOURS": 24,
    "LEAVE_PAST_TOLERANCE_MINUTES": 5,
    "LEAVE_OFFICE_OVERRIDES": {},
    # Check-in duties (supervision.duties), spot checks and the sweep (supervision.sweep); JSON for the dicts.
    "DUTY_TIMEZONE": "Asia/Shanghai",
    "DUTY_WINDOW_START": "08:00",
    "DUTY_WINDOW_END": "20:00",
    "DUTY_STRICT_DAYS": "mon,tue,wed,thu,fri,sat,sun",
    "DUTY_ORDINARY_DAYS": "mon,thu",
    "DUTY_LENIENT_DAYS": "mon",
    "DUTY_GRACE_MINUTES": 10,
    "DUTY_OFFICE_OVERRIDES": "",
    "SPOT_CHECK_RESPOND_MINUTES": 60,
    "SPOT_CHECK_GRACE_MINUTES": 10,
    "SPOT_CHECK_RANDOM_RATES": "",
    "REPEATED_FAILURES_COUNT": 3,
    "REPEATED_FAILURES_WINDOW_HOURS": 24,
    "SWEEP_LOOKBACK_HOURS": 72,
    # Location supervision between check-ins (supervision.tracking.LocationPolicy, docs/location.md).
    "LOCATION_INTERVAL_MINUTES": 15,
    "LOCATION_MAX_BATCH": 500,
    "LOCATION_FUTURE_TOLERANCE_MINUTES": 5,
    "LOCATION_MAX_AGE_DAYS": 7,
    "LOCATION_CONFIRM_FIXES": 3,
    "LOCATION_CONFIRM_MINUTES": 10,
    "LOCATION_MAX_SPEED_KMH": 500,
    "LOCATION_COUNTY_RADIUS_KM": 30,
    "LOCATION_LEAVE_CORRIDOR_KM": 30,
    "LOCATION_GAP_MINUTES": 120,
    "LOCATION_RETENTION_DAYS": 180,
    "LOCATION_TRACKING_MAX_DAYS": 92,
    # Education and community service (supervision.activities) and the inbox (supervision.messages).
    "HOURS_REQUIRED": "",  # JSON per level, e.g. {"strict": {"study": 12, "service": 12}}; defaults 12/12, 8/8, 4/4
    "HOURS_OFFICE_OVERRIDES": "",  # JSON per office code: {"CG01": {"strict": {"study": 10}}}
    "HOURS_WARN_DAYS": 7,
    "ACTIVITY_CHECKIN_EARLY_MINUTES": 30,
    "ACTIVITY_CHECKOUT_LATE_MINUTES": 30,
    "ACTIVITY_REMINDER_HOURS": 24,
    "LEAVE_RETURN_REMINDER_HOURS": 12,
    "MESSAGE_SENDER": "inbox",  # inbox | webhook
    "MESSAGE_WEBHOOK_URL": "",
    "MESSAGE_WEBHOOK_TIMEOUT_SECONDS": 5.0,
    "MESSAGE_WEBHOOK_ATTEMPTS": 3,
    "MESSAGE_WEBHOOK_BACKOFF_SECONDS": 2.0,
}

SECRET_KEYS = ("JWT_SECRET_KEY", "ENCRYPTION_KEY")
ENVIRONMENTS = ("development", "testing", "production")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Byte sizes: plain bytes or a number with a unit, as the README writes them ("15 MB"); MB means MiB here.
SIZE_KEYS = ("MAX_CONTENT_LENGTH", "LIVENESS_MAX_BYTES", "VIDEO_MAX_BYTES")
SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
              "g": 1024**3, "gb": 1024**3, "gib": 1024**3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_PIXELS = re.compile(r"^\s*(\d+)\s*[x×*]\s*(\d+)\s*$", re.IGNORECASE)
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")
# Settings that must be positive numbers (zero or less would disable a limit by accident).
POSITIVE_KEYS = ("MAX_CONTENT_LENGTH", "ACCESS_TOKEN_MINUTES", "REFRESH_TOKEN_DAYS", "MIN_REFERENCES",
                 "MAX_REFERENCES", "MAX_LOCATION_ACCURACY_M", "IDEMPOTENCY_LEASE_SECONDS", "CONSOLE_IDLE_MINUTES",
                 "LIVENESS_CHALLENGE_SECONDS", "LIVENESS_MAX_BYTES", "LIVENESS_MAX_SECONDS", "LIVENESS_MAX_FRAMES",
                 "VIDEO_MAX_BYTES", "VIDEO_MAX_SECONDS", "VIDEO_MAX_PIXELS", "JOB_THREADS", "JOB_TIMEOUT_SECONDS")
NON_NEGATIVE_KEYS = ("TRUST_PROXY_HOPS", "CHECKIN_LATE_MINUTES", "CHECKIN_FUTURE_TOLERANCE_MINUTES")
# CHECKIN_* variables that are not settings of the service (tests, benchmarks, scripts).
FOREIGN_PREFIXES = ("TEST_", "BENCH_", "FUZZ_", "UPDATE_", "BIN")
QUEUE_SCHEMES = ("redis", "rediss", "unix")

log = logging.getLogger(__name__)


class ConfigError(RuntimeError):
    """The configuration is unusable (e.g. production without secrets)."""


def parse_size(raw: str | int) -> int:
    """Bytes from an int, "15728640", "15 MB", "512 KiB" or "1.5 GB" (binary units: 1 MB = 1,048,576 bytes)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    match = _SIZE.match(str(raw))
    if match is None or match.group(2).lower() not in SIZE_UNITS:
        raise ValueError(f"{raw!r} is not a size; write bytes (15728640) or a number with B, KB, MB or GB (15 MB)")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])


def parse_pixels(raw: str | int) -> int:
    """A pixel count from an int, "2088960" or "1920x1088"."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    match = _PIXELS.match(str(raw))
    if match is not None:
        return int(match.group(1)) * int(match.group(2))
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a pixel count; write 2088960 or 1920x1088") from None


def parse_bool(raw: str | bool) -> bool:
    """true/false, yes/no, on/off, 1/0 (any case); anything else is a typo, not False."""
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{raw!r} is not a yes/no value; use true or false")


def _coerce(key: str, raw: str, default: Any) -> Any:
    if key in SIZE_KEYS:
        return parse_size(raw)
    if key == "VIDEO_MAX_PIXELS":
        return parse_pixels(raw)
    if isinstance(default, bool):
        return parse_bool(raw)
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_config(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults, environment and overrides; resolve paths and secrets."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        raw = environ.get(f"CHECKIN_{key}")
        if raw is not None:
            try:
                config[key] = _coerce(key, raw, default)
            except ValueError as exc:
                raise ConfigError(f"CHECKIN_{key}: cannot parse {raw!r} ({exc})") from exc
    # Any other engine setting can be given as CHECKIN_FACE_<FIELD> too (e.g. CHECKIN_FACE_ENROL_MIN_FACE_PX).
    for name, raw in environ.items():
        if name.startswith("CHECKIN_FACE_") and name[len("CHECKIN_"):] not in DEFAULTS:
            config[name[len("CHECKIN_"):]] = raw
    _warn_unknown_names(environ)
    config.update(overrides or {})
    config["ENV"] = str(config["ENV"]).strip().lower()
    if config["ENV"] not in ENVIRONMENTS:
        raise ConfigError(f"CHECKIN_ENV must be one of {', '.join(ENVIRONMENTS)}, not {config['ENV']!r}")
    _check_settings(config)

    instance = Path(config["INSTANCE_PATH"]).resolve()
    config["INSTANCE_PATH"] = str(instance)
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = default_database_url(instance)
    if not config["BLOB_PATH"]:
        config["BLOB_PATH"] = str(instance / "blobs")
    _resolve_secrets(config, instance)
    config["KEYRING"] = _keyring(config)
    if config["BLOB_BACKEND"] not in BLOB_BACKENDS:
        raise ConfigError(f"CHECKIN_BLOB_BACKEND must be one of {', '.join(BLOB_BACKENDS)}")
    if config["BLOB_BACKEND"] == "s3" and not config["S3_BUCKET"]:
        raise ConfigError("CHECKIN_BLOB_BACKEND=s3 needs CHECKIN_S3_BUCKET")
    config["FACE_ENGINE"] = _engine_settings(config)
    _check_rules(config)
    if len(config["JWT_SECRET_KEY"]) < 32:
        raise ConfigError("CHECKIN_JWT_SECRET_KEY must be at least 32 characters")
    return config


def check_service_config(config: Mapping[str, Any]) -> None:
    """Refuse, in production, what only suits one developer's machine, unless a setting says it is meant."""
    if config["ENV"] != "production":
        return
    if str(config["DATABASE_URL"]).startswith("sqlite") and not config["ALLOW_SQLITE_IN_PRODUCTION"]:
        raise ConfigError("production mode refuses SQLite: set CHECKIN_DATABASE_URL to a PostgreSQL server "
                          "(or CHECKIN_ALLOW_SQLITE_IN_PRODUCTION=true for a single-process trial)")
    if (str(config["RATELIMIT_STORAGE_URL"]).startswith("memory")
            and not config["ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION"]):
        raise ConfigError("production mode refuses the in-memory rate-limit store (each worker would count alone): "
                          "set CHECKIN_RATELIMIT_STORAGE_URL=redis://... "
                          "(or CHECKIN_ALLOW_MEMORY_RATELIMIT_IN_PRODUCTION=true)")


def log_format(config: Mapping[str, Any]) -> str:
    """The configured log format, "json" or "text" (LOG_FORMAT empty: json in production)."""
    return str(config.get("LOG_FORMAT") or ("json" if config.get("ENV") == "production" else "text"))


def log_settings(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The log format and level from the environment alone, checked, for commands that need no other setting."""
    environ = os.environ if environ is None else environ
    env = str(environ.get("CHECKIN_ENV", DEFAULTS["ENV"])).strip().lower()
    fmt = str(environ.get("CHECKIN_LOG_FORMAT", DEFAULTS["LOG_FORMAT"])).strip().lower()
    level = str(environ.get("CHECKIN_LOG_LEVEL", DEFAULTS["LOG_LEVEL"])).strip().upper()
    _choice("LOG_FORMAT", fmt, ("",) + LOG_FORMATS)
    _choice("LOG_LEVEL", level, LOG_LEVELS)
    return log_format({"LOG_FORMAT": fmt, "ENV": env}), level


def _warn_unknown_names(environ: Mapping[str, str]) -> None:
    # A misspelt variable name would otherwise be ignored in silence and its default used.
    known = [f"CHECKIN_{key}" for key in DEFAULTS]
    for name in environ:
        if not name.startswith("CHECKIN_") or name in known or name.startswith("CHECKIN_FACE_"):
            continue
        if name[len("CHECKIN_"):].startswith(FOREIGN_PREFIXES):
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        log.warning("%s is not a setting and is ignored%s", name, hint)


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        close = difflib.get_close_matches(str(value), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        words = ", ".join(repr("") + " (the default)" if word == "" else word for word in allowed)
        raise ConfigError(f"CHECKIN_{key} must be one of {words}, not {value!r}{hint}")


def _check_settings(config: dict[str, Any]) -> None:
    # Every setting is checked here, at start-up, so a typo stops the service instead of surfacing on the first
    # request that needs it (or never, when a misspelt word silently means "off").
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from storage.enums import SupervisionLevel
    from supervision.liveness import LIVENESS_MODES

    for key in SIZE_KEYS + ("VIDEO_MAX_PIXELS",):
        try:
            config[key] = parse_size(config[key]) if key in SIZE_KEYS else parse_pixels(config[key])
        except ValueError as exc:
            raise ConfigError(f"CHECKIN_{key}: {exc}") from exc
    for key, default in DEFAULTS.items():
        if isinstance(default, bool):
            try:
                config[key] = parse_bool(config[key])
            except ValueError as exc:
                raise ConfigError(f"CHECKIN_{key}: {exc}") from exc
    for key in POSITIVE_KEYS + NON_NEGATIVE_KEYS:
        try:
            number = float(config[key])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"CHECKIN_{key}: {config[key]!r} is not a number") from exc
        if number < 0 or (number == 0 and key in POSITIVE_KEYS):
            raise ConfigError(f"CHECKIN_{key} must be {'positive' if key in POSITIVE_KEYS else 'zero or more'}, "
                              f"not {config[key]!r}")
    if int(config["MIN_REFERENCES"]) > int(config["MAX_REFERENCES"]):
        raise ConfigError("CHECKIN_MIN_REFERENCES cannot exceed CHECKIN_MAX_REFERENCES")
    config["LOG_FORMAT"] = str(config["LOG_FORMAT"]).strip().lower()
    _choice("LOG_FORMAT", config["LOG_FORMAT"], ("",) + LOG_FORMATS)
    config["LOG_LEVEL"] = str(config["LOG_LEVEL"]).strip().upper()
    _choice("LOG_LEVEL", config["LOG_LEVEL"], LOG_LEVELS)
    _choice("LIVENESS_MODE", config["LIVENESS_MODE"], LIVENESS_MODES)
    by_level = config["LIVENESS_BY_LEVEL"] or {}
    if isinstance(by_level, str):
        try:
            by_level = json.loads(by_level) if by_level.strip() else {}
        except ValueError as exc:
            raise ConfigError(f"CHECKIN_LIVENESS_BY_LEVEL is not JSON: {exc}") from exc
    if not isinstance(by_level, Mapping):
        raise ConfigError('CHECKIN_LIVENESS_BY_LEVEL must be a JSON object such as {"strict": "always"}')
    for level, mode in by_level.items():
        _choice("LIVENESS_BY_LEVEL key", level, tuple(str(v.value) for v in SupervisionLevel))
        _choice(f"LIVENESS_BY_LEVEL[{level}]", mode, LIVENESS_MODES)
    if config["DATABASE_URL"]:
        try:
            make_url(str(config["DATABASE_URL"])).get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ConfigError(f"CHECKIN_DATABASE_URL is not a database URL SQLAlchemy can use: {exc}") from exc
    from limits import parse as parse_limit
    from limits.storage import SCHEMES as RATELIMIT_SCHEMES

    scheme = str(config["RATELIMIT_STORAGE_URL"]).split("://", 1)[0].lower()
    if "://" not in str(config["RATELIMIT_STORAGE_URL"]) or scheme not in RATELIMIT_SCHEMES:
        raise ConfigError(f"CHECKIN_RATELIMIT_STORAGE_URL must be memory:// or a store URL such as "
                          f"redis://127.0.0.1:6379/0, not {config['RATELIMIT_STORAGE_URL']!r}")
    if config["QUEUE_URL"] and str(config["QUEUE_URL"]).split("://", 1)[0].lower() not in QUEUE_SCHEMES:
        raise ConfigError(f"CHECKIN_QUEUE_URL must be empty or a redis:// URL, not {config['QUEUE_URL']!r}")
    for key in ("LOGIN_RATE_LIMIT", "LOGIN_FAILURE_LIMIT"):
        try:
            parse_limit(str(config[key]))
        except ValueError as exc:
            raise ConfigError(f"CHECKIN_{key}: {config[key]!r} is not a rate such as '20 per minute'") from exc


def _keyring(config: dict[str, Any]) -> Keyring:
    if config["ENCRYPTION_KEY"]:
        try:
            decode_key(config["ENCRYPTION_KEY"])
        except ValueError as exc:
            raise ConfigError(f"CHECKIN_ENCRYPTION_KEY: {exc}") from exc
    try:
        if config["ENCRYPTION_KEYS"]:
            return Keyring.parse(config["ENCRYPTION_KEYS"], legacy=config["ENCRYPTION_KEY"] or "")
        return Keyring.single(decode_key(config["ENCRYPTION_KEY"]))
    except (KeyringError, ValueError) as exc:
        raise ConfigError(f"CHECKIN_ENCRYPTION_KEYS: {exc}") from exc


def _resolve_secrets(config: dict[str, Any], instance: Path) -> None:
    # With a keyring, the single key is optional (kept as the ring's oldest key when it is still there).
    optional = ("ENCRYPTION_KEY",) if config["ENCRYPTION_KEYS"] else ()
    missing = [key for key in SECRET_KEYS if not config[key] and key not in optional]
    if optional and not config["ENCRYPTION_KEY"]:
        path = instance / "secrets.json"
        if path.exists():
            config["ENCRYPTION_KEY"] = json.loads(path.read_text()).get("ENCRYPTION_KEY", "")
    if not missing:
        return
    if config["ENV"] == "production":
        names = ", ".join(f"CHECKIN_{key}" for key in missing)
        raise ConfigError(f"production mode needs {names} from the environment")
    # Development keeps generated secrets in the instance folder, so restarts can still decrypt stored photos.
    try:
        _store_secrets(config, instance, missing)
    except OSError as exc:
        raise ConfigError(f"CHECKIN_INSTANCE_PATH: cannot keep the development secrets in {instance}: "
                          f"{exc.strerror or exc}") from exc


def _store_secrets(config: dict[str, Any], instance: Path, missing: list[str]) -> None:
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    generators = {"JWT_SECRET_KEY": lambda: secrets.token_urlsafe(48), "ENCRYPTION_KEY": generate_key}
    changed = False
    for key in missing:
        if key not in stored:
            stored[key] = generators[key]()
            changed = True
        config[key] = stored[key]
    if changed:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle)
    os.chmod(path, 0o600)


def _engine_settings(config: dict[str, Any]) -> Any:
    from verification.settings import EngineSettings

    values = {key[len("FACE_"):].lower(): value for key, value in config.items()
              if key.startswith("FACE_") and key != "FACE_ENGINE" and value is not None}
    fields = EngineSettings.__dataclass_fields__
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown face engine settings: {', '.join('CHECKIN_FACE_' + u.upper() for u in unknown)}")
    for name, value in values.items():
        if isinstance(fields[name].default, bool):
            try:
                values[name] = parse_bool(value)
            except ValueError as exc:
                raise ConfigError(f"CHECKIN_FACE_{name.upper()}: {exc}") from exc
    try:
        return EngineSettings.from_mapping(values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"face engine settings: {exc}") from exc


def _check_rules(config: dict[str, Any]) -> None:
    # Bad rule settings fail at start-up, not on the first request that needs them; the policies built here are
    # the ones the app, the worker and the CLI use (server.composition).
    from supervision.messages import sender_from_config
    from supervision.policies import Policies
    from web.idempotency import IdempotencySettings

    try:
        config["POLICIES"] = Policies.from_config(config)
        IdempotencySettings.from_config(config)
        sender_from_config(config)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"supervision rules: {exc}") from exc
