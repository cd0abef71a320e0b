"""Selfie check-ins and failed attempts, with their verification evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.models._types import UTCDateTime, utcnow


class Checkin(Base):
    """One selfie check-in or failed attempt, with the evidence behind its status and reasons."""

    __tablename__ = "checkin"
    __table_args__ = (
        Index("ix_checkin_office_id_status_received_at", "office_id", "status", "received_at"),
        Index("ix_checkin_person_id_received_at", "person_id", "received_at"),
        Index("ix_checkin_person_id_photo_sha256", "person_id", "photo_sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    # Denormalised from the person at the time of the check-in: the review queue is per office.
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    kind: Mapped[str] = mapped_column(String(16), default="scheduled")
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"), index=True)
    leave_request_id: Mapped[int | None] = mapped_column(ForeignKey("leave_request.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(128))
    device_bound: Mapped[bool] = mapped_column(Boolean, default=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float)
    photo_blob_key: Mapped[str | None] = mapped_column(String(128))
    photo_content_type: Mapped[str | None] = mapped_column(String(64))
    photo_size: Mapped[int | None] = mapped_column(Integer)
    photo_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    match: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    quality: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    liveness: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    exif: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    best_reference_id: Mapped[int | None] = mapped_column(ForeignKey("reference_face.id"))
    engine_version: Mapped[str | None] = mapped_column(String(64))
    review_decision: Mapped[str | None] = mapped_column(String(16))
    review_note: Mapped[str | None] = mapped_column(String(2000))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the retention purge deleted the photo (the decision record stays).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
