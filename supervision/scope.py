"""Who may see what: persons themselves, officers their office, admins their county."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session

from storage.models import Office, Person
from supervision.actors import Actor
from supervision.errors import NotFound


def office_condition(actor: Actor, office_column: Any) -> ColumnElement[bool]:
    """SQL condition restricting office_column to the offices actor may see."""
    if actor.role == "officer":
        return office_column == actor.office_id
    if actor.role == "admin":
        return office_column.in_(select(Office.id).where(Office.county == actor.county))
    return false()


def can_see_office(session: Session, actor: Actor, office_id: int) -> bool:
    """Whether actor may see data of office_id."""
    if actor.role == "officer":
        return office_id == actor.office_id
    if actor.role == "admin":
        office = session.get(Office, office_id)
        return office is not None and office.county == actor.county
    return False


def get_person(session: Session, actor: Actor, person_id: int) -> Person:
    """The person with person_id if actor may see them; otherwise NotFound (never Forbidden)."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("No such person.")
    if actor.role == "person":
        if person.id != actor.id:
            raise NotFound("No such person.")
    elif not can_see_office(session, actor, person.office_id):
        raise NotFound("No such person.")
    return person
