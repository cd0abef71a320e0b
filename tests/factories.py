"""Factories for test data: plain functions over a session, committing so the API sees the rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from storage.models import Account, Office, Person
from supervision import accounts
from supervision.passwords import hash_password

PASSWORD = "correct-horse-1"


def _hash(password: str) -> str:
    return hash_password(password)


def make_office(session: Session, code: str = "O1", county: str = "C1", name: str | None = None) -> Office:
    office = accounts.create_office(session=session, code=code, name=name or f"Office {code}", county=county)
    session.commit()
    return office


def make_officer(session: Session, office: Office, username: str = "officer1", *, admin: bool = False,
                 password: str = PASSWORD) -> Account:
    account = Account(username=username, display_name=username, password_hash=_hash(password),
                      role="admin" if admin else "officer", office_id=office.id, county=office.county)
    session.add(account)
    session.commit()
    return account


def person_values(code: str, **fields: Any) -> dict[str, Any]:
    """A test person's column values (besides code, office and password), with fields overriding them."""
    values: dict[str, Any] = {
        "name": f"Person {code}",
        "gender": "male",
        "birth_date": date(1990, 1, 1),
        "sentence_type": "probation",
        "supervision_level": "ordinary",
        "start_date": date(2026, 1, 1),
        "end_date": date(2028, 1, 1),
        "home_lat": 31.2304,
        "home_lon": 121.4737,
        "home_radius_m": 3000.0,
        "status": "active",
    }
    values.update(fields)
    return values


def make_person(session: Session, office: Office, code: str = "P001", *, password: str = PASSWORD,
                **fields: Any) -> Person:
    person = Person(code=code, office_id=office.id, password_hash=_hash(password), **person_values(code, **fields))
    session.add(person)
    session.commit()
    return person


@dataclass
class World:
    office: Office
    other_office: Office
    officer: Account
    other_officer: Account
    admin: Account
    person: Person


def make_world(session: Session, password: str = PASSWORD) -> World:
    """Offices O1 and O2 of county C1 and X1 of C2; officer1 in O1, officer2 in O2, C1's admin1 and P001 in O1."""
    office = make_office(session, "O1", county="C1", name="城关司法所")
    other_office = make_office(session, "O2", county="C1", name="河西司法所")
    make_office(session, "X1", county="C2", name="Elsewhere")
    return World(
        office=office,
        other_office=other_office,
        officer=make_officer(session, office, "officer1", password=password),
        other_officer=make_officer(session, other_office, "officer2", password=password),
        admin=make_officer(session, office, "admin1", admin=True, password=password),
        person=make_person(session, office, "P001", password=password, name="张三"),
    )
