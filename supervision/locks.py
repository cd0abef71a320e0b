"""Row locks that serialise check-then-act sequences on one person, on PostgreSQL and SQLite alike."""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from storage.models import Person


def lock_person(session: Session, person_id: int) -> None:
    """Hold the person's row until the transaction ends, so reads made after this see every earlier winner's write.

    Call it before reading what the action checks (counts, open tasks). PostgreSQL takes a row lock
    (SELECT ... FOR UPDATE). SQLite has no row locks: a no-op UPDATE takes the database's write lock instead; the
    driver opens the transaction at that first write, so later reads of this transaction see the newest data.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Person.id).where(Person.id == person_id).with_for_update())
        return
    session.execute(update(Person).where(Person.id == person_id).values(updated_at=Person.updated_at)
                    .execution_options(synchronize_session=False))


def lock_name(session: Session, name: str) -> None:
    """Serialise transactions on an arbitrary name (e.g. a login counter) until the transaction ends.

    PostgreSQL takes a transaction-scoped advisory lock on the name's hash. On SQLite this is a no-op: the caller's
    first write takes the database's write lock, which serialises every writer anyway.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
