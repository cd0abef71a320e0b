"""Ecosystem conventions: `alembic` with the repository's alembic.ini, `gunicorn -c gunicorn.conf.py`, JSON logs with
the request id, and the project's metadata files."""

from __future__ import annotations

import json
import os
import re
import runpy
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from storage import migrate

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _clean_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("CHECKIN_") and not name.startswith("GUNICORN_")}
    return {**env, "CHECKIN_INSTANCE_PATH": str(tmp_path / "instance"), **values}


def _alembic(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alembic", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def _at_head(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return migrate.schema_state(conn)[0]
    finally:
        engine.dispose()


def test_standard_alembic_commands_work_on_the_configured_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'alembic.db'}"
    env = _clean_env(tmp_path, CHECKIN_DATABASE_URL=url)

    upgrade = _alembic(env, "upgrade", "head")
    current = _alembic(env, "current")

    assert upgrade.returncode == 0, upgrade.stderr
    assert current.returncode == 0, current.stderr
    head = next(iter(migrate.head_revisions()))
    assert f"{head} (head)" in current.stdout
    assert _at_head(url)
    assert _alembic(env, "check").returncode == 0

    down = _alembic(env, "downgrade", "-1")
    assert down.returncode == 0, down.stderr
    assert not _at_head(url)
    # `checkin init-db` still brings the same database to the head.
    init = subprocess.run([BIN / "checkin", "init-db"], env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    assert _at_head(url)


def test_alembic_uses_the_instance_database_by_default_and_x_url_otherwise(tmp_path):
    env = _clean_env(tmp_path)
    (tmp_path / "instance").mkdir()
    other = f"sqlite:///{tmp_path / 'other.db'}"

    assert _alembic(env, "upgrade", "head").returncode == 0
    assert _alembic(env, "-x", f"url={other}", "upgrade", "head").returncode == 0

    assert _at_head(f"sqlite:///{tmp_path / 'instance' / 'checkin.db'}")
    assert _at_head(other)


def test_gunicorn_conf_sets_the_service_up(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("CHECKIN_", "GUNICORN_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHECKIN_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("GUNICORN_BIND", "127.0.0.1:9999")
    monkeypatch.setenv("GUNICORN_WORKERS", "3")

    settings = runpy.run_path(str(REPO / "gunicorn.conf.py"))

    assert settings["wsgi_app"] == "server.serving:warm_app()"
    assert (settings["bind"], settings["workers"], settings["threads"]) == ("127.0.0.1:9999", 3, 2)
    assert settings["worker_class"] == "gthread"
    assert settings["timeout"] == 120  # the idempotency lease: the longest a request may run
    assert settings["logconfig_dict"]["loggers"]["gunicorn.error"]["handlers"] == ["stderr"]


def test_gunicorn_conf_refuses_production_on_sqlite_in_one_line(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("CHECKIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHECKIN_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("CHECKIN_ENV", "production")
    monkeypatch.setenv("CHECKIN_JWT_SECRET_KEY", "g" * 40)
    monkeypatch.setenv("CHECKIN_ENCRYPTION_KEY", "7Qk3wYz3m0nYk8J4v1o2r5s6t7u8v9w0x1y2z3a4b5c=")

    with pytest.raises(SystemExit) as raised:
        runpy.run_path(str(REPO / "gunicorn.conf.py"))

    assert str(raised.value).startswith("Error: production mode refuses SQLite")
    assert "\n" not in str(raised.value)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_with_the_conf_file_serves_json_logs_with_the_request_id(tmp_path):
    env = _clean_env(tmp_path, CHECKIN_LOG_FORMAT="json", GUNICORN_WORKERS="1",
                     GUNICORN_BIND=f"127.0.0.1:{_free_port()}")
    assert subprocess.run([BIN / "checkin", "init-db"], env=env, capture_output=True, timeout=120).returncode == 0
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen([BIN / "gunicorn", "-c", "gunicorn.conf.py"], cwd=REPO, env=env,
                                   stdout=log_file, stderr=subprocess.STDOUT)
        base = f"http://{env['GUNICORN_BIND']}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=2):
                        break
                except OSError:
                    assert process.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "gunicorn did not come up"
                    time.sleep(0.3)
            request = urllib.request.Request(base + "/readyz", headers={"X-Request-ID": "probe-4711"})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
                assert response.headers["X-Request-ID"] == "probe-4711"
        finally:
            process.terminate()
            process.wait(timeout=30)
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    # Every line is JSON, gunicorn's own and Python warnings included; the request's line carries its id.
    assert [line for line in lines if not line.startswith("{")] == []
    records = [json.loads(line) for line in lines]
    assert any(r["logger"] == "gunicorn.error" for r in records)
    access = [r for r in records if r.get("request_id") == "probe-4711"]
    assert access and access[0]["path"] == "/readyz" and access[0]["status"] == 200


def test_project_metadata():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    assert project["license"] == "MIT"
    assert project["readme"] == "README.md"
    assert project["authors"] and all("name" in author for author in project["authors"])
    assert "Documentation" in project["urls"]
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog") and "## [" in changelog
    assert "openapi-spec-validator>=0.7" in " ".join(project["optional-dependencies"]["dev"])


def test_pyproject_passes_the_packaging_schema():
    # setuptools' bundled validate-pyproject: the metadata a build would publish (licence expression, authors, URLs).
    from setuptools.config.pyprojecttoml import read_configuration

    project = read_configuration(REPO / "pyproject.toml")["project"]

    assert project["license-files"] == ["LICENSE"]
    assert {"Programming Language :: Python :: 3.11", "Framework :: Flask"} <= set(project["classifiers"])
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # PEP 639: the expression says it
    assert project["scripts"] == {"checkin": "server.cli:main"}


def test_deploy_guide_has_every_systemd_unit():
    guide = (REPO / "docs" / "deploy.md").read_text()
    units = dict(re.findall(r"^# (checkin[\w-]*\.(?:service|timer))\n(.*?)(?=^# checkin|^```)", guide, re.S | re.M))
    assert set(units) >= {"checkin.service", "checkin-worker.service", "checkin-sweep.service",
                          "checkin-sweep.timer", "checkin-nightly.service", "checkin-nightly.timer"}
    for name, text in units.items():
        kind = name.rsplit(".", 1)[1]
        assert "[Unit]" in text and ("[Timer]" if kind == "timer" else "[Service]") in text, name
        if kind == "service":
            command = re.search(r"^ExecStart=/srv/checkin/\.venv/bin/checkin (.*)$", text, re.M)
            assert command, name
            assert "EnvironmentFile=/etc/checkin/checkin.env" in text, name
            # Every command a unit runs is a command of the CLI, with options it has.
            from click.testing import CliRunner

            from server.cli import main

            args = command.group(1).split()
            result = CliRunner().invoke(main, [*args, "--help"])
            assert result.exit_code == 0, (name, result.output)
            for option in (a for a in args if a.startswith("--")):
                assert option in result.output, (name, option)
        else:
            assert "OnCalendar=" in text and "WantedBy=timers.target" in text, name
