"""Who may see what: persons themselves, officers their office, admins their county."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session

from storage.enums import Role
from storage.models import Office, Person
from supervision.actors import Actor
from supervision.errors import NotFound


class OfficeRecord(Protocol):
    """A row kept for one person by their office (a check-in, a leave request, a task, an alert, ...)."""

    @property
    def person_id(self) -> int: ...

    @property
    def office_id(self) -> int: ...


Record = TypeVar("Record", bound=OfficeRecord)


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


def get_in_scope(session: Session, actor: Actor, model: type[Record], row_id: int, *, what: str,
                 persons_see_own: bool = True) -> Record:
    """The model's row with row_id if actor may see it, else NotFound("No such <what>.") (never Forbidden).

    Officers see their office's rows, admins their county's; persons their own, unless persons_see_own is False
    (records only staff may read).
    """
    row = session.get(model, row_id)
    if row is not None:
        if actor.role == Role.PERSON:
            visible = persons_see_own and row.person_id == actor.id
        else:
            visible = can_see_office(session, actor, row.office_id)
        if visible:
            return row
    raise NotFound(f"No such {what}.")
