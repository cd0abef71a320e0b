"""Minors (under 18 at intake): the name is masked in every list, report and export; full identity only on their own
page for officers of their office, and every view of their record is audit-logged."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from storage.models import AuditEvent
from supervision.audit import AuditAction
from supervision.persons import is_minor, mask_name
from tests.console.conftest import PASSWORD, Console
from tests.console.helpers import make_alert, make_checkin, make_leave
from tests.factories import make_person

FULL_NAME = "李小龙"
LATIN_NAME = "Bruce Jun Fan"


@pytest.fixture
def minors(world: Any, db_session: Any, blobs: Any, clock: Any) -> list[Any]:
    # 17 at intake; the second one turned 18 since, which changes nothing: the protection follows the intake age.
    people = [make_person(db_session, world.office, "M001", password=PASSWORD, name=FULL_NAME,
                          birth_date=date(2008, 6, 1), start_date=date(2026, 1, 1)),
              make_person(db_session, world.office, "M002", password=PASSWORD, name=LATIN_NAME,
                          birth_date=date(2007, 3, 1), start_date=date(2024, 2, 1))]
    for person in people:
        make_checkin(db_session, blobs, person, clock.now())
        make_leave(db_session, person, clock.now())
        make_alert(db_session, person, clock.now())
    return people


def _assert_no_full_name(body: str, where: str) -> None:
    assert FULL_NAME not in body, f"{where} shows the minor's full name"
    assert LATIN_NAME not in body, f"{where} shows the minor's full name"


def test_masking_rules():
    assert mask_name("李小龙") == "李某"
    assert mask_name("欧阳娜娜") == "欧某"
    assert mask_name("Bruce Jun Fan") == "Fan B."
    assert mask_name("Madonna") == "M."


def test_minor_is_decided_at_intake(world, db_session):
    adult = make_person(db_session, world.office, "A001", birth_date=date(2008, 1, 1), start_date=date(2026, 1, 1))
    minor = make_person(db_session, world.office, "A002", birth_date=date(2008, 1, 2), start_date=date(2026, 1, 1))

    assert not is_minor(adult) and is_minor(minor)


def test_no_console_list_or_report_names_a_minor(officer_console: Console, minors):
    pages = ["/console/persons", "/console/persons?q=M00", "/console/review", "/console/alerts", "/console/leave",
             "/console/audit", f"/console/audit?person_id={minors[0].id}", "/console/report",
             "/console/report.csv"]
    for path in pages:
        response = officer_console.get(path)
        assert response.status_code == 200, path
        _assert_no_full_name(response.get_data(as_text=True), path)
    assert "李某" in officer_console.get("/console/persons").get_data(as_text=True)

    workbook = load_workbook(io.BytesIO(officer_console.get("/console/report.xlsx").data))
    cells = " ".join(str(c.value) for sheet in workbook for row in sheet.iter_rows() for c in row)
    _assert_no_full_name(cells, "report.xlsx")
    csv = officer_console.get("/console/report.csv").get_data(as_text=True)
    assert "minors_at_intake" in csv and ",minors_at_intake," in csv.replace('"', "")


def test_the_report_counts_minors_without_naming_them(officer_console: Console, minors):
    csv = officer_console.get("/console/report.csv?start=2026-01-01&end=2026-12-31").get_data(as_text=True)
    [line] = [line for line in csv.splitlines() if ",minors_at_intake," in line]
    assert line.rsplit(",", 1)[1] == "2"


def test_own_page_shows_the_full_name_to_officers_of_the_office_and_is_audited(officer_console, minors, db_session):
    page = officer_console.get(f"/console/persons/{minors[0].id}").get_data(as_text=True)

    assert FULL_NAME in page
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == AuditAction.PERSON_VIEWED,
                                                       AuditEvent.person_id == minors[0].id))
    assert event.details == {"minor": True, "full_identity": True, "channel": "console"}


def test_county_admin_sees_the_minor_masked_even_on_the_page(console: Console, minors, world, db_session):
    # admin1 belongs to O1 too; an admin of another office of the county must not see the full name.
    from tests.factories import make_officer

    make_officer(db_session, world.other_office, "admin2", admin=True, password=PASSWORD)
    assert console.login("admin2").status_code == 303

    page = console.get(f"/console/persons/{minors[0].id}").get_data(as_text=True)

    _assert_no_full_name(page, "another office's page")
    assert "李某" in page


def test_api_lists_mask_and_detail_is_full_for_the_office_only(client, auth, minors, world, db_session):
    from tests.factories import make_officer

    make_officer(db_session, world.other_office, "admin2", admin=True, password=PASSWORD)
    officer = auth.headers("officer1", PASSWORD)
    listing = client.get("/api/v1/officer/persons?limit=100", headers=officer)
    assert listing.status_code == 200
    _assert_no_full_name(listing.get_data(as_text=True), "GET /officer/persons")
    names = {p["code"]: p["name"] for p in listing.get_json()["items"]}
    assert names["M001"] == "李某" and names["M002"] == "Fan B." and names["P001"] == "张三"

    detail = client.get(f"/api/v1/officer/persons/{minors[0].id}", headers=officer).get_json()
    assert detail["name"] == FULL_NAME
    other = client.get(f"/api/v1/officer/persons/{minors[0].id}", headers=auth.headers("admin2", PASSWORD))
    assert other.status_code == 200 and other.get_json()["name"] == "李某"
    views = db_session.scalars(select(AuditEvent.details).where(AuditEvent.action == AuditAction.PERSON_VIEWED,
                                                                AuditEvent.person_id == minors[0].id)).all()
    assert [v["full_identity"] for v in views] == [True, False]
