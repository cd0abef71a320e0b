"""Supervised persons (社区矫正对象), their bound devices and enrolled reference faces."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.db import Base
from storage.models._types import UTCDateTime, utcnow
from storage.models.org import Office


class Person(Base):
    """A person under community supervision (社区矫正对象): the record, the home area and the phone login."""

    __tablename__ = "person"
    __table_args__ = (Index("ix_person_office_id_status", "office_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    gender: Mapped[str] = mapped_column(String(16))
    birth_date: Mapped[date] = mapped_column(Date)
    sentence_type: Mapped[str] = mapped_column(String(32))
    supervision_level: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    home_lat: Mapped[float | None] = mapped_column(Float)
    home_lon: Mapped[float | None] = mapped_column(Float)
    home_radius_m: Mapped[float | None] = mapped_column(Float)
    # The address as written down at intake; the home area above is what check-ins are judged against.
    home_address: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="active")
    employment_status: Mapped[str] = mapped_column(String(16), default="unknown")
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    office: Mapped[Office] = relationship(lazy="joined")


class Device(Base):
    """A phone a person logged in with; the first one is bound, later ones are flagged."""

    __tablename__ = "device"
    __table_args__ = (UniqueConstraint("person_id", "device_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    device_id: Mapped[str] = mapped_column(String(128))
    # The first device a person logs in with is bound; later ones are allowed but flagged.
    is_bound: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReferenceFace(Base):
    """An enrolled reference photo of a person, kept as evidence; its templates are matched against."""

    __tablename__ = "reference_face"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    blob_key: Mapped[str] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # The dlib encoding of references enrolled before templates were kept per engine (migration 0002 copied it into
    # reference_template); new references leave it empty.
    encoding: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The keyring key that sealed encoding (NULL: written before migration 0006, plaintext until rotate-keys).
    encoding_key_id: Mapped[str | None] = mapped_column(String(64))
    quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    engine_version: Mapped[str] = mapped_column(String(64))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(String(1000))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    # Set when the retention purge deleted the photo and templates (blob_key is then empty).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReferenceTemplate(Base):
    """One reference's template for one embedder (SFace, dlib, ...), so references survive an engine change."""

    __tablename__ = "reference_template"
    __table_args__ = (UniqueConstraint("reference_id", "template"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference_id: Mapped[int] = mapped_column(ForeignKey("reference_face.id"), index=True)
    template: Mapped[str] = mapped_column(String(64))  # embedder key, e.g. "sface-2021dec-int8bq"
    # Little-endian float64, sealed with the keyring (storage.crypto) under key_id; a NULL key_id is a plaintext
    # vector from before migration 0006, which `checkin rotate-keys` seals.
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str | None] = mapped_column(String(64))
    engine_version: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
