"""The `checkin` command: database set-up, accounts, the server, face evaluation and maintenance."""

from __future__ import annotations

import sys
from typing import Any

import click

from server.config import ConfigError, load_config


def _config() -> dict[str, Any]:
    try:
        return load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _database(config: dict[str, Any]):  # type: ignore[no-untyped-def]
    from storage.db import Database

    db = Database()
    db.configure(config["DATABASE_URL"])
    return db


@click.group()
def main() -> None:
    """Community corrections check-in service."""


@main.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema to the newest migration."""
    from storage import migrate

    config = _config()
    migrate.upgrade(config["DATABASE_URL"])
    click.echo(f"database is at the newest schema: {_redact(config['DATABASE_URL'])}")


@main.command("create-office")
@click.argument("code")
@click.option("--name", required=True, help="Office name, e.g. 城关司法所")
@click.option("--county", required=True, help="County or district, e.g. 某某区")
@click.option("--timezone", default="Asia/Shanghai", show_default=True)
def create_office(code: str, name: str, county: str, timezone: str) -> None:
    """Create an office (司法所)."""
    from supervision import accounts
    from supervision.errors import AppError

    with _database(_config()).transaction() as session:
        try:
            office = accounts.create_office(session=session, code=code, name=name, county=county, timezone=timezone)
        except AppError as exc:
            raise click.ClickException(exc.detail) from exc
        click.echo(f"office {office.code} created (id {office.id})")


@main.command("create-officer")
@click.argument("username")
@click.option("--office", "office_code", required=True, help="Office code the officer belongs to")
@click.option("--admin", is_flag=True, help="County administrator (sees every office of the county)")
@click.option("--name", "display_name", default="", help="Display name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input")
def create_officer(username: str, office_code: str, admin: bool, display_name: str, password_stdin: bool) -> None:
    """Create an officer or county administrator account."""
    from supervision import accounts
    from supervision.errors import AppError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _database(_config()).transaction() as session:
        try:
            account = accounts.create_account(session=session, username=username, password=password,
                                              office_code=office_code, admin=admin, display_name=display_name)
        except AppError as exc:
            raise click.ClickException(f"{exc.detail} {exc.extra.get('errors', '')}".strip()) from exc
        click.echo(f"{account.role} {account.username} created in office {office_code}")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--threads", default=4, show_default=True, type=int, help="threads per worker")
@click.option("--dev", is_flag=True, help="Use Flask's development server instead of gunicorn")
def serve(host: str, port: int, workers: int, threads: int, dev: bool) -> None:
    """Serve the API (gunicorn where available, else Flask's server)."""
    _config()  # fail fast on bad configuration, before forking workers
    try:
        if dev:
            raise ImportError
        from gunicorn.app.base import BaseApplication
    except ImportError:
        from server import create_app

        create_app().run(host=host, port=port, threaded=True)
        return

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 120)
            self.cfg.set("accesslog", "-")

        def load(self):  # type: ignore[no-untyped-def]
            from server import create_app

            return create_app()

    _Gunicorn().run()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


def _register_optional_commands() -> None:
    try:
        from server.commands.faces import eval_faces
    except ImportError:
        return
    main.add_command(eval_faces, "eval-faces")


_register_optional_commands()
