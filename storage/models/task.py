"""Officer-triggered tasks (spot checks, video inspections) and liveness challenges."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.models._types import UTCDateTime, utcnow


class Task(Base):
    """Something an officer asked one person to do by a deadline: a spot check or a video inspection."""

    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_person_id_status_due_at", "person_id", "status", "due_at"),
        Index("ix_task_office_id_status_due_at", "office_id", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checkin_id: Mapped[int | None] = mapped_column(Integer)
    clip_blob_key: Mapped[str | None] = mapped_column(String(128))
    clip_content_type: Mapped[str | None] = mapped_column(String(64))
    clip_size: Mapped[int | None] = mapped_column(Integer)
    clip_sha256: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    review_note: Mapped[str | None] = mapped_column(String(2000))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the retention purge deleted the clip and key frames (the result and review stay).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LivenessChallenge(Base):
    """The actions a person was asked to perform on camera, valid once until it expires."""

    __tablename__ = "liveness_challenge"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    actions: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
