"""Alerts raised by check-ins and sweeps, and the sanction decisions officers record (考核奖惩)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.models._types import UTCDateTime, utcnow


class Alert(Base):
    """Something an office must look at about one person, raised once per dedupe key, open until resolved."""

    __tablename__ = "alert"
    __table_args__ = (
        Index("ix_alert_office_id_status_created_at", "office_id", "status", "created_at"),
        Index("ix_alert_person_id_created_at", "person_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    # What makes an alert unique (e.g. "missed_checkin:42:2026-11-26"): a sweep that runs twice inserts nothing new.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    resolution: Mapped[str | None] = mapped_column(String(32))
    resolution_note: Mapped[str | None] = mapped_column(String(2000))


class Sanction(Base):
    """A measure an officer decided against a person (an admonition up to a return to prison)."""

    __tablename__ = "sanction"
    __table_args__ = (Index("ix_sanction_person_id_decided_at", "person_id", "decided_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    kind: Mapped[str] = mapped_column(String(32))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"))
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str] = mapped_column(String(2000))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # An admonition or warning counts towards escalation until the person has corrected it.
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
