"""Monthly range partitions of location_fix on PostgreSQL (SQLite keeps one plain table)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

PARENT = "location_fix"
DEFAULT_PARTITION = "location_fix_default"


def month_start(value: datetime | date) -> date:
    """The first day of the month of value (UTC for datetimes)."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date()
    return value.replace(day=1)


def next_month(value: date) -> date:
    """The first day of the month after value's month."""
    return date(value.year + (value.month == 12), value.month % 12 + 1, 1)


def months_between(first: datetime | date, last: datetime | date) -> list[date]:
    """Month starts from first's month to last's month, inclusive."""
    month, end = month_start(first), month_start(last)
    months = []
    while month <= end:
        months.append(month)
        month = next_month(month)
    return months


def partition_name(month: date) -> str:
    """The partition of month, e.g. location_fix_y2026m12."""
    return f"{PARENT}_y{month.year:04d}m{month.month:02d}"


def existing_partitions(connection: Connection) -> set[str]:
    """Names of the partitions attached to location_fix."""
    rows = connection.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :parent "
        "AND pg_catalog.pg_table_is_visible(p.oid)"), {"parent": PARENT})
    return {name for (name,) in rows}


def create_month_partition(connection: Connection, month: date) -> None:
    """Create month's partition; rows already in the default partition for that month are moved into it first."""
    name, start, end = partition_name(month), month.isoformat(), next_month(month).isoformat()
    bounds = {"start": start, "end": end}
    moved = connection.execute(text(
        f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE fixed_at >= :start AND fixed_at < :end)"),
        bounds).scalar()
    if not moved:
        connection.execute(text(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {PARENT} FOR VALUES FROM ('{start}') TO ('{end}')"))
        return
    # A partition cannot be created over rows the default partition holds: build it aside, move them, attach it.
    connection.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    connection.execute(text(
        f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE fixed_at >= :start AND fixed_at < :end "
        f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"), bounds)
    connection.execute(text(
        f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')"))


def ensure_partitions(session: Session, months: Iterable[date]) -> list[str]:
    """Create the missing monthly partitions of location_fix (PostgreSQL only); the names created."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    connection = session.connection()
    have = existing_partitions(connection)
    created = []
    for month in sorted(set(months)):
        name = partition_name(month)
        if name not in have:
            with session.begin_nested():
                create_month_partition(session.connection(), month)
            created.append(name)
    return created
