"""`checkin demo`: a demo office, officer and enrolled persons to try, each with a photo the engine verifies."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from server.progress import progress

OFFICE = "DEMO"
HOME = {"lat": 31.2304, "lon": 121.4737, "radius_m": 3000}
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic"}


@dataclass
class Identity:
    folder: Path
    photos: list[Path]

    @property
    def code(self) -> str:
        return f"{OFFICE}-{re.sub(r'[^A-Za-z0-9_-]', '', self.folder.name)[:40] or 'P'}"


def identities(faces_dir: Path) -> list[Identity]:
    """Sub-folders holding at least one photo, in name order; photos in numeric-then-name order (2.jpg < 10.jpg)."""
    found = []
    for folder in sorted(p for p in faces_dir.iterdir() if p.is_dir()):
        photos = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES),
                        key=lambda p: (len(p.name), p.name))
        if photos:
            found.append(Identity(folder, photos))
    return found


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@click.command("demo")
@click.option("--faces", "faces_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A folder with one sub-folder of photos per identity, e.g. ../shared/faces/people")
@click.option("--persons", default=3, show_default=True, type=click.IntRange(1, 100), help="How many persons to enrol")
@click.option("--refs", default=3, show_default=True, type=click.IntRange(1, 10), help="Reference photos per person")
@click.option("--officer", "username", default="demo-officer", show_default=True, help="The demo officer's username")
def demo(faces_dir: Path, persons: int, refs: int, username: str) -> None:
    """Seed a demo office, officer and enrolled persons, and print their credentials and a photo to check in with.

    A second run reuses the office, the officer and the persons (nothing is duplicated) and prints fresh passwords.
    """
    from sqlalchemy import select

    from server.cli import _services
    from storage import migrate
    from storage.models import Account, Office, Person
    from supervision import accounts
    from supervision.errors import AppError
    from supervision.passwords import hash_password

    services = _services()
    config = services.config
    if refs < int(config["MIN_REFERENCES"]):
        raise click.BadParameter(f"at least CHECKIN_MIN_REFERENCES={config['MIN_REFERENCES']} are needed for a "
                                 "verified check-in", param_hint="--refs")
    found = identities(faces_dir)
    if not found:
        raise click.ClickException(f"no identities in {faces_dir}: expected one sub-folder of photos per person "
                                   "(e.g. ../shared/faces/people/Colin_Powell/1.jpg)")
    migrate.upgrade(config["DATABASE_URL"])
    blobs, engine, now = services.blobs, services.engine, services.clock.now()
    officer_password = secrets.token_urlsafe(12)
    person_password = secrets.token_urlsafe(9)
    lines: list[str] = []
    tries: list[tuple[str, Path]] = []
    with services.database.transaction() as session:
        office = session.scalar(select(Office).where(Office.code == OFFICE)) or accounts.create_office(
            session=session, code=OFFICE, name="示范司法所 (demo office)", county="示范区")
        officer = session.scalar(select(Account).where(Account.username == username))
        if officer is None:
            try:
                officer = accounts.create_account(session=session, username=username, password=officer_password,
                                                  office_code=office.code, display_name="Demo officer")
            except AppError as exc:
                raise click.ClickException(f"cannot create the officer {username}: {exc.detail}") from exc
            state = "created"
        elif officer.office_id != office.id:
            raise click.ClickException(f"the user {username} exists outside the {OFFICE} office; "
                                       "choose another with --officer")
        else:
            officer.password_hash = hash_password(officer_password)
            state = "reused, new password"
        actor = accounts.actor_for_account(officer)
        lines.append(f"office {office.code}; officer {username} ({state}) / password {officer_password}")
        with progress(min(persons, len(found)), "demo: enrolling persons") as update:
            for identity in found:
                if len(tries) >= persons:
                    break
                person = session.scalar(select(Person).where(Person.code == identity.code))
                if person is not None and person.office_id != office.id:
                    lines.append(f"  {identity.folder.name}: the code {identity.code} is used outside {OFFICE}; "
                                 "skipped")
                    continue
                # A new person that ends up with nothing to try is not kept.
                savepoint = session.begin_nested() if person is None else None
                outcome = _enrol(session=session, engine=engine, blobs=blobs, actor=actor, identity=identity,
                                 person=person, refs=refs, password=person_password, now=now, config=config)
                lines.append(outcome.line)
                if outcome.probe is not None:
                    tries.append((outcome.code, outcome.probe))
                    update(1)
                if savepoint is not None:
                    (savepoint.commit if outcome.probe is not None else savepoint.rollback)()
        if not tries:
            raise click.ClickException(
                f"none of the {len(found)} identities in {faces_dir} has {refs} photos that pass the enrolment "
                "gates and one more that is verified against them; nothing was saved")
    for line in lines:
        click.echo(line)
    code, photo = tries[0]
    click.echo(f"{len(tries)} persons ready. Persons log in with their code, the password and a device_id, e.g. "
               f"{code} with {photo}:")
    click.echo(f"  curl -s $API/checkins -H \"Authorization: Bearer $P\" -H 'Idempotency-Key: demo-1' "
               f"-F photo=@{photo} -F latitude={HOME['lat']} -F longitude={HOME['lon']} -F accuracy_m=15 "
               "-F captured_at=$(date -u +%Y-%m-%dT%H:%M:%S+00:00)")


@dataclass
class Enrolled:
    code: str
    line: str
    probe: Path | None


def _enrol(*, session: Any, engine: Any, blobs: Any, actor: Any, identity: Identity, person: Any, refs: int,
           password: str, now: datetime, config: dict[str, Any]) -> Enrolled:
    """Create (or reuse) the person of one identity folder, enrol up to `refs` photos and find one that verifies."""
    from sqlalchemy import select

    from storage.models import Checkin
    from supervision import faces
    from supervision import persons as person_service
    from supervision.errors import AppError
    from supervision.passwords import hash_password
    from verification.errors import ImageError, QualityError

    name = identity.folder.name
    state = "reused"
    if person is None:
        values = person_service.PersonValues(
            code=identity.code, name=name.replace("_", " "), gender="male", birth_date=date(1985, 1, 1),
            sentence_type="probation", supervision_level="ordinary", start_date=now.date(),
            end_date=date(now.year + 2, 1, 1), office_code=OFFICE, password=password, home=HOME)
        person = person_service.create_person(session=session, actor=actor, values=values, now=now)
        state = "created"
    else:
        person.password_hash = hash_password(password)
    enrolled = {r.sha256 for r in faces.active_references(session, person.id)}
    for photo in identity.photos:
        if len(enrolled) >= refs:
            break
        digest = _sha256(photo)
        if digest in enrolled:
            continue
        try:
            with session.begin_nested():
                faces.enrol_reference(session=session, blobs=blobs, engine=engine, actor=actor, person=person,
                                      photo=photo.read_bytes(), force=False, note=None, now=now,
                                      max_references=int(config["MAX_REFERENCES"]))
            enrolled.add(digest)
        except AppError:
            continue  # a second face, too small, too blurred: the next photo
    if len(enrolled) < refs:
        return Enrolled(identity.code, f"  {name}: only {len(enrolled)} of {refs} photos pass the enrolment gates; "
                                       "skipped", None)
    # A photo the engine verifies against these references, as the check-in would: one face, not a reference, not
    # already sent in a check-in (a resent photo is rejected as a duplicate).
    sent = set(session.scalars(select(Checkin.photo_sha256).where(Checkin.person_id == person.id)))
    references = faces.load_reference_set(session=session, blobs=blobs, engine=engine, person_id=person.id, now=now)
    for photo in identity.photos:
        digest = _sha256(photo)
        if digest in enrolled or digest in sent:
            continue
        try:
            analysis = engine.analyze(photo.read_bytes(), purpose="checkin")
        except (ImageError, QualityError):
            continue
        if len(analysis.faces) != 1:
            continue  # a second face makes the check-in one to review
        result = min((engine.decide(face.templates, references.templates) for face in analysis.faces),
                     key=lambda r: float("inf") if r.distance is None else r.distance)
        if result.band == "verified":
            return Enrolled(identity.code,
                            f"person {identity.code} ({state}) / password {password}; home {HOME['lat']},"
                            f"{HOME['lon']} r={HOME['radius_m']} m; {len(enrolled)} references; a verified "
                            f"check-in to try: {photo} (distance {result.distance:.3f})", photo)
    return Enrolled(identity.code, f"  {name}: no photo beside the references is verified against them; skipped",
                    None)
