"""`checkin` errors are one line on stderr: no traceback for an unreachable database or an unusable path, no usage
block for a bad argument, and a setting's typo named with what was meant."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli import main


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    return {"CHECKIN_ENV": "development", "CHECKIN_INSTANCE_PATH": str(tmp_path / "instance"),
            "CHECKIN_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "CHECKIN_JWT_SECRET_KEY": None,
            "CHECKIN_ENCRYPTION_KEY": None}


def _run(env: dict[str, str | None], *args: str) -> tuple[int, list[str]]:
    result = CliRunner(env=env).invoke(main, list(args), catch_exceptions=False, prog_name="checkin")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    return result.exit_code, lines


def test_init_db_on_an_unreachable_database_is_one_line(env):
    env["CHECKIN_DATABASE_URL"] = "postgresql+psycopg://checkin:s3cret@127.0.0.1:1/none"

    code, lines = _run(env, "init-db")

    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: cannot use the database at postgresql+psycopg://checkin:***@127.0.0.1:1/none")
    assert "s3cret" not in lines[0]


def test_init_db_in_a_missing_folder_is_one_line(env, tmp_path):
    env["CHECKIN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'x.db'}"

    code, lines = _run(env, "init-db")

    assert code == 1
    assert lines == [f"Error: cannot create the SQLite database {tmp_path / 'no/such/folder/x.db'}: "
                     f"the folder {tmp_path / 'no/such/folder'} does not exist"]


def test_init_db_under_a_file_is_one_line(env, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    env["CHECKIN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'a-file' / 'x.db'}"

    code, lines = _run(env, "init-db")

    assert code == 1 and len(lines) == 1
    assert "is a file, not a folder" in lines[0]


def test_init_db_on_an_unwritable_path_is_one_line(env):
    # /proc takes no new files, even for root (for whom permission bits would not stop the write).
    env["CHECKIN_DATABASE_URL"] = "sqlite:////proc/checkin-test.db"

    code, lines = _run(env, "init-db")

    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith("Error: cannot ")
    assert "/proc/checkin-test.db" in lines[0]


def test_unusable_instance_folder_is_one_line(env, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    env["CHECKIN_INSTANCE_PATH"] = str(tmp_path / "a-file" / "instance")

    code, lines = _run(env, "init-db")

    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith("Error: CHECKIN_INSTANCE_PATH: cannot keep the development secrets in")


@pytest.mark.parametrize(("args", "expected"), [
    (("init-db", "--bogus"), "Error: No such option '--bogus'. (see `checkin init-db --help`)"),
    (("create-office",), "Error: Missing argument 'CODE'. (see `checkin create-office --help`)"),
    (("serve", "--port", "eighty"), "Error: Invalid value for '--port': 'eighty' is not a valid integer. "
                                    "(see `checkin serve --help`)"),
    (("no-such-command",), "Error: No such command 'no-such-command'. (see `checkin --help`)"),
    (("reencode", "--batch", "0"), "Error: Invalid value for '--batch': 0 is not in the range x>=1. "
                                   "(see `checkin reencode --help`)"),
    (("purge", "--batch", "0"), "Error: Invalid value for '--batch': 0 is not in the range x>=1. "
                                "(see `checkin purge --help`)"),
    (("fsck", "--grace-minutes", "-5"), "Error: Invalid value for '--grace-minutes': -5 is not in the range x>=0. "
                                        "(see `checkin fsck --help`)"),
    (("demo",), "Error: Missing option '--faces'. (see `checkin demo --help`)"),
    (("demo", "--faces", "/no/such/folder"), "Error: Invalid value for '--faces': Directory '/no/such/folder' does "
                                             "not exist. (see `checkin demo --help`)"),
    (("eval-faces", "/no/such/folder"), "Error: Invalid value for 'DIRECTORIES...': Directory '/no/such/folder' "
                                        "does not exist. (see `checkin eval-faces --help`)"),
    (("eval-faces", ".", "--set", "nonsense"), "Error: Invalid value for --set: expected KEY=VALUE, got 'nonsense' "
                                               "(see `checkin eval-faces --help`)"),
])
def test_argument_errors_are_one_line(env, args, expected):
    code, lines = _run(env, *args)

    assert code == 2
    assert lines == [expected]


def test_a_setting_typo_stops_the_command_with_one_line(env):
    env["CHECKIN_LIVENESS_MODE"] = "alwyas"

    code, lines = _run(env, "init-db")

    assert code == 1
    assert lines == ["Error: CHECKIN_LIVENESS_MODE must be one of off, spot_checks, always, not 'alwyas' "
                     "(did you mean 'always'?)"]


def test_serve_refuses_production_on_sqlite_before_starting(env):
    env.update(CHECKIN_ENV="production", CHECKIN_JWT_SECRET_KEY="p" * 40,
               CHECKIN_ENCRYPTION_KEY="7Qk3wYz3m0nYk8J4v1o2r5s6t7u8v9w0x1y2z3a4b5c=")

    code, lines = _run(env, "serve")

    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("Error: production mode refuses SQLite")


def test_help_still_works(env):
    result = CliRunner(env=env).invoke(main, ["--help"])

    assert result.exit_code == 0
    assert "init-db" in result.output


def test_eval_faces_on_a_folder_without_identities_is_one_line(env, tmp_path):
    (tmp_path / "faces" / "empty-identity").mkdir(parents=True)

    code, lines = _run(env, "eval-faces", str(tmp_path / "faces"))

    assert code == 1
    assert lines == [f"Error: no identities in {tmp_path / 'faces'}: expected one sub-folder of photos per person "
                     "(e.g. ../shared/faces/people/Colin_Powell/1.jpg)"]


def test_an_unexpected_failure_is_one_line_too(env, monkeypatch):
    # A bug in a command (here: the sweep raising) ends in one line naming it, not a traceback.
    import supervision.sweep

    def broken(**_: object) -> None:
        raise RuntimeError("the sweep broke\nsecond line")

    monkeypatch.setattr(supervision.sweep, "run_sweep", broken)
    assert _run(env, "init-db")[0] == 0

    code, lines = _run(env, "sweep")

    assert code == 1
    assert lines == ["Error: RuntimeError: the sweep broke (CHECKIN_LOG_LEVEL=DEBUG logs the traceback)"]


def test_eval_faces_checks_the_log_settings_in_one_line(env, tmp_path):
    env["CHECKIN_LOG_FORMAT"] = "jsn"

    code, lines = _run(env, "eval-faces", str(tmp_path))

    assert code == 1
    assert lines == ["Error: CHECKIN_LOG_FORMAT must be one of '' (the default), text, json, not 'jsn' "
                     "(did you mean 'json'?)"]
