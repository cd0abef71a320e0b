"""Who is acting: built by the HTTP layer or the CLI and handed to domain functions as a plain value."""

from __future__ import annotations

from dataclasses import dataclass

from storage.enums import STAFF_ROLES


@dataclass(frozen=True)
class Actor:
    role: str  # "person" | "officer" | "admin" | "system"
    id: int | None
    name: str
    office_id: int | None = None
    county: str | None = None
    ip: str | None = None
    session_id: str | None = None
    device_id: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


SYSTEM = Actor(role="system", id=None, name="system")
