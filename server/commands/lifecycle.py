"""CLI commands for the data lifecycle: retention purge, key rotation, blob consistency and per-person export."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from server.composition import Services
from server.progress import progress

log = logging.getLogger("checkin.lifecycle")


@contextmanager
def _context() -> Iterator[Services]:
    """The services of one command; the database's connections are closed after."""
    from server.cli import _services

    services = _services()
    try:
        yield services
    finally:
        services.close()


@click.command("purge")
@click.option("--apply", is_flag=True, help="Delete what is due (without it: a dry run that only counts)")
@click.option("--batch", default=200, show_default=True, type=click.IntRange(min=1),
              help="Rows per committed batch (resumable)")
def purge(apply: bool, batch: int) -> None:
    """Enforce the retention periods (CHECKIN_RETENTION_*): delete due photos, clips, frames, templates, old audit
    events; decision records stay. Dry run unless --apply; idempotent; audit-logged with counts."""
    from supervision import retention

    with _context() as services:
        settings, blobs, now = services.policies.retention, services.blobs, services.clock.now()
        session = services.database.session()
        try:
            plan = retention.plan_purge(session=session, now=now, settings=settings)
            total = retention.due_total(plan)
            label = f"{'purging' if apply else 'counting (dry run)'} {total} rows"
            with progress(total, label) as update:
                counts = retention.run_purge(session=session, blobs=blobs, now=now, settings=settings, apply=apply,
                                             batch=batch, progress=update, commit=session.commit, plan=plan)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        for name, kind in retention.PURGE_KINDS.items():
            period = settings.period(kind.period)
            done = counts.get(name)
            if done is None:
                click.echo(f"{name}: kept forever ({retention.PERIOD_SETTINGS[kind.period]}=0)")
            else:
                verb = "purged" if apply else "due"
                click.echo(f"{name}: {verb} rows={done.rows} items={done.items} blobs={done.blobs} "
                           f"(older than {period.days if period else 0} days)")
        if not apply:
            click.echo("dry run: nothing was deleted; run with --apply to delete")


@click.command("rotate-keys")
@click.option("--batch", default=200, show_default=True, type=click.IntRange(min=1),
              help="Templates per committed batch")
def rotate_keys(batch: int) -> None:
    """Re-encrypt every blob and face template under the newest key of CHECKIN_ENCRYPTION_KEYS (resumable); then
    the older keys can be removed from the ring."""
    from supervision import keys as key_service

    with _context() as services:
        config, db, blobs = services.config, services.database, services.blobs
        counts: Counter[str] = Counter()
        with db.transaction() as session:
            template_ids = key_service.stale_template_ids(session)
            encoding_ids = key_service.stale_encoding_ids(session)
        blob_keys = [entry.key for entry in blobs.keys()]
        newest = config["KEYRING"].newest_id
        with progress(len(blob_keys), f"re-encrypting {len(blob_keys)} blobs under {newest}") as update:
            counts.update(key_service.rewrap_blobs(blobs=blobs, keys=blob_keys, progress=update))
        with progress(len(template_ids) + len(encoding_ids), "re-sealing templates") as update:
            for start in range(0, len(template_ids), batch):
                with db.transaction() as session:
                    counts["templates"] += key_service.reseal_templates(session=session,
                                                                        ids=template_ids[start:start + batch])
                update(len(template_ids[start:start + batch]))
            for start in range(0, len(encoding_ids), batch):
                with db.transaction() as session:
                    counts["encodings"] += key_service.reseal_encodings(session=session,
                                                                        ids=encoding_ids[start:start + batch])
                update(len(encoding_ids[start:start + batch]))
        with db.transaction() as session:
            key_service.record_rotation(session=session, now=services.clock.now(), counts=dict(counts))
        click.echo(f"newest key {newest}: blobs rewrapped={counts['rewrapped']} current={counts['current']} "
                   f"missing={counts['missing']} failed={counts['failed']}; templates={counts['templates']} "
                   f"encodings={counts['encodings']}")
        if counts["failed"]:
            raise click.ClickException(f"{counts['failed']} blobs could not be re-encrypted (run `checkin fsck`); "
                                       "keep the old keys until they are resolved")


@click.command("fsck")
@click.option("--repair", is_flag=True, help="Delete orphaned blobs (no row points to them)")
@click.option("--grace-minutes", default=60, show_default=True, type=click.IntRange(min=0),
              help="Blobs younger than this are orphans only when their idempotent request is over (else: in flight)")
def fsck(repair: bool, grace_minutes: int) -> None:
    """Find rows pointing to missing blobs and blobs no row points to; --repair removes the orphans."""
    from datetime import timedelta

    from supervision import fsck as checks

    with _context() as services:
        config, db, blobs, now = services.config, services.database, services.blobs, services.clock.now()
        started = time.monotonic()
        log.info("fsck: listing rows and blobs", extra={"task": "fsck"})
        lease = timedelta(seconds=float(config["IDEMPOTENCY_LEASE_SECONDS"]))
        with db.transaction() as session:
            report = checks.check_blobs(session=session, blobs=blobs, now=now, grace=timedelta(minutes=grace_minutes),
                                        lease=lease)
            if repair:
                checks.repair_orphans(blobs=blobs, report=report)
            checks.record_fsck(session=session, now=now, report=report, repair=repair)
        log.info("fsck: finished in %.1f s: %d rows, %d blobs, %d missing, %d orphans, %d removed",
                 time.monotonic() - started, report.rows_checked, report.blobs_listed, len(report.missing),
                 len(report.orphans), report.removed, extra={"task": "fsck"})
        click.echo(f"rows={report.rows_checked} blobs={report.blobs_listed} missing={len(report.missing)} "
                   f"orphans={len(report.orphans)} young={report.young_unreferenced} removed={report.removed}")
        for key, table, row_id in report.missing[:50]:
            click.echo(f"missing: {table} {row_id} -> {key}")
        for key in report.orphans[:50]:
            click.echo(f"orphan: {key}{' (removed)' if repair else ''}")
        if report.missing:
            sys.exit(1)


@click.command("export-person")
@click.argument("code")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the zip (created owner-only)")
@click.option("--reason", required=True, help="The lawful request this export answers (kept in the audit log)")
def export_person(code: str, output: Path, reason: str) -> None:
    """Export one person's records and decrypted evidence as a zip (data.json + files/); audit-logged."""
    import os

    from supervision.errors import NotFound
    from supervision.export import export_person as build

    with _context() as services:
        db, blobs = services.database, services.blobs
        started = time.monotonic()
        log.info("export-person %s: collecting records and evidence", code, extra={"task": "export-person"})
        with db.transaction() as session:
            try:
                payload, summary = build(session=session, blobs=blobs, code=code, now=services.clock.now(),
                                         reason=reason)
            except NotFound as exc:
                raise click.ClickException(exc.detail) from exc
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
        log.info("export-person %s: %d files written to %s in %.1f s", code, summary["files"], output,
                 time.monotonic() - started, extra={"task": "export-person"})
        click.echo(f"{output}: {summary['files']} files, records {summary['records']}, sha256 {summary['sha256']}")
