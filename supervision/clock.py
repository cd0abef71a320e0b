"""A replaceable clock, so rules with deadlines can be tested at chosen times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that stays where it is put (tests and simulations)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        """The frozen time."""
        return self.at

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self.at = self.at + delta
