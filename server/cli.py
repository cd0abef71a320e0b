"""The `checkin` command: database set-up, accounts, the server, face evaluation and maintenance."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from server.commands.demo import demo
from server.commands.faces import eval_faces
from server.commands.lifecycle import export_person, fsck, purge, rotate_keys
from server.composition import Services, build_services
from server.config import ConfigError, check_service_config, load_config, log_format
from server.logs import configure_logging
from server.progress import progress

log = logging.getLogger("checkin.cli")


def _config(*, service: bool = False) -> dict[str, Any]:
    try:
        config = load_config()
        if service:
            check_service_config(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(log_format(config), config["LOG_LEVEL"])
    return config


def _services(*, service: bool = False) -> Services:
    """The command's services, built from the checked configuration."""
    return build_services(_config(service=service))


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def describe_failure(exc: BaseException, database_url: str | None = None) -> str:
    """One line an operator can act on, for an outage or a path problem met by a command."""
    if isinstance(exc, DBAPIError):
        reason = _first_line(str(exc.orig)) or type(exc.orig).__name__
        if database_url and database_url.startswith("sqlite"):
            return _sqlite_problem(database_url) or (f"cannot use the SQLite database {_sqlite_path(database_url)}: "
                                                     f"{reason} (can this user write there?)")
        where = f" at {_redact(database_url)}" if database_url else ""
        return f"cannot use the database{where}: {reason}"
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {_first_line(str(exc))}"
    if isinstance(exc, OSError):
        target = f" {exc.filename}" if exc.filename else ""
        return f"cannot use{target}: {exc.strerror or exc}"
    return _first_line(str(exc)) or type(exc).__name__


def _sqlite_path(url: str) -> Path | None:
    try:
        database = make_url(url).database or ""
    except ArgumentError:
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


def _sqlite_problem(url: str) -> str | None:
    path = _sqlite_path(url)
    if path is None:
        return None
    if path.parent.exists() and not path.parent.is_dir():
        return f"cannot create the SQLite database {path}: {path.parent} is a file, not a folder"
    if not path.parent.is_dir():
        return f"cannot create the SQLite database {path}: the folder {path.parent} does not exist"
    if path.exists() and not os.access(path, os.W_OK):
        return f"cannot write the SQLite database {path}: permission denied"
    if not path.exists() and not os.access(path.parent, os.W_OK):
        return f"cannot create the SQLite database {path}: the folder {path.parent} is not writable"
    return None


class OneLineErrors(click.Group):
    """The `checkin` group: every error is one line on stderr, with no usage block and no traceback."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "checkin"
            click.echo(f"Error: {_first_line(exc.format_message())} (see `{command} --help`)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {_first_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Error: aborted", err=True)
            sys.exit(1)
        except (SQLAlchemyError, OSError) as exc:
            log.debug("command failed", exc_info=exc)
            click.echo(f"Error: {describe_failure(exc, os.environ.get('CHECKIN_DATABASE_URL'))}", err=True)
            sys.exit(1)
        except Exception as exc:  # noqa: BLE001 - a bug still ends in one line; the traceback is in the debug log
            log.debug("command failed", exc_info=exc)
            click.echo(f"Error: {type(exc).__name__}: {_first_line(str(exc))} (CHECKIN_LOG_LEVEL=DEBUG logs the "
                       "traceback)", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=OneLineErrors)
def main() -> None:
    """Community corrections check-in service."""


main.add_command(eval_faces, "eval-faces")
for _command in (purge, rotate_keys, fsck, export_person, demo):
    main.add_command(_command)


@main.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema to the newest migration."""
    from storage import migrate

    config = _config()
    url = config["DATABASE_URL"]
    problem = _sqlite_problem(url) if url.startswith("sqlite") else None
    if problem:
        raise click.ClickException(problem)
    try:
        migrate.upgrade(url)
    except (SQLAlchemyError, OSError) as exc:
        log.debug("init-db failed", exc_info=exc)
        raise click.ClickException(describe_failure(exc, url)) from exc
    click.echo(f"database is at the newest schema: {_redact(url)}")


