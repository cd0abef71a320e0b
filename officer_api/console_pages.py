"""Console pages for the person file (register and edit a person, their zones) and the video inspection list.

The forms load through the officer API's own schemas and call the same domain functions, so the console and the API
accept and refuse the same things; a refused form comes back with the entered values and a hint beside each field.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from officer_api import console_forms
from officer_api.console_session import console_actor, notify, t
from officer_api.persons import PersonCreateSchema, PersonUpdateSchema
from officer_api.tracking import ZoneCreateSchema
from storage.enums import (
    EmploymentStatus,
    Gender,
    PersonStatus,
    SentenceType,
    SupervisionLevel,
    TaskStatus,
    ZoneKind,
    ZoneScope,
)
from storage.models import Person
from supervision import persons, reports, tracking, video_inspections
from supervision.errors import AppError, Conflict
from supervision.scope import get_person
from web.db import commit, db_session, now
from web.schemas import is_id

PAGE_SIZE = 50
HOME_FIELDS = ("home_lat", "home_lon", "home_radius_m")
CREATE_FIELDS = ("code", "name", "gender", "birth_date", "sentence_type", "supervision_level", "start_date",
                 "end_date", "office_code", "employment_status", "home_address", *HOME_FIELDS)
EDIT_FIELDS = ("name", "supervision_level", "end_date", "status", "employment_status", "home_address", *HOME_FIELDS)


def _choices() -> dict[str, Any]:
    return {"genders": list(Gender), "sentence_types": list(SentenceType), "levels": list(SupervisionLevel),
            "employments": list(EmploymentStatus), "statuses": list(PersonStatus)}


def _home(form: dict[str, str]) -> dict[str, str] | None:
    # All three empty: no home area; otherwise all three are needed and the schema says which one is wrong.
    values = {"lat": form["home_lat"], "lon": form["home_lon"], "radius_m": form["home_radius_m"]}
    return None if not any(values.values()) else values


def _posted(names: tuple[str, ...]) -> dict[str, str]:
    return {name: console_forms.text(request.form, name, 1000) for name in names}


def _render_create(values: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    offices = reports.offices_in_scope(db_session(), console_actor())
    return render_template("console/person_form.html", mode="create", person=None, values=values, errors=errors,
                           offices=offices, **_choices()), status


def person_new() -> tuple[str, int]:
    """The empty registration form (office preset to the officer's own)."""
    actor = console_actor()
    offices = reports.offices_in_scope(db_session(), actor)
    own = next((office.code for office in offices if office.id == actor.office_id), "")
    values = dict.fromkeys(CREATE_FIELDS, "")
    values.update(office_code=own, employment_status=EmploymentStatus.UNKNOWN.value)
    return _render_create(values, {})


def create_person() -> Response | tuple[str, int]:
    """Register a person through the API's schema and domain rules; errors come back beside their fields."""
    session = db_session()
    actor = console_actor()
    values = _posted(CREATE_FIELDS)
    password = (request.form.get("password") or "")[:256]
    data: dict[str, Any] = {name: values[name] for name in CREATE_FIELDS if name not in HOME_FIELDS}
    data.update(password=password, home=_home(values), home_address=values["home_address"] or None)
    body, errors = console_forms.load(PersonCreateSchema(), data, "person")
    if body is None:
        return _render_create(values, errors, 422)
    try:
        person = persons.create_person(session=session, actor=actor, values=persons.PersonValues(**body), now=now())
    except Conflict as error:
        session.rollback()
        if error.code != "person_code_taken":
            raise
        return _render_create(values, {"code": t("form.person.code_taken")}, 409)
    except AppError as error:
        return _render_create(values, console_forms.refusal(error, "person"), 422)
    commit()
    full = persons.may_see_full_identity(actor, person)
    notify("person_form.created", name=persons.shown_name(person, full_identity=full), code=person.code)
    return redirect(url_for("console.person", person_id=person.id), code=303)


def _current(person: Person, full_identity: bool) -> dict[str, str]:
    def shown(value: Any) -> str:
        return "" if value is None else str(value)

    return {"name": person.name if full_identity else "", "supervision_level": person.supervision_level,
            "end_date": person.end_date.isoformat(), "status": person.status,
            "employment_status": person.employment_status, "home_address": shown(person.home_address),
            "home_lat": shown(person.home_lat), "home_lon": shown(person.home_lon),
            "home_radius_m": shown(person.home_radius_m)}


def _render_edit(person: Person, full_identity: bool, values: dict[str, str], errors: dict[str, str],
                 status: int = 200) -> tuple[str, int]:
    return render_template("console/person_form.html", mode="edit", person=person, full_identity=full_identity,
                           values=values, errors=errors, offices=[], **_choices()), status


def person_edit(person_id: int) -> tuple[str, int]:
    """The edit form with the record's current values (a minor's name stays masked unless shown in full)."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    full = persons.view_identity(session=session, actor=actor, person=person, now=now(), channel="console")
    commit()
    return _render_edit(person, full, _current(person, full), {})


def _changes(person: Person, body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name == "home":
            before = (None if person.home_lat is None else
                      {"lat": person.home_lat, "lon": person.home_lon, "radius_m": person.home_radius_m})
            if value != before:
                changes[name] = value
        elif getattr(person, name) != value:
            changes[name] = value
    return changes


def update_person(person_id: int) -> Response | tuple[str, int]:
    """Change only the fields the officer changed (the API's PATCH rules); every change is audit-logged."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    full = persons.may_see_full_identity(actor, person) or not persons.is_minor(person)
    values = _posted(EDIT_FIELDS)
    data: dict[str, Any] = {name: values[name] for name in EDIT_FIELDS if name not in HOME_FIELDS}
    data.update(home=_home(values), home_address=values["home_address"] or None)
    if not full and not data["name"]:
        del data["name"]  # the masked name was not shown, so an empty field means "unchanged"
    body, errors = console_forms.load(PersonUpdateSchema(), data, "person")
    if body is None:
        return _render_edit(person, full, values, errors, 422)
    try:
        persons.update_person(session=session, actor=actor, person=person, changes=_changes(person, body), now=now())
    except AppError as error:
        return _render_edit(person, full, values, console_forms.refusal(error, "person"), 422)
    commit()
    notify("person_form.updated", name=persons.shown_name(person, full_identity=full), code=person.code)
    return redirect(url_for("console.person", person_id=person.id), code=303)


def _after() -> int | None:
    value = request.args.get("after", "")
    number = int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else None
    return number if is_id(number) else None


def inspection_list() -> str:
    """Video inspections in scope, newest first, by state; each opens its own page."""
    session = db_session()
    status = request.args.get("status", "")
    status = status if status in set(TaskStatus) else ""
    after = _after()
    rows = video_inspections.list_inspections(session=session, actor=console_actor(), status=status or None,
                                              person_id=None, after_id=after, limit=PAGE_SIZE + 1)
    next_after = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    people = {pid: found for pid in {row.person_id for row in rows} if (found := session.get(Person, pid))}
    return render_template("console/inspections.html", rows=rows, persons=people, status=status,
                           statuses=list(TaskStatus), next_after=next_after, paged=after is not None)


# ------------------------------------------------------------------------------------------------ zones

ZONE_FIELDS = ("kind", "scope", "circle_lat", "circle_lon", "circle_radius_m", "polygon", "hours_start",
               "hours_end", "note")


def _polygon(value: str) -> list[list[str]] | None:
    # One "lat, lon" pair per line (or separated by ";"); the schema checks the numbers.
    lines = [line.strip() for line in value.replace(";", "\n").splitlines() if line.strip()]
    if not lines:
        return None
    return [[part.strip() for part in line.replace("，", ",").split(",")] for line in lines]


def _zone_body(values: dict[str, str]) -> dict[str, Any]:
    circle = {"lat": values["circle_lat"], "lon": values["circle_lon"], "radius_m": values["circle_radius_m"]}
    hours = {"start": values["hours_start"], "end": values["hours_end"]}
    return {"kind": values["kind"], "scope": values["scope"] or ZoneScope.HOME.value,
            "circle": circle if any(circle.values()) else None, "polygon": _polygon(values["polygon"]),
            "hours": hours if any(hours.values()) else None, "note": values["note"] or None}


def _render_zones(person: Person, values: dict[str, str], errors: dict[str, str],
                  status: int = 200) -> tuple[str, int]:
    session = db_session()
    zones = [tracking.zone_view(zone) for zone in tracking.list_zones(session=session, person=person)]
    return render_template("console/zones.html", person=person, zones=zones, values=values, errors=errors,
                           kinds=list(ZoneKind), scopes=list(ZoneScope)), status


def zone_list(person_id: int) -> tuple[str, int]:
    """A person's zones in force (besides the registered home area) and the form to add one."""
    person = get_person(db_session(), console_actor(), person_id)
    values = dict.fromkeys(ZONE_FIELDS, "")
    values.update(kind=ZoneKind.EXCLUSION.value, scope=ZoneScope.HOME.value)
    return _render_zones(person, values, {})


def create_zone(person_id: int) -> Response | tuple[str, int]:
    """Add an inclusion area, a banned zone (禁止令) or a curfew with the API's rules; audit-logged."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    values = {name: console_forms.text(request.form, name, 20_000 if name == "polygon" else 1000)
              for name in ZONE_FIELDS}
    body, errors = console_forms.load(ZoneCreateSchema(), _zone_body(values), "zone")
    if body is None:
        return _render_zones(person, values, errors, 422)
    try:
        zone = tracking.create_zone(session=session, actor=actor, person=person, now=now(), **body)
    except AppError as error:
        return _render_zones(person, values, console_forms.refusal(error, "zone"), 422)
    commit()
    notify("zones.created", id=zone.id)
    return redirect(url_for("console.zones", person_id=person.id), code=303)


def delete_zone(person_id: int, zone_id: int) -> Response:
    """Retire a zone (kept for the record); audit-logged. Another person's zone is not found."""
    session = db_session()
    actor = console_actor()
    person = get_person(session, actor, person_id)
    tracking.delete_zone(session=session, actor=actor, person=person, zone_id=zone_id, now=now())
    commit()
    notify("zones.deleted", id=zone_id)
    return redirect(url_for("console.zones", person_id=person.id), code=303)
