"""Endpoints for the phone app (and the shared login endpoints)."""

from __future__ import annotations

from web.api import Blueprint


def blueprints() -> list[Blueprint]:
    """Every blueprint of the phone API."""
    from mobile_api.activities import blp as activities_blp
    from mobile_api.auth import blp as auth_blp
    from mobile_api.checkins import blp as checkins_blp
    from mobile_api.inbox import blp as inbox_blp
    from mobile_api.leave import blp as leave_blp
    from mobile_api.liveness import blp as liveness_blp
    from mobile_api.location import blp as location_blp
    from mobile_api.me import blp as me_blp
    from mobile_api.tasks import blp as tasks_blp
    from mobile_api.video import blp as video_blp

    return [auth_blp, me_blp, checkins_blp, leave_blp, tasks_blp, liveness_blp, video_blp, location_blp,
            activities_blp, inbox_blp]
