"""Location supervision between check-ins: tracking switched on per person, zones, and the phone's fixes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.models._types import UTCDateTime, utcnow


class LocationFix(Base):
    """One position the phone recorded. On PostgreSQL the table is range-partitioned by month of fixed_at.

    The key is (person, time, client id): a partitioned table's unique keys must hold the partition column, and a
    retried upload resends a fix unchanged, so its key is the same and ON CONFLICT DO NOTHING drops it. The key also
    serves the per-person time-range reads (trail, zone pass).
    """

    __tablename__ = "location_fix"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    fixed_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float)
    altitude_m: Mapped[float | None] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    provider: Mapped[str | None] = mapped_column(String(16))
    # The phone's own "mock location" flag (Android isFromMockProvider / isMock).
    mock: Mapped[bool] = mapped_column(Boolean, default=False)


class LocationTracking(Base):
    """Tracking switched on for one person by an officer, with a reason and an end date (one row per person)."""

    __tablename__ = "location_tracking"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), unique=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), index=True)
    reason: Mapped[str] = mapped_column(String(2000))
    until: Mapped[date] = mapped_column(Date)
    interval_minutes: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stopped_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    # The sweep's zone pass has evaluated every fix received up to here (fixes arriving later are evaluated next).
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LocationZone(Base):
    """An inclusion area, an exclusion zone (禁止令) or a curfew of one person: a circle or a polygon."""

    __tablename__ = "location_zone"
    __table_args__ = (Index("ix_location_zone_person_id_deleted_at", "person_id", "deleted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    kind: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16), default="home")
    center_lat: Mapped[float | None] = mapped_column(Float)
    center_lon: Mapped[float | None] = mapped_column(Float)
    radius_m: Mapped[float | None] = mapped_column(Float)
    polygon: Mapped[list[Any] | None] = mapped_column(JSON)  # [[lat, lon], ...]
    hours_start: Mapped[str | None] = mapped_column(String(5))  # "22:00", local time of the office
    hours_end: Mapped[str | None] = mapped_column(String(5))
    note: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
