"""Every rule of a deployment in one value, built once from the resolved configuration and shared by the app, the
worker and the CLI (server.composition), so no request parses a setting again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from limits import parse_many

from supervision.accounts import LoginLimit
from supervision.activities import ActivityPolicy
from supervision.checkin_judge import CheckinPolicy
from supervision.duties import DutyPolicy
from supervision.leave import LeavePolicy
from supervision.liveness import LivenessPolicy
from supervision.messages import ReminderPolicy
from supervision.retention import RetentionSettings
from supervision.sweep import SweepSettings
from supervision.tasks import SpotCheckPolicy
from supervision.tracking import LocationPolicy
from verification.video import VideoLimits


@dataclass(frozen=True)
class LoginLimits:
    """How many failed logins a username (LOGIN_FAILURE_LIMIT), and how many logins an address (LOGIN_RATE_LIMIT),
    may make in a sliding window."""

    username: tuple[LoginLimit, ...]
    address: tuple[LoginLimit, ...]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LoginLimits:
        """Parse the two rates ("5 per 5 minutes", "20/minute; 100/hour")."""
        def parsed(key: str, default: str) -> tuple[LoginLimit, ...]:
            return tuple(LoginLimit(item.amount, timedelta(seconds=item.get_expiry()))
                         for item in parse_many(str(config.get(key) or default)))

        return cls(username=parsed("LOGIN_FAILURE_LIMIT", "5 per 5 minutes"),
                   address=parsed("LOGIN_RATE_LIMIT", "20 per minute"))


@dataclass(frozen=True)
class Policies:
    """The domain policies of one configuration; the sweep's settings hold the same policy values, not copies."""

    checkin: CheckinPolicy
    leave: LeavePolicy
    duty: DutyPolicy
    spot_checks: SpotCheckPolicy
    location: LocationPolicy
    activities: ActivityPolicy
    reminders: ReminderPolicy
    retention: RetentionSettings
    sweep: SweepSettings
    login: LoginLimits
    liveness: LivenessPolicy
    inspection_clips: VideoLimits  # what a video inspection's clip may be

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policies:
        """Build (and so check) every policy from CHECKIN_* settings; JSON settings are parsed here, once."""
        sweep = SweepSettings.from_config(config)
        return cls(checkin=_checkin_policy(config), leave=sweep.leave, duty=sweep.duties, spot_checks=sweep.spot_checks,
                   location=sweep.location, activities=sweep.activities, reminders=sweep.reminders,
                   retention=RetentionSettings.from_config(config), sweep=sweep, login=LoginLimits.from_config(config),
                   liveness=LivenessPolicy.from_config(config),
                   inspection_clips=VideoLimits(max_bytes=config["VIDEO_MAX_BYTES"],
                                                max_seconds=config["VIDEO_MAX_SECONDS"],
                                                max_pixels=config["VIDEO_MAX_PIXELS"]))


def _checkin_policy(config: Mapping[str, Any]) -> CheckinPolicy:
    default = CheckinPolicy()

    def minutes(key: str, fallback: timedelta) -> timedelta:
        return fallback if config.get(key) is None else timedelta(minutes=float(config[key]))

    return CheckinPolicy(
        late_after=minutes("CHECKIN_LATE_MINUTES", default.late_after),
        future_tolerance=minutes("CHECKIN_FUTURE_TOLERANCE_MINUTES", default.future_tolerance),
        max_accuracy_m=float(config.get("MAX_LOCATION_ACCURACY_M", default.max_accuracy_m)),
        min_references=int(config.get("MIN_REFERENCES", default.min_references)),
    )
