"""Schema migrations (Alembic) driven from code; the repository's alembic.ini runs the same scripts by hand."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps


def default_database_url(instance_path: str | Path) -> str:
    """The database used when none is configured: SQLite in the instance folder."""
    return f"sqlite:///{Path(instance_path).resolve() / 'checkin.db'}"


def configured_url(environ: Mapping[str, str] | None = None) -> str:
    """The database the service would use, from CHECKIN_DATABASE_URL or CHECKIN_INSTANCE_PATH (for `alembic`)."""
    environ = os.environ if environ is None else environ
    return environ.get("CHECKIN_DATABASE_URL") or default_database_url(environ.get("CHECKIN_INSTANCE_PATH",
                                                                                   "instance"))


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at this package's migrations and at url."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at url to revision (default: the newest)."""
    command.upgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Raise if the models and the migrated schema differ (alembic check)."""
    command.check(alembic_config(url))


def revision(url: str, message: str) -> None:
    """Autogenerate a new migration from the models (developer use)."""
    command.revision(alembic_config(url), message=message, autogenerate=True)


@functools.cache
def head_revisions() -> frozenset[str]:
    """The newest revision(s) of this package's migration scripts (read once: the scripts ship with the code)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def current_revisions(connection: Connection) -> frozenset[str]:
    """The revision(s) the database at connection is stamped with (empty: no schema, or not an Alembic one)."""
    # Read directly rather than through a MigrationContext, which logs two lines per call (readyz is polled).
    if not inspect(connection).has_table(VERSION_TABLE):
        return frozenset()
    return frozenset(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def schema_state(connection: Connection) -> tuple[bool, frozenset[str], frozenset[str]]:
    """(at the newest schema, the database's revisions, the code's heads)."""
    current, heads = current_revisions(connection), head_revisions()
    return current == heads, current, heads
