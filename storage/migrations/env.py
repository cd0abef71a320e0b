"""Alembic environment: runs against the URL handed over by storage.migrate, or, for the `alembic` command with the
repository's alembic.ini, against -x url=... or the configured database (CHECKIN_DATABASE_URL, else the SQLite file
under CHECKIN_INSTANCE_PATH, as the service would use)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

import storage.models  # noqa: F401  (registers every table on Base.metadata)
from storage.db import Base
from storage.migrate import configured_url

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("url") is None:
    # Only when run as `alembic ...`: the app and `checkin init-db` configure logging themselves.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url") or configured_url()
    return str(url)


def _include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    # The monthly partitions of location_fix (PostgreSQL) are made by the migration and the sweep, not the models.
    return not (type_ == "table" and name is not None and name.startswith("location_fix_"))


def run_migrations_offline() -> None:
    """Write the migrations as SQL for the configured URL, without connecting (alembic --sql)."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True,
                      include_name=_include_name)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the connection the caller handed over, or on a new one to the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    # Batch mode lets ALTER-style migrations work on SQLite too.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True, include_name=_include_name)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
