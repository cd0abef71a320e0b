"""Messages to a supervised person: the inbox, and their delivery through the configured sender."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.models._types import UTCDateTime, utcnow


class Message(Base):
    """One message in a person's inbox, from the system or an officer, and its delivery."""

    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_person_id_id", "person_id", "id"),
        Index("ix_message_person_id_read_at", "person_id", "read_at"),
        Index("ix_message_office_id_created_at", "office_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(4000))
    # What makes a system message unique (e.g. "duty_window_open:42:2026-11-26"); officers' messages have none.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivery_status: Mapped[str] = mapped_column(String(16), default="inbox_only")
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivery_error: Mapped[str | None] = mapped_column(String(500))
