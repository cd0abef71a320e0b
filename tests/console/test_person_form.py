"""Registering and editing a person in the console: the API's rules, errors beside their fields, scope, masking."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import select

from storage.models import AuditEvent, Person
from tests.console.conftest import PASSWORD
from tests.console.helpers import count
from tests.factories import make_person

GOOD = {"code": "P100", "name": "王五", "gender": "male", "birth_date": "1985-06-01", "sentence_type": "parole",
        "supervision_level": "strict", "start_date": "2026-02-01", "end_date": "2027-02-01", "office_code": "O1",
        "employment_status": "employed", "password": "river-lantern-42", "home_address": "上海市黄浦区南京东路 100 号",
        "home_lat": "31.2350", "home_lon": "121.4800", "home_radius_m": "1500"}


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def _field_error(page: str, name: str) -> str | None:
    """The hint shown beside one field, or None."""
    found = re.search(rf'<span class="field-error" id="err-{name}">([^<]*)</span>', page)
    return found.group(1) if found else None


def _value(page: str, name: str) -> str | None:
    found = re.search(rf'<input type="[a-z-]+" name="{name}" value="([^"]*)"', page)
    return found.group(1) if found else None


def test_refused_registration_shows_each_error_beside_its_field_then_saves(officer_console, db_session):
    bad = {**GOOD, "code": "x", "birth_date": "", "home_lat": "north", "gender": "", "password": "short"}

    refused = officer_console.post("/console/persons/new", bad)

    page = _text(refused)
    assert refused.status_code == 422
    assert _field_error(page, "code") == "编号为 3–64 位字母、数字、下划线或连字符，且未被使用。"
    assert _field_error(page, "birth_date") and _field_error(page, "gender") and _field_error(page, "password")
    assert _field_error(page, "home_lat") == "纬度为 -90 至 90 之间的数字。"
    assert _field_error(page, "name") is None and _field_error(page, "home_lon") is None
    assert _value(page, "name") == "王五" and _value(page, "home_address") == GOOD["home_address"]
    assert _value(page, "password") is None  # a password is never sent back
    assert "有些内容需要修改" in page
    assert count(db_session, Person, Person.code == "P100") == 0

    # Rules of the domain (not of the schema) land beside their fields too.
    backwards = officer_console.post("/console/persons/new", {**GOOD, "end_date": "2025-01-01"})
    assert backwards.status_code == 422
    assert _field_error(_text(backwards), "end_date") == "请填写有效的矫正结束日期，且不早于开始日期。"
    common = officer_console.post("/console/persons/new", {**GOOD, "password": "password123"})
    assert common.status_code == 422 and _field_error(_text(common), "password")
    taken = officer_console.post("/console/persons/new", {**GOOD, "code": "P001"})
    assert taken.status_code == 409 and _field_error(_text(taken), "code") == "该编号已登记，请换一个。"

    saved = officer_console.post("/console/persons/new", GOOD)

    assert saved.status_code == 303
    person = db_session.scalars(select(Person).where(Person.code == "P100")).one()
    assert saved.headers["Location"].endswith(f"/console/persons/{person.id}")
    assert (person.home_address, person.home_radius_m, person.supervision_level) == (
        GOOD["home_address"], 1500.0, "strict")
    shown = _text(officer_console.get(saved.headers["Location"]))
    # The confirmation is in the notice area fixed to the window (in view wherever the page is scrolled: the
    # browser test checks its box), announced as a status.
    notices = shown.split('<div class="notices" id="notices"', 1)[1]
    assert '<div class="flash flash-ok notice" role="status"' in notices
    assert '<span class="notice-text">已登记矫正对象 王五（P100）。</span>' in notices
    assert GOOD["home_address"] in shown


def test_an_address_without_a_home_area_and_a_half_filled_area(officer_console, db_session):
    no_area = {**GOOD, "home_lat": "", "home_lon": "", "home_radius_m": ""}
    half = {**no_area, "code": "P101", "home_lat": "31.2"}

    refused = officer_console.post("/console/persons/new", half)
    assert refused.status_code == 422
    assert _field_error(_text(refused), "home_lon") and _field_error(_text(refused), "home_radius_m")

    assert officer_console.post("/console/persons/new", no_area).status_code == 303
    person = db_session.scalars(select(Person).where(Person.code == "P100")).one()
    assert person.home_lat is None and person.home_address == GOOD["home_address"]


def test_edit_changes_only_what_was_changed(officer_console, world, db_session):
    person = world.person
    form_page = _text(officer_console.get(f"/console/persons/{person.id}/edit"))
    assert _value(form_page, "name") == "张三" and _value(form_page, "home_radius_m") == "3000.0"
    before = (person.name, person.end_date, person.home_lat, person.home_lon, person.home_radius_m, person.status)
    posted = {"name": "张三", "supervision_level": "strict", "end_date": "2028-01-01", "status": "active",
              "employment_status": "unknown", "home_address": "上海市黄浦区人民路 8 号", "home_lat": "31.2304",
              "home_lon": "121.4737", "home_radius_m": "3000.0"}

    response = officer_console.post(f"/console/persons/{person.id}/edit", posted)

    assert response.status_code == 303
    db_session.expire_all()
    person = db_session.get(Person, world.person.id)
    assert person.supervision_level == "strict" and person.home_address == "上海市黄浦区人民路 8 号"
    assert (person.name, person.end_date, person.home_lat, person.home_lon, person.home_radius_m,
            person.status) == before
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "person.updated")
                               .order_by(AuditEvent.id.desc())).first()
    assert set(event.details["after"]) == {"supervision_level", "home_address"}
    assert "已保存 张三（P001）的修改。" in _text(officer_console.get(f"/console/persons/{person.id}"))


def test_refused_edit_keeps_the_entered_values_and_changes_nothing(officer_console, world, db_session):
    posted = {"name": "", "supervision_level": "lenient", "end_date": "2028-13-01", "status": "active",
              "employment_status": "unknown", "home_address": "", "home_lat": "", "home_lon": "",
              "home_radius_m": ""}

    response = officer_console.post(f"/console/persons/{world.person.id}/edit", posted)

    page = _text(response)
    assert response.status_code == 422
    assert _field_error(page, "end_date") and _field_error(page, "name")
    assert _value(page, "end_date") == "2028-13-01"
    db_session.expire_all()
    person = db_session.get(Person, world.person.id)
    assert (person.supervision_level, person.end_date, person.home_lat) == ("ordinary", date(2028, 1, 1), 31.2304)


def test_a_minors_name_stays_masked_on_the_edit_form_for_the_county(console, world, db_session):
    minor = make_person(db_session, world.other_office, "P300", name="李小龙", birth_date=date(2010, 5, 1))
    console.login("admin1")

    page = _text(console.get(f"/console/persons/{minor.id}/edit"))
    assert "李小龙" not in page and "李某" in page
    assert _value(page, "name") == ""
    posted = {"name": "", "supervision_level": "strict", "end_date": "2028-01-01", "status": "active",
              "employment_status": "student", "home_address": "", "home_lat": "", "home_lon": "",
              "home_radius_m": ""}
    response = console.post(f"/console/persons/{minor.id}/edit", posted)

    assert response.status_code == 303
    db_session.expire_all()
    saved = db_session.get(Person, minor.id)
    assert saved.name == "李小龙" and saved.employment_status == "student" and saved.home_lat is None
    assert "李小龙" not in _text(console.get(f"/console/persons/{minor.id}"))


def test_pages_of_a_person_outside_the_scope_are_not_found(console, world, db_session):
    console.login("officer2")
    person = world.person.id
    for path in (f"/console/persons/{person}/edit", f"/console/persons/{person}/zones",
                 f"/console/persons/{person}/talks/new"):
        assert console.get(path).status_code == 404, path
    for path, data in ((f"/console/persons/{person}/edit", {"supervision_level": "strict"}),
                       (f"/console/persons/{person}/zones", {"kind": "curfew", "hours_start": "22:00",
                                                             "hours_end": "06:00"}),
                       (f"/console/persons/{person}/talks", {"kind": "individual_talk", "minutes": "5",
                                                             "at": "2026-03-01T10:00", "note": "x"})):
        response = console.post(path, data)
        assert response.status_code == 404, path
        assert "不在您的管辖范围内" in _text(response)
    # Registering into an office outside the scope is refused beside the office field.
    refused = console.post("/console/persons/new", {**GOOD, "office_code": "O1"})
    assert refused.status_code == 422 and _field_error(_text(refused), "office_code")
    assert count(db_session, Person, Person.code == "P100") == 0
    db_session.expire_all()
    assert db_session.get(Person, person).supervision_level == "ordinary"


def test_the_register_links_to_the_form_and_the_api_shows_the_address(officer_console, world, client, auth):
    assert "/console/persons/new" in _text(officer_console.get("/console/persons"))
    assert officer_console.post("/console/persons/new", GOOD).status_code == 303
    headers = auth.headers("officer1", PASSWORD)
    listing = client.get("/api/v1/officer/persons?q=P100", headers=headers).get_json()
    assert listing["items"][0]["home_address"] == GOOD["home_address"]
    changed = client.patch(f"/api/v1/officer/persons/{listing['items'][0]['id']}", headers=headers,
                           json={"home_address": "杭州市西湖区"})
    assert changed.status_code == 200 and changed.get_json()["home_address"] == "杭州市西湖区"
    assert changed.get_json()["home"]["radius_m"] == 1500.0
