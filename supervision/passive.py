"""Passive signals recorded as flags on every check-in: camera metadata that does not fit the claimed capture.

The engine already flags a photo without any EXIF block (``no_exif``); these add what needs the person's history
or the claimed time. Flags inform the officer; they do not change a check-in's status on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Checkin, Person

# Phone clocks are network-synchronised; minutes of difference mean the photo was taken at another time.
EXIF_TIME_TOLERANCE = timedelta(minutes=5)
# Camera times outside these years are unset clocks or forged metadata, not capture times.
EXIF_MIN_YEAR, EXIF_MAX_YEAR = 1990, 2100
# How many of the device's earlier check-ins are looked at for its camera.
_HISTORY = 20


def exif_capture_time(exif: Mapping[str, str], default_timezone: str) -> datetime | None:
    """When the camera says the photo was taken, as aware UTC (local EXIF times read in default_timezone).

    None when the photo names no time, or a time that cannot be one (see ``exif_time_invalid``).
    """
    raw = exif.get("DateTimeOriginal") or exif.get("DateTime")
    if not raw:
        return None
    try:
        local = datetime.strptime(raw.strip()[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if not EXIF_MIN_YEAR <= local.year <= EXIF_MAX_YEAR:
        return None
    try:
        offset = exif.get("OffsetTimeOriginal", "").strip()
        if offset:
            try:
                return datetime.fromisoformat(local.isoformat() + offset).astimezone(ZoneInfo("UTC"))
            except ValueError:
                pass
        try:
            zone = ZoneInfo(default_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return None
        return local.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))
    except (OverflowError, ValueError):
        return None


def exif_time_invalid(exif: Mapping[str, str]) -> bool:
    """Whether the photo names a capture time that is no plausible time ("0000:00:00 00:00:00", year 9999, junk)."""
    raw = (exif.get("DateTimeOriginal") or exif.get("DateTime") or "").strip()
    if not raw:
        return False
    try:
        local = datetime.strptime(raw.strip()[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return True
    return not EXIF_MIN_YEAR <= local.year <= EXIF_MAX_YEAR


def camera_model(exif: Mapping[str, str]) -> str | None:
    """Make and model of the camera, or None when the photo does not name one."""
    name = " ".join(part for part in (exif.get("Make", "").strip(), exif.get("Model", "").strip()) if part)
    return name or None


def previous_camera(session: Session, person_id: int, device_id: str) -> str | None:
    """The camera named by the device's most recent earlier check-in that names one."""
    stmt = (select(Checkin.exif).where(Checkin.person_id == person_id, Checkin.device_id == device_id)
            .order_by(Checkin.id.desc()).limit(_HISTORY))
    for exif in session.scalars(stmt):
        if isinstance(exif, dict) and (model := camera_model(exif)):
            return model
    return None


def passive_flags(*, session: Session, person: Person, device_id: str | None, exif: Mapping[str, str],
                  captured_at: datetime) -> list[str]:
    """Flags for a check-in photo: EXIF time far from captured_at or no time at all, another camera, no camera named."""
    flags: list[str] = []
    taken = exif_capture_time(exif, person.office.timezone if person.office else "UTC")
    if taken is not None and abs(taken - captured_at) > EXIF_TIME_TOLERANCE:
        flags.append("exif_time_mismatch")
    elif taken is None and exif_time_invalid(exif):
        flags.append("exif_time_invalid")
    model = camera_model(exif)
    if exif and model is None:
        # Some EXIF survived (an edited or forwarded picture) but no camera is named.
        flags.append("no_camera_model")
    if device_id and model is not None:
        before = previous_camera(session, person.id, device_id)
        if before is not None and before != model:
            flags.append("camera_changed")
    return flags
