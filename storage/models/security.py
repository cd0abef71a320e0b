"""Login attempts, counted in the database so every worker and both logins (API and console) share the limits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.models._types import UTCDateTime, utcnow


class LoginAttempt(Base):
    """One login attempt: counts towards its address's limit, and towards its username's while it is a failure."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_attempted_at", "username", "attempted_at"),
        Index("ix_login_attempt_address_attempted_at", "address", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Normalised (stripped, lower case, at most 64 characters), whether or not such a user exists.
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # True from the start (an attempt in flight is a failure until proven otherwise, so concurrent guesses cannot
    # all pass the check); cleared when the password was right.
    counts_as_failure: Mapped[bool] = mapped_column(Boolean, default=True)
