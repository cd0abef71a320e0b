"""Supervised persons: creation, listing and lookup within the actor's scope."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.enums import PersonStatus
from storage.models import Account, Office, Person
from supervision.actors import Actor
from supervision.audit import AuditAction, record_event
from supervision.errors import Conflict, NotFound, ValidationFailed
from supervision.paging import keyset
from supervision.passwords import hash_password, validate_password
from supervision.scope import can_see_office, office_condition


@dataclass(frozen=True)
class PersonValues:
    """A new person's record as registered at intake; home is a circle {lat, lon, radius_m} or None."""

    code: str
    name: str
    gender: str
    birth_date: date
    sentence_type: str
    supervision_level: str
    start_date: date
    end_date: date
    office_code: str
    password: str = field(repr=False)
    home: Mapping[str, float] | None = None
    home_address: str | None = None
    employment_status: str = "unknown"


def create_person(*, session: Session, actor: Actor, values: PersonValues, now: datetime) -> Person:
    """Register a supervised person in an office the actor may manage."""
    office = session.scalar(select(Office).where(Office.code == values.office_code))
    if office is None or not can_see_office(session, actor, office.id):
        raise ValidationFailed({"office_code": ["No such office in your scope."]})
    if values.end_date < values.start_date:
        raise ValidationFailed({"end_date": ["The end date is before the start date."]})
    if values.birth_date >= values.start_date:
        raise ValidationFailed({"birth_date": ["The birth date must be before the start date."]})
    validate_password(values.password, role="person")
    code = values.code
    # Codes are unique across the database (they are login names), but only a clash inside the actor's scope may
    # be confirmed: a code used in another county gets the same answer as any unusable code.
    holder = session.execute(select(Person.office_id).where(Person.code == code)).first() or session.execute(
        select(Account.office_id).where(Account.username == code)).first()
    if holder is not None:
        if holder.office_id is not None and can_see_office(session, actor, holder.office_id):
            raise Conflict(f"The code {code} is already registered.", code="person_code_taken")
        raise ValidationFailed({"code": ["This code cannot be used."]})
    home = values.home
    person = Person(
        code=code,
        name=values.name,
        gender=values.gender,
        birth_date=values.birth_date,
        sentence_type=values.sentence_type,
        supervision_level=values.supervision_level,
        start_date=values.start_date,
        end_date=values.end_date,
        office_id=office.id,
        home_lat=home["lat"] if home else None,
        home_lon=home["lon"] if home else None,
        home_radius_m=home["radius_m"] if home else None,
        home_address=(values.home_address or "").strip() or None,
        status=PersonStatus.ACTIVE,
        employment_status=values.employment_status,
        password_hash=hash_password(values.password),
        created_at=now,
        updated_at=now,
    )
    session.add(person)
    session.flush()
    record_event(session=session, actor=actor, action=AuditAction.PERSON_CREATED, at=now, person_id=person.id,
                 office_id=office.id, target_type="person", target_id=person.id,
                 details={"code": code, "supervision_level": values.supervision_level})
    return person


def list_persons(*, session: Session, actor: Actor, status: str | None = None, level: str | None = None,
                 office_code: str | None = None, query: str | None = None, after_id: int | None = None,
                 limit: int = 50) -> list[Person]:
    """Persons in the actor's scope, by id, with optional filters."""
    stmt = select(Person).where(office_condition(actor, Person.office_id))
    if status:
        stmt = stmt.where(Person.status == status)
    if level:
        stmt = stmt.where(Person.supervision_level == level)
    if office_code:
        stmt = stmt.join(Office, Office.id == Person.office_id).where(Office.code == office_code)
    if query:
        pattern = f"%{query}%"
        stmt = stmt.where(Person.name.ilike(pattern) | Person.code.ilike(pattern))
    return keyset(session, stmt, Person.id, after_id=after_id, limit=limit, oldest_first=True)


def update_person(*, session: Session, actor: Actor, person: Person, changes: dict[str, Any], now: datetime) -> Person:
    """Change a person's record; every change is audit-logged with old and new values."""
    if not changes:
        return person
    before: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "home":
            before["home"] = {"lat": person.home_lat, "lon": person.home_lon, "radius_m": person.home_radius_m}
            person.home_lat, person.home_lon, person.home_radius_m = (
                (value["lat"], value["lon"], value["radius_m"]) if value else (None, None, None)
            )
            continue
        if not hasattr(Person, key):
            raise NotFound(f"No field {key}.")
        before[key] = getattr(person, key)
        setattr(person, key, value)
    person.updated_at = now
    action = AuditAction.LEVEL_CHANGED if set(changes) == {"supervision_level"} else AuditAction.PERSON_UPDATED
    record_event(session=session, actor=actor, action=action, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="person", target_id=person.id,
                 details={"before": _jsonable(before), "after": _jsonable(changes)})
    session.flush()
    return person


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, date | datetime) else value for key, value in values.items()}


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def is_minor(person: Person) -> bool:
    """Whether the person was under 18 at intake (the start of supervision): their identity is protected."""
    return person.birth_date > _years_before(person.start_date, 18)


def _is_cjk(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or "\U00020000" <= char <= "\U0002ffff"


def mask_name(name: str) -> str:
    """A name reduced to surname and initial: 张三丰 -> 张某 (the style of published judgments on minors), and
    "Colin Luther Powell" -> "Powell C." (surname last, given-name initial)."""
    text = " ".join(name.split())
    if not text:
        return text
    if _is_cjk(text[0]):
        # The first character is the surname for all but the rare two-character ones (欧阳 -> 欧某): either way the
        # given name, the identifying part, is gone.
        return text[0] + "某"
    parts = text.split(" ")
    if len(parts) == 1:
        return parts[0][0] + "."
    return f"{parts[-1]} {parts[0][0]}."


def shown_name(person: Person, *, full_identity: bool = False) -> str:
    """The name to show: a minor's is masked unless full_identity (their own page, for officers of the office)."""
    return person.name if full_identity or not is_minor(person) else mask_name(person.name)


def may_see_full_identity(actor: Actor, person: Person) -> bool:
    """Only officers of the person's own office see a minor's full identity (county admins see it masked)."""
    return actor.is_staff and actor.office_id == person.office_id


def view_identity(*, session: Session, actor: Actor, person: Person, now: datetime, channel: str) -> bool:
    """Whether this view shows the person's full identity; every view of a minor's record is audit-logged."""
    if not is_minor(person):
        return True
    full = may_see_full_identity(actor, person)
    record_event(session=session, actor=actor, action=AuditAction.PERSON_VIEWED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="person", target_id=person.id,
                 details={"minor": True, "full_identity": full, "channel": channel})
    return full
