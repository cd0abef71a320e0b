"""The `checkin` command: init-db, create-office, create-officer, then logging in through the API."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from server.cli import _redact, main
from storage import migrate
from storage.models import Account, Alert, Office, Person, ReferenceFace, Task

PASSWORD = "cli-password-123"


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str | None]:
    return {
        "CHECKIN_ENV": "development",
        "CHECKIN_INSTANCE_PATH": str(tmp_path / "instance"),
        "CHECKIN_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        # Secrets are generated into the instance folder, as on a developer's machine.
        "CHECKIN_JWT_SECRET_KEY": None,
        "CHECKIN_ENCRYPTION_KEY": None,
    }


@pytest.fixture
def run(cli_env):
    runner = CliRunner(env=cli_env)

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `checkin init-db` run per module; tests that only need a schema start from a copy of it."""
    folder = tmp_path_factory.mktemp("cli-template")
    env = {"CHECKIN_INSTANCE_PATH": str(folder / "instance"), "CHECKIN_DATABASE_URL": f"sqlite:///{folder / 'cli.db'}",
           "CHECKIN_ENV": "development", "CHECKIN_JWT_SECRET_KEY": None, "CHECKIN_ENCRYPTION_KEY": None}
    result = CliRunner(env=env).invoke(main, ["init-db"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return folder / "cli.db"


@pytest.fixture
def initialised(migrated_template: Path, tmp_path: Path) -> None:
    shutil.copyfile(migrated_template, tmp_path / "cli.db")


def _accounts(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return {a.username: a.role for a in session.scalars(select(Account))}
    finally:
        engine.dispose()


def test_init_db_creates_schema_and_is_repeatable(run, cli_env, tmp_path):
    first = run("init-db")

    assert first.exit_code == 0, first.output
    assert "newest schema" in first.output
    assert (tmp_path / "instance" / "secrets.json").exists()
    migrate.check(cli_env["CHECKIN_DATABASE_URL"])
    again = run("init-db")
    assert again.exit_code == 0, again.output
    engine = create_engine(cli_env["CHECKIN_DATABASE_URL"])
    with Session(engine) as session:
        assert session.scalars(select(Office)).all() == []
    engine.dispose()


def test_create_officer_then_log_in_through_api(run, initialised, cli_env):
    office = run("create-office", "CG01", "--name", "城关司法所", "--county", "某某区")
    officer = run("create-officer", "zhang", "--office", "CG01", "--password-stdin", input=PASSWORD + "\n")

    assert office.exit_code == 0, office.output
    assert "CG01" in office.output
    assert officer.exit_code == 0, officer.output
    assert _accounts(cli_env["CHECKIN_DATABASE_URL"]) == {"zhang": "officer"}

    from server import create_app

    app = create_app({"INSTANCE_PATH": cli_env["CHECKIN_INSTANCE_PATH"],
                      "DATABASE_URL": cli_env["CHECKIN_DATABASE_URL"], "RATELIMIT_STORAGE_URL": "memory://"})
    try:
        response = app.test_client().post("/api/v1/auth/login", json={"username": "zhang", "password": PASSWORD})
        wrong = app.test_client().post("/api/v1/auth/login", json={"username": "zhang", "password": PASSWORD + "x"})
    finally:
        app.extensions["checkin.db"].engine.dispose()
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["role"] == "officer"
    assert wrong.status_code == 401


def test_create_officer_admin_flag_gives_admin_role(run, initialised, cli_env):
    run("create-office", "CG01", "--name", "城关司法所", "--county", "某某区")

    result = run("create-officer", "boss", "--office", "CG01", "--admin", "--password-stdin", input=PASSWORD + "\n")

    assert result.exit_code == 0, result.output
    assert _accounts(cli_env["CHECKIN_DATABASE_URL"]) == {"boss": "admin"}


def test_duplicate_office_fails_with_message(run, initialised):
    assert run("create-office", "CG01", "--name", "A", "--county", "C").exit_code == 0

    result = run("create-office", "CG01", "--name", "B", "--county", "C")

    assert result.exit_code != 0
    assert "CG01 already exists" in result.output


def test_create_officer_errors_are_reported(run, initialised, cli_env):
    run("create-office", "CG01", "--name", "A", "--county", "C")
    run("create-officer", "zhang", "--office", "CG01", "--password-stdin", input=PASSWORD + "\n")

    short = run("create-officer", "li", "--office", "CG01", "--password-stdin", input="short\n")
    no_office = run("create-officer", "wang", "--office", "NOPE", "--password-stdin", input=PASSWORD + "\n")
    taken = run("create-officer", "zhang", "--office", "CG01", "--password-stdin", input=PASSWORD + "\n")

    assert short.exit_code != 0 and "12 characters" in short.output
    assert short.output.strip().splitlines() == [
        "Error: Some fields are invalid: password: Use at least 12 characters."]
    assert no_office.exit_code != 0 and "NOPE" in no_office.output
    assert taken.exit_code != 0 and "zhang" in taken.output
    assert _accounts(cli_env["CHECKIN_DATABASE_URL"]) == {"zhang": "officer"}


def test_cli_refuses_production_without_secrets(cli_env):
    result = CliRunner(env={**cli_env, "CHECKIN_ENV": "production"}).invoke(main, ["init-db"])

    assert result.exit_code != 0
    assert "CHECKIN_JWT_SECRET_KEY" in result.output


def test_redact_hides_database_password():
    assert _redact("postgresql+psycopg://app:s3cret@db:5432/checkin") == "postgresql+psycopg://app:***@db:5432/checkin"
    assert _redact("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"



def test_sweep_raises_missed_checkins_once(run, cli_env):
    assert run("init-db").exit_code == 0
    assert run("create-office", "SW1", "--name", "Sweep office", "--county", "C").exit_code == 0
    engine = create_engine(cli_env["CHECKIN_DATABASE_URL"])
    with Session(engine) as session:
        office = session.scalar(select(Office).where(Office.code == "SW1"))
        # A strict person registered long ago who never checked in owes every recent daily window.
        session.add(Person(code="SWP1", name="p", gender="male", birth_date=date(1990, 1, 1),
                           sentence_type="probation", supervision_level="strict", start_date=date(2020, 1, 1),
                           end_date=date(2099, 1, 1), office_id=office.id, password_hash="x",
                           created_at=datetime(2020, 1, 1, tzinfo=UTC), updated_at=datetime(2020, 1, 1, tzinfo=UTC)))
        session.commit()

    first = run("sweep")
    assert first.exit_code == 0, first.output
    missed = int(first.output.split("missed_checkin=")[1].split()[0])
    assert missed == 1  # one absence: one alert, however many windows of the 72 hours looked back were missed
    again = run("sweep")
    assert "missed_checkin=0" in again.output
    with Session(engine) as session:
        alert = session.scalar(select(Alert).where(Alert.type == "missed_checkin"))
        assert session.scalar(select(func.count(Alert.id)).where(Alert.type == "missed_checkin")) == missed
        assert alert.evidence["missed_windows"] >= 2  # at least two closed daily windows
    engine.dispose()


def test_worker_needs_a_queue(cli_env):
    result = CliRunner(env={**cli_env, "CHECKIN_QUEUE_URL": ""}).invoke(main, ["worker", "--burst"])
    assert result.exit_code != 0
    assert "CHECKIN_QUEUE_URL" in result.output


def _demo_lines(output: str) -> tuple[str, dict[str, tuple[str, Path]]]:
    """The officer's password and, per person code, the password and the photo printed to check in with."""
    officer = re.search(r"^office DEMO; officer demo-officer \(.*\) / password (\S+)$", output, re.M)
    assert officer, output
    persons = {m["code"]: (m["password"], Path(m["photo"])) for m in re.finditer(
        r"^person (?P<code>\S+) \(.*\) / password (?P<password>\S+);.*a verified check-in to try: "
        r"(?P<photo>\S+) \(distance", output, re.M)}
    return officer.group(1), persons


@pytest.mark.faces
def test_demo_gives_a_verified_checkin_to_try(run, cli_env, faces_dir, tmp_path):
    from server import create_app

    result = run("demo", "--faces", str(faces_dir / "people"), "--persons", "1")
    assert result.exit_code == 0, result.output
    officer_password, persons = _demo_lines(result.output)
    assert len(persons) == 1 and "1 persons ready" in result.output
    (code, (password, photo)), = persons.items()
    engine = create_engine(cli_env["CHECKIN_DATABASE_URL"])
    with Session(engine) as session:
        person = session.scalar(select(Person).where(Person.code == code))
        assert person is not None
        references = session.scalars(select(ReferenceFace).where(ReferenceFace.person_id == person.id)).all()
        assert len(references) == 3
    engine.dispose()
    # The printed photo, sent by the person through the API with the printed credentials, on the real engine.
    app = create_app({"ENV": "development", "INSTANCE_PATH": cli_env["CHECKIN_INSTANCE_PATH"],
                      "DATABASE_URL": cli_env["CHECKIN_DATABASE_URL"], "RATELIMIT_STORAGE_URL": "memory://"})
    try:
        client = app.test_client()
        login = client.post("/api/v1/auth/login", json={"username": code, "password": password,
                                                         "device_id": "demo-phone"})
        assert login.status_code == 200, login.get_json()
        answer = client.post("/api/v1/checkins", headers={
            "Authorization": f"Bearer {login.get_json()['access_token']}", "Idempotency-Key": "demo-test-1"},
            data={"photo": (photo.open("rb"), photo.name), "latitude": "31.2304", "longitude": "121.4737",
                  "accuracy_m": "15", "captured_at": datetime.now(UTC).isoformat(timespec="seconds")})
        assert answer.status_code == 201, answer.get_json()
        assert answer.get_json()["status"] == "verified", answer.get_json()
        officer = client.post("/api/v1/auth/login", json={"username": "demo-officer", "password": officer_password})
        assert officer.status_code == 200
    finally:
        app.extensions["checkin.db"].engine.dispose()


@pytest.mark.faces
def test_demo_run_again_reuses_its_officer_and_persons(run, cli_env, faces_dir):
    first = run("demo", "--faces", str(faces_dir / "people"), "--persons", "2")
    assert first.exit_code == 0, first.output
    url = cli_env["CHECKIN_DATABASE_URL"]

    def counts() -> tuple[int, int, int, int]:
        engine = create_engine(url)
        try:
            with Session(engine) as session:
                return (session.scalar(select(func.count(Office.id))), session.scalar(select(func.count(Account.id))),
                        session.scalar(select(func.count(Person.id))),
                        session.scalar(select(func.count(ReferenceFace.id))))
        finally:
            engine.dispose()

    before = counts()
    assert before == (1, 1, 2, 6)
    second = run("demo", "--faces", str(faces_dir / "people"), "--persons", "2")
    assert second.exit_code == 0, second.output
    assert "officer demo-officer (reused, new password)" in second.output
    assert counts() == before
    officer_password, persons = _demo_lines(second.output)
    assert set(persons) == set(_demo_lines(first.output)[1])
    # The password printed the second time is the one that works now.
    assert _accounts(url) == {"demo-officer": "officer"}
    engine = create_engine(url)
    with Session(engine) as session:
        from supervision.passwords import verify_password

        account = session.scalar(select(Account).where(Account.username == "demo-officer"))
        assert verify_password(account.password_hash, officer_password)
    engine.dispose()


@pytest.mark.faces
def test_demo_with_too_few_usable_photos_fails_and_saves_nothing(run, cli_env, faces_dir, tmp_path):
    folder = tmp_path / "faces" / "Colin_Powell"
    folder.mkdir(parents=True)
    for name in ("1.jpg", "2.jpg"):
        shutil.copyfile(faces_dir / "people" / "Colin_Powell" / name, folder / name)
    result = CliRunner(env=cli_env).invoke(main, ["demo", "--faces", str(tmp_path / "faces")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: none of the 1 identities in {tmp_path / 'faces'} has 3 photos that pass the enrolment gates and "
        "one more that is verified against them; nothing was saved"]
    assert _accounts(cli_env["CHECKIN_DATABASE_URL"]) == {}


def test_demo_on_a_folder_without_identities_fails_in_one_line(cli_env, tmp_path):
    empty = tmp_path / "faces"
    (empty / "no-photos-here").mkdir(parents=True)
    (empty / "notes.txt").write_text("not an identity")
    result = CliRunner(env=cli_env).invoke(main, ["demo", "--faces", str(empty)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: no identities in {empty}: expected one sub-folder of photos per person "
        "(e.g. ../shared/faces/people/Colin_Powell/1.jpg)"]
    # Nothing was created: not even the schema's demo office.
    assert not (tmp_path / "cli.db").exists() or _accounts(cli_env["CHECKIN_DATABASE_URL"]) == {}
    missing = CliRunner(env=cli_env).invoke(main, ["demo", "--faces", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and len(missing.output.strip().splitlines()) == 1


def test_spot_check_draw_is_replayable_from_its_seed(run, cli_env):
    assert run("init-db").exit_code == 0
    assert run("create-office", "SP1", "--name", "Spot office", "--county", "C").exit_code == 0
    engine = create_engine(cli_env["CHECKIN_DATABASE_URL"])
    with Session(engine) as session:
        office = session.scalar(select(Office).where(Office.code == "SP1"))
        for i in range(40):
            session.add(Person(code=f"SP{i:03d}", name="p", gender="male", birth_date=date(1990, 1, 1),
                               sentence_type="probation", supervision_level="strict", start_date=date(2020, 1, 1),
                               end_date=date(2099, 1, 1), office_id=office.id, password_hash="x"))
        session.commit()
    first = run("spot-checks", "--seed", "1234", "--office", "SP1")
    assert first.exit_code == 0, first.output
    picked = int(first.output.split("spot_checks=")[1])
    assert first.output.startswith("seed=1234 eligible=40 ")
    assert 0 < picked < 40  # strict persons are drawn at 20% by default
    with Session(engine) as session:
        chosen = sorted(session.scalars(select(Task.person_id)))
        session.execute(Task.__table__.delete())
        session.commit()
    again = run("spot-checks", "--seed", "1234", "--office", "SP1")
    assert again.output == first.output
    with Session(engine) as session:
        assert sorted(session.scalars(select(Task.person_id))) == chosen
    engine.dispose()
    assert run("spot-checks", "--office", "NOPE").exit_code != 0
