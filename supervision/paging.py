"""Keyset pagination: a page is the rows after a cursor id, newest first (or oldest first for work queues)."""

from __future__ import annotations

from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import Select
from sqlalchemy.orm import Session

T = TypeVar("T")
Columns = TypeVarTuple("Columns")


def keyset_page(stmt: Select[*Columns], column: Any, *, after_id: int | None, limit: int,
                oldest_first: bool = False) -> Select[*Columns]:
    """stmt limited to the `limit` rows past after_id in the order of column (descending unless oldest_first)."""
    if after_id is not None:
        stmt = stmt.where(column > after_id if oldest_first else column < after_id)
    return stmt.order_by(column.asc() if oldest_first else column.desc()).limit(limit)


def keyset(session: Session, stmt: Select[T], column: Any, *, after_id: int | None, limit: int,
           oldest_first: bool = False) -> list[T]:
    """The page of stmt's entities that keyset_page selects."""
    page = keyset_page(stmt, column, after_id=after_id, limit=limit, oldest_first=oldest_first)
    return list(session.scalars(page))
