"""SQLite files hold personal data: the database and its -wal/-shm files are owner-only (0600)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from server.cli import main
from storage.db import Base, Database, secure_sqlite_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # what a login shell gives: files 0644 unless the program asks otherwise
    try:
        yield
    finally:
        os.umask(previous)


def test_new_database_and_its_wal_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db = Database()
    db.configure(f"sqlite:///{path}")
    assert db.engine is not None
    try:
        Base.metadata.create_all(db.engine)
        assert _mode(path) == 0o600
        with db.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            connection.execute(text("CREATE TABLE note (body TEXT)"))
            connection.execute(text("INSERT INTO note VALUES ('x')"))
            connection.commit()
            for suffix in ("", "-wal", "-shm"):
                target = tmp_path / f"new.db{suffix}"
                assert target.exists(), suffix
                assert _mode(target) == 0o600, suffix
    finally:
        db.engine.dispose()


def test_any_engine_of_the_process_creates_an_owner_only_file(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'script.db'}")
    try:
        with engine.connect() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
        assert _mode(tmp_path / "script.db") == 0o600
    finally:
        engine.dispose()


def test_existing_readable_files_are_tightened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"old.db{suffix}").write_bytes(b"")
        (tmp_path / f"old.db{suffix}").chmod(0o644)
    assert secure_sqlite_file(f"sqlite:///{path}") == path
    assert [_mode(tmp_path / f"old.db{s}") for s in ("", "-wal", "-shm")] == [0o600] * 3


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "postgresql+psycopg://u@h/db"])
def test_urls_without_a_file_are_left_alone(url: str) -> None:
    assert secure_sqlite_file(url) is None


def test_init_db_creates_an_owner_only_database(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    env = {"CHECKIN_ENV": "development", "CHECKIN_INSTANCE_PATH": str(tmp_path / "instance"),
           "CHECKIN_DATABASE_URL": f"sqlite:///{path}", "CHECKIN_JWT_SECRET_KEY": None,
           "CHECKIN_ENCRYPTION_KEY": None}
    result = CliRunner(env=env).invoke(main, ["init-db"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert path.stat().st_size > 0
    assert _mode(path) == 0o600
