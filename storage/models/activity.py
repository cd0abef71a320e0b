"""Education and community-service sessions, who is invited, attendance proven by check-in, and talks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.models._types import UTCDateTime, utcnow


class Activity(Base):
    """An education or community-service session of one office, at a venue, for the persons it invites."""

    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_office_id_start_at", "office_id", "start_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    venue_name: Mapped[str] = mapped_column(String(200))
    venue_lat: Mapped[float] = mapped_column(Float)
    venue_lon: Mapped[float] = mapped_column(Float)
    venue_radius_m: Mapped[float] = mapped_column(Float)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    capacity: Mapped[int | None] = mapped_column(Integer)
    # The levels invited when it was scheduled (their persons got invitations then); persons named one by one too.
    levels: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ActivityInvitation(Base):
    """One person invited to a session (only invited persons see it and can attend)."""

    __tablename__ = "activity_invitation"
    __table_args__ = (UniqueConstraint("activity_id", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Attendance(Base):
    """A person's attendance at a session: checked in and out at the venue, or recorded by an officer."""

    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("activity_id", "person_id"),
        Index("ix_attendance_person_id_status", "person_id", "status"),
        Index("ix_attendance_office_id_status", "office_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="phone")
    check_in_checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkin.id"))
    check_out_checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkin.id"))
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Hours between check-in and check-out within the session; an officer may correct them with a note.
    hours: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(String(2000))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_decision: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Talk(Base):
    """A one-to-one talk or counselling session an officer held with a person; the note is confidential."""

    __tablename__ = "talk"
    __table_args__ = (
        Index("ix_talk_person_id_at", "person_id", "at"),
        Index("ix_talk_office_id_at", "office_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    kind: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    minutes: Mapped[int] = mapped_column(Integer)
    # Confidential: shown only to staff in scope, and every read is audit-logged.
    note: Mapped[str] = mapped_column(String(10000))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