@main.command("create-office")
@click.argument("code")
@click.option("--name", required=True, help="Office name, e.g. 城关司法所")
@click.option("--county", required=True, help="County or district, e.g. 某某区")
@click.option("--timezone", default="Asia/Shanghai", show_default=True)
def create_office(code: str, name: str, county: str, timezone: str) -> None:
    """Create an office (司法所)."""
    from supervision import accounts
    from supervision.errors import AppError

    with _services().database.transaction() as session:
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
    with _services().database.transaction() as session:
        try:
            account = accounts.create_account(session=session, username=username, password=password,
                                              office_code=office_code, admin=admin, display_name=display_name)
        except AppError as exc:
            raise click.ClickException(_app_error(exc)) from exc
        click.echo(f"{account.role} {account.username} created in office {office_code}")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
# Verification is CPU-bound and dlib holds the GIL: 2 threads let a worker read the next upload while it verifies;
# more only contend for the GIL (bench/checkin_bench.py: 84% of ideal throughput with 2, 78% with 4).
@click.option("--threads", default=2, show_default=True, type=int, help="threads per worker")
@click.option("--dev", is_flag=True, help="Use Flask's development server instead of gunicorn")
def serve(host: str, port: int, workers: int, threads: int, dev: bool) -> None:
    """Serve the API (gunicorn where available, else Flask's server)."""
    config = _config(service=True)  # fail fast on bad configuration, before forking workers
    try:
        if dev:
            raise ImportError
        from gunicorn.app.base import BaseApplication
    except ImportError:
        from server import create_app

        create_app().run(host=host, port=port, threaded=True)
        return
    from server import serving

    options = serving.gunicorn_options(config, bind=f"{host}:{port}", workers=workers, threads=threads)

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self):  # type: ignore[no-untyped-def]
            # The same app as gunicorn.conf.py's; the models are already loaded, by the arbiter (below).
            return serving.warm_app()

    serving.preload_models(config)
    _Gunicorn().run()


@main.command("sweep")
@click.option("--purge", "with_purge", is_flag=True, help="Also apply the retention purge (e.g. once a night)")
@click.option("--fsck", "with_fsck", is_flag=True, help="Also check rows against blobs and remove old orphans")
def sweep(with_purge: bool, with_fsck: bool) -> None:
    """Raise alerts for missed check-ins, missed spot checks, repeated failures and overdue leave (run from cron)."""
    from supervision import messages
    from supervision.sweep import run_lifecycle, run_sweep

    services = _services()
    config, database, clock = services.config, services.database, services.clock
    started = time.monotonic()
    log.info("sweep: started", extra={"task": "sweep"})
    with database.transaction() as session:
        counts = run_sweep(session=session, now=clock.now(), settings=services.policies.sweep)
        new_messages = messages.take_new_message_ids(session)
    sender = messages.sender_from_config(config)
    if sender.delivers and new_messages:
        # After the commit: the reminders are in the inboxes whatever the gateway does.
        delivery = messages.deliver_messages(open_session=database.session, sender=sender, message_ids=new_messages,
                                             clock=clock)
        counts.update({f"messages_{key}": value for key, value in delivery.items()})
    if with_purge or with_fsck:
        steps = " and ".join(name for name, wanted in (("purge", with_purge), ("fsck", with_fsck)) if wanted)
        log.info("sweep: %s started after %.1f s", steps, time.monotonic() - started, extra={"task": "sweep"})
        with database.transaction() as session:
            counts.update(run_lifecycle(session=session, blobs=services.blobs, now=clock.now(),
                                        config=config, purge=with_purge, fsck=with_fsck))
        if counts.get("blobs_missing"):
            log.warning("sweep: %d rows point to missing blobs (`checkin fsck` lists them)", counts["blobs_missing"],
                        extra={"task": "sweep"})
    summary = " ".join(f"{key}={value}" for key, value in counts.items())
    log.info("sweep: finished in %.1f s: %s", time.monotonic() - started, summary, extra={"task": "sweep"})
    click.echo(summary)


