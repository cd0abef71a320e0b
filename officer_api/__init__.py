"""Endpoints for officers and county administrators."""

from __future__ import annotations

from web.api import Blueprint


def blueprints() -> list[Blueprint]:
    """Every blueprint of the officer API."""
    from officer_api.activities import blp as activities_blp
    from officer_api.alerts import blp as alerts_blp
    from officer_api.audit import blp as audit_blp
    from officer_api.checkins import blp as checkins_blp
    from officer_api.leave import blp as leave_blp
    from officer_api.messages import blp as messages_blp
    from officer_api.persons import blp as persons_blp
    from officer_api.tasks import blp as tasks_blp
    from officer_api.tracking import blp as tracking_blp
    from officer_api.video import blp as video_blp

    return [persons_blp, checkins_blp, audit_blp, leave_blp, alerts_blp, tasks_blp, video_blp, tracking_blp,
            activities_blp, messages_blp]
