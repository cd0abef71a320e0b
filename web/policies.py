"""The rules the officer API and the console apply, built from the app's configuration."""

from __future__ import annotations

from flask import current_app

from supervision import duties, leave, tasks


def duty_policy() -> duties.DutyPolicy:
    """The check-in duties from configuration."""
    return duties.DutyPolicy.from_config(current_app.config["CHECKIN"])


def leave_policy() -> leave.LeavePolicy:
    """The deployment's leave rules from configuration (defaults for keys not configured)."""
    return leave.LeavePolicy.from_config(current_app.config["CHECKIN"])


def spot_check_policy() -> tasks.SpotCheckPolicy:
    """The spot-check rules from configuration."""
    return tasks.SpotCheckPolicy.from_config(current_app.config["CHECKIN"])
