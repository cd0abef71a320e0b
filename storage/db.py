"""Database engine and session factory, created unbound and configured by the composition root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every model, with a constraint naming convention Alembic can rely on."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers proceed while a check-in is being written by another worker.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL still never corrupts the database; it only skips the fsync on each commit (the WAL is
    # synced at checkpoints), which a single-file deployment can afford and which halves the cost of a commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def secure_sqlite_file(url: str) -> Path | None:
    """Create the SQLite file of url with mode 0600 (or tighten an existing one and its -wal/-shm); its path."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.query.get("mode") == "memory":
        return None
    return _secure_sqlite_path(parsed.database or "")


def _secure_sqlite_path(database: str) -> Path | None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    if not path.parent.is_dir():
        return None  # SQLite reports the missing folder itself
    # The database holds personal data: create it owner-only before SQLite does (SQLite creates it 0644 under the
    # usual umask, and gives its -wal and -shm files the mode of the database file).
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if candidate.exists() and candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)
    except OSError:
        return None  # read-only folder or a file of another user: SQLite gives the clearer error
    return path


def _owner_only_sqlite(dialect, _record, cargs, cparams) -> None:  # type: ignore[no-untyped-def]
    # Runs before the driver opens (and possibly creates) the file, for every engine of the process: the app's,
    # Alembic's (`checkin init-db`) and any script's.
    if dialect.name == "sqlite" and not cparams.get("uri"):
        _secure_sqlite_path(str(cargs[0]) if cargs else str(cparams.get("database") or ""))


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for url; SQLite gets foreign keys, WAL and a busy timeout (and an owner-only file)."""
    if url.startswith("sqlite"):
        kwargs: dict = {"connect_args": {"check_same_thread": False, "timeout": 10}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, echo=echo, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)


class Database:
    """Holds the engine and session factory; bound to a URL once by the app factory or CLI."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session_factory: sessionmaker[Session] | None = None

    def configure(self, url: str, *, echo: bool = False, keyring: Any = None) -> None:
        """Bind this database to url; keyring (storage.crypto.Keyring) seals face templates in its sessions."""
        if self.engine is not None:
            self.engine.dispose()
        self.engine = make_engine(url, echo=echo)
        # Sessions carry the keyring, so the code that stores templates needs no extra argument to seal them.
        info = {"keyring": keyring} if keyring is not None else {}
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False, info=info)

    def session(self) -> Session:
        """Open a new session."""
        if self.session_factory is None:
            raise RuntimeError("database is not configured")
        return self.session_factory()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Session that commits on success and rolls back on error."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def on_rollback(session: Session, cleanup) -> None:  # type: ignore[no-untyped-def]
    """Run cleanup() if the transaction this work belongs to rolls back (e.g. delete a blob whose row failed)."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault("rollback_cleanups", []).append((transaction, cleanup))


def on_commit(session: Session, action) -> None:  # type: ignore[no-untyped-def]
    """Run action() once the outermost transaction commits (e.g. delete a blob whose row no longer points to it);
    a rollback forgets it. Deleting after the commit means a crash leaves an orphan (fsck finds it), never a row
    pointing to a deleted blob."""
    session.info.setdefault("commit_actions", []).append(action)


def _run_commit_actions(session: Session) -> None:
    if session.in_nested_transaction():
        return
    for action in session.info.pop("commit_actions", []):
        try:
            action()
        except Exception:  # noqa: BLE001  (the commit happened; a failed delete leaves an orphan for fsck)
            pass


def _forget_commit_actions(session: Session, rolled_back) -> None:  # type: ignore[no-untyped-def]
    if rolled_back.parent is None:
        session.info.pop("commit_actions", None)


def _inside(transaction, ancestor) -> bool:  # type: ignore[no-untyped-def]
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def _run_rollback_cleanups(session: Session, rolled_back) -> None:  # type: ignore[no-untyped-def]
    # A failed savepoint only undoes the work done inside it: clean-ups of the enclosing work must stay.
    kept = []
    for transaction, cleanup in session.info.get("rollback_cleanups", []):
        if _inside(transaction, rolled_back) or (transaction is None and rolled_back.parent is None):
            try:
                cleanup()
            except Exception:  # noqa: BLE001  (a failed cleanup must not hide the original error)
                pass
        else:
            kept.append((transaction, cleanup))
    session.info["rollback_cleanups"] = kept


def _forget_rollback_cleanups(session: Session) -> None:
    # Releasing a savepoint is not the commit that makes the work durable; only the outermost commit is.
    if session.in_nested_transaction():
        return
    session.info.pop("rollback_cleanups", None)


event.listen(Session, "after_soft_rollback", _run_rollback_cleanups)
event.listen(Session, "after_commit", _forget_rollback_cleanups)
event.listen(Session, "after_commit", _run_commit_actions)
event.listen(Session, "after_soft_rollback", _forget_commit_actions)
event.listen(Engine, "do_connect", _owner_only_sqlite)