@main.command("spot-checks")
@click.option("--seed", type=int, default=None, help="Replay a draw with this seed (default: a fresh random seed)")
@click.option("--office", "office_code", default=None, help="Draw only among the persons of this office")
def spot_checks(seed: int | None, office_code: str | None) -> None:
    """Draw random spot checks by supervision level (CHECKIN_SPOT_CHECK_RANDOM_RATES); the draw is audit-logged."""
    from sqlalchemy import select

    from storage.models import Office
    from supervision import tasks
    from supervision.actors import SYSTEM

    services = _services()
    with services.database.transaction() as session:
        office_id = None
        if office_code:
            office_id = session.scalar(select(Office.id).where(Office.code == office_code))
            if office_id is None:
                raise click.ClickException(f"No office {office_code}.")
        draw = tasks.draw_spot_checks(session=session, actor=SYSTEM, now=services.clock.now(),
                                      policy=services.policies.spot_checks, seed=seed, office_id=office_id)
        click.echo(f"seed={draw.seed} eligible={draw.eligible} spot_checks={len(draw.tasks)}")


@main.command("worker")
@click.option("--burst", is_flag=True, help="Process the queued jobs, then exit")
def worker(burst: bool) -> None:
    """Run background jobs (video inspections) from the RQ queue at CHECKIN_QUEUE_URL."""
    from server.jobs import run_worker

    config = _config(service=True)
    if not config["QUEUE_URL"]:
        raise click.ClickException("CHECKIN_QUEUE_URL is not set: without a queue, jobs run inside the web process")
    run_worker(config, burst=burst)


@main.command("reencode")
@click.option("--engine", "template", type=click.Choice(["current", "sface", "dlib"]), default="current",
              show_default=True, help="Which templates to add: those the configured engine uses, or one embedder's")
@click.option("--force", is_flag=True, help="Recompute templates that already exist")
@click.option("--batch", default=50, show_default=True, type=click.IntRange(min=1),
              help="References per committed batch (resumable)")
def reencode(template: str, force: bool, batch: int) -> None:
    """Template every active reference photo for the engine (idempotent: references that have them are skipped)."""
    from collections import Counter

    from sqlalchemy import select

    from storage.models import ReferenceFace
    from supervision import faces
    from supervision.actors import SYSTEM
    from supervision.audit import AuditAction, record_event
    from verification.embedders import DLIB, SFACE
    from verification.engine import get_engine

    services = _services()
    engine = services.engine
    keys = {"current": engine.template_keys, "sface": (SFACE,), "dlib": (DLIB,)}[template]
    if any(key not in engine.embedders for key in keys):
        # An embedder the configured matcher does not use: the configured engine with both templates.
        import dataclasses

        engine = get_engine(dataclasses.replace(engine.settings, matcher="sface+dlib"))
    blobs, db, clock = services.blobs, services.database, services.clock
    with db.transaction() as session:
        ids = list(session.scalars(select(ReferenceFace.id).where(ReferenceFace.deleted_at.is_(None))
                                   .order_by(ReferenceFace.id)))
    counts: Counter[str] = Counter()
    unusable: list[int] = []
    with progress(len(ids), f"re-encoding {len(ids)} references") as update:
        for start in range(0, len(ids), batch):
            # One transaction per batch: an interrupted run keeps what it finished and the next run skips it.
            with db.transaction() as session:
                for reference in session.scalars(select(ReferenceFace).where(
                        ReferenceFace.id.in_(ids[start:start + batch])).order_by(ReferenceFace.id)):
                    outcome = faces.reencode_reference(session=session, blobs=blobs, engine=engine,
                                                       reference=reference, keys=keys, force=force,
                                                       now=clock.now())
                    counts[outcome] += 1
                    if outcome == "unusable":
                        unusable.append(reference.id)
                    update(1)
    with db.transaction() as session:
        record_event(session=session, actor=SYSTEM, action=AuditAction.FACES_REENCODED, at=clock.now(),
                     target_type="reference_face", details={"templates": list(keys), "force": force,
                                                            "counts": dict(counts), "unusable": unusable[:200]})
    click.echo(f"templates {', '.join(keys)}: encoded={counts['encoded']} present={counts['present']} "
               f"unusable={counts['unusable']}" + (f" (reference ids {unusable[:20]})" if unusable else ""))


def _app_error(exc: Any) -> str:
    """A domain error as one sentence: the field errors as `field: message` instead of a Python dict."""
    errors = exc.extra.get("errors") if isinstance(exc.extra, dict) else None
    if not isinstance(errors, dict) or not errors:
        return str(exc.detail)
    parts = [f"{field}: {' '.join(map(str, messages)) if isinstance(messages, list) else messages}"
             for field, messages in errors.items()]
    return f"{exc.detail.rstrip('.')}: {'; '.join(parts)}"


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url
