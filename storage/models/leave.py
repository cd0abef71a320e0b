"""Leave requests (请假/外出) and their return report (销假)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.models._types import UTCDateTime, utcnow


class LeaveRequest(Base):
    """A person's request to leave the home area for a period, its decision and its return."""

    __tablename__ = "leave_request"
    __table_args__ = (
        Index("ix_leave_request_office_id_status_start_at", "office_id", "status", "start_at"),
        Index("ix_leave_request_person_id_start_at", "person_id", "start_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    destination: Mapped[str] = mapped_column(String(500))
    dest_lat: Mapped[float | None] = mapped_column(Float)
    dest_lon: Mapped[float | None] = mapped_column(Float)
    dest_radius_m: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(2000))
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    attachment_blob_key: Mapped[str | None] = mapped_column(String(128))
    attachment_content_type: Mapped[str | None] = mapped_column(String(64))
    attachment_size: Mapped[int | None] = mapped_column(Integer)
    attachment_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    approval_level: Mapped[str] = mapped_column(String(16))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(String(2000))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the retention purge deleted the attachment (the decision stays).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    return_checkin_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Bumped on every transition so concurrent deciders cannot both win.
    version: Mapped[int] = mapped_column(Integer, default=1)
