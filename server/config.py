"""Configuration: defaults, then CHECKIN_* environment variables, then explicit overrides."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from storage.blobs import BLOB_BACKENDS
from storage.crypto import Keyring, KeyringError, decode_key, generate_key

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
    "RETENTION_LOCATION_DAYS": 3 * 365,  # location fixes (no purgeable kind registered yet)
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
}

SECRET_KEYS = ("JWT_SECRET_KEY", "ENCRYPTION_KEY")
ENVIRONMENTS = ("development", "testing", "production")


class ConfigError(RuntimeError):
    """The configuration is unusable (e.g. production without secrets)."""


def _coerce(key: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
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
                raise ConfigError(f"CHECKIN_{key}: cannot parse {raw!r}") from exc
    # Any other engine setting can be given as CHECKIN_FACE_<FIELD> too (e.g. CHECKIN_FACE_ENROL_MIN_FACE_PX).
    for name, raw in environ.items():
        if name.startswith("CHECKIN_FACE_") and name[len("CHECKIN_"):] not in DEFAULTS:
            config[name[len("CHECKIN_"):]] = raw
    config.update(overrides or {})
    config["ENV"] = str(config["ENV"]).strip().lower()
    if config["ENV"] not in ENVIRONMENTS:
        raise ConfigError(f"CHECKIN_ENV must be one of {', '.join(ENVIRONMENTS)}, not {config['ENV']!r}")

    instance = Path(config["INSTANCE_PATH"]).resolve()
    config["INSTANCE_PATH"] = str(instance)
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{instance / 'checkin.db'}"
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
    known = {field for field in EngineSettings.__dataclass_fields__}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown face engine settings: {', '.join('CHECKIN_FACE_' + u.upper() for u in unknown)}")
    try:
        return EngineSettings.from_mapping(values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"face engine settings: {exc}") from exc


def _check_rules(config: dict[str, Any]) -> None:
    # Bad rule settings fail at start-up, not on the first request that needs them.
    from supervision.leave import LeavePolicy
    from supervision.sweep import SweepSettings
    from web.idempotency import IdempotencySettings

    try:
        LeavePolicy.from_config(config)
        SweepSettings.from_config(config)
        IdempotencySettings.from_config(config)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"supervision rules: {exc}") from exc
