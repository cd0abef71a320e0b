"""The district report's education rows (group education sessions held, individual talks, counselling sessions,
community-service attendances and hours), in total and by office, against hand-counted fixtures; the CSV and
XLSX downloads carry them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from storage.models import Activity, Attendance, Talk
from supervision import reports
from supervision.actors import Actor
from tests.activities.conftest import VENUE, add_person
from tests.console.conftest import Console
from tests.factories import PASSWORD, make_office, make_person

PERIOD = reports.ReportPeriod(start=date(2026, 11, 1), end=date(2026, 11, 30))
QUERY = "start=2026-11-01&end=2026-11-30"
EDUCATION = ("group_education_sessions", "individual_talks", "counselling_sessions",
             "community_service_attendances", "community_service_hours")


def _at(text: str) -> datetime:
    """A Shanghai wall-clock time as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


@pytest.fixture
def education(db_session: Any, world: Any) -> dict[str, Any]:
    """Hand-counted rows in O1 and O2 (county C1) and X1 (county C2), inside and outside November 2026."""
    far = make_office(db_session, "X9", county="C2", name="Far away")
    o1 = add_person(db_session, world, "P401")
    o1b = add_person(db_session, world, "P402")
    o1c = add_person(db_session, world, "P403")
    o1d = add_person(db_session, world, "P404")
    o2 = make_person(db_session, world.other_office, "P405")
    x1 = make_person(db_session, far, "P406")

    def activity(office: Any, kind: str, start: str, status: str = "scheduled") -> Activity:
        begin = _at(start)
        row = Activity(office_id=office.id, kind=kind, title=f"{kind} {start}", venue_name=VENUE["name"],
                       venue_lat=VENUE["lat"], venue_lon=VENUE["lon"], venue_radius_m=VENUE["radius_m"],
                       start_at=begin, end_at=begin.replace(hour=begin.hour + 3), levels=[], status=status)
        db_session.add(row)
        db_session.flush()
        return row

    def attended(row: Activity, person: Any, status: str, hours: float | None) -> None:
        db_session.add(Attendance(activity_id=row.id, person_id=person.id, office_id=person.office_id,
                                  status=status, source="officer", hours=hours, reasons=[], details={}))

    def talk(person: Any, kind: str, at: str) -> None:
        db_session.add(Talk(person_id=person.id, office_id=person.office_id, kind=kind, at=_at(at), minutes=40,
                            note="谈话内容", recorded_by_id=world.officer.id))

    # Group education: O1 two in November (the 1st at 00:30 local is inside, 30 Oct is not), one cancelled; O2 one;
    # X9 one (another county).
    activity(world.office, "group_education", "2026-11-01T00:30")
    activity(world.office, "group_education", "2026-11-20T09:00")
    activity(world.office, "group_education", "2026-11-21T09:00", status="cancelled")
    activity(world.office, "group_education", "2026-10-31T20:00")
    activity(world.other_office, "group_education", "2026-11-05T09:00")
    activity(far, "group_education", "2026-11-05T09:00")
    # Community service: O1 on 12 November with 2 attendances that count (3 + 2.5 h) and 2 that do not.
    service = activity(world.office, "community_service", "2026-11-12T09:00")
    attended(service, o1, "verified", 3.0)
    attended(service, o1b, "confirmed", 2.5)
    attended(service, o1c, "needs_review", 3.0)
    attended(service, o1d, "rejected", 3.0)
    october = activity(world.office, "community_service", "2026-10-12T09:00")
    attended(october, o1, "confirmed", 3.0)
    other_service = activity(world.other_office, "community_service", "2026-11-15T09:00")
    attended(other_service, o2, "confirmed", 1.5)
    far_service = activity(far, "community_service", "2026-11-15T09:00")
    attended(far_service, x1, "confirmed", 3.0)
    # A study session's hours are not community-service hours.
    study = activity(world.office, "skills_training", "2026-11-13T09:00")
    attended(study, o1, "verified", 3.0)
    # Talks: O1 three individual talks in November (and one on 31 October), two counselling; O2 one talk.
    for at in ("2026-11-02T10:00", "2026-11-15T10:00", "2026-11-30T23:30"):
        talk(o1, "individual_talk", at)
    talk(o1, "individual_talk", "2026-10-31T23:30")
    talk(o1b, "counselling", "2026-11-03T10:00")
    talk(o1c, "counselling", "2026-11-04T10:00")
    talk(o2, "individual_talk", "2026-11-06T10:00")
    talk(x1, "counselling", "2026-11-06T10:00")
    db_session.commit()
    return {"far": far}


def _actor(account: Any) -> Actor:
    return Actor(role=account.role, id=account.id, name=account.username, office_id=account.office_id,
                 county=account.county)


def test_officer_report_counts_the_office(db_session, world, education):
    report = reports.district_report(session=db_session, actor=_actor(world.officer), period=PERIOD,
                                     now=datetime(2026, 12, 1, tzinfo=UTC))

    assert report.education == {"group_education_sessions": 2, "individual_talks": 3, "counselling_sessions": 2,
                                "community_service_attendances": 2, "community_service_hours": 5.5}
    assert [(code, values) for code, _name, values in report.education_by_office] == [
        ("O1", {"group_education_sessions": 2, "individual_talks": 3, "counselling_sessions": 2,
                "community_service_attendances": 2, "community_service_hours": 5.5})]


def test_county_report_by_office(db_session, world, education):
    report = reports.district_report(session=db_session, actor=_actor(world.admin), period=PERIOD,
                                     now=datetime(2026, 12, 1, tzinfo=UTC))

    assert report.education == {"group_education_sessions": 3, "individual_talks": 4, "counselling_sessions": 2,
                                "community_service_attendances": 3, "community_service_hours": 7.0}
    by_office = {code: values for code, _name, values in report.education_by_office}
    assert set(by_office) == {"O1", "O2"}  # C1's offices; X1 and X9 are in C2
    assert by_office["O2"] == {"group_education_sessions": 1, "individual_talks": 1, "counselling_sessions": 0,
                               "community_service_attendances": 1, "community_service_hours": 1.5}


def test_sessions_not_yet_held_are_not_counted(db_session, world, education):
    # On 15 November the session of the 20th has not been held yet.
    report = reports.district_report(session=db_session, actor=_actor(world.officer), period=PERIOD,
                                     now=datetime(2026, 11, 15, tzinfo=UTC))

    assert report.education["group_education_sessions"] == 1


def _rows_of_csv(data: bytes) -> dict[tuple[str, str], tuple[str, float]]:
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    return {(row["section"], row["item"]): (row["item_label"], _number(row["value"])) for row in rows}


def _number(value: object) -> float | None:
    return None if value == "—" else float(value)  # type: ignore[arg-type]  (a ratio without data reads "—")


def test_exports_carry_the_education_rows(client, clock, world, education):
    clock.at = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    console = Console(client)
    assert console.login("admin1", PASSWORD).status_code == 303

    csv_response = console.get(f"/console/report.csv?{QUERY}")
    xlsx_response = console.get(f"/console/report.xlsx?{QUERY}")
    page = console.get(f"/console/report?{QUERY}").get_data(as_text=True)

    assert csv_response.status_code == 200 and xlsx_response.status_code == 200
    rows = _rows_of_csv(csv_response.data)
    assert {item: rows[("education", item)][1] for item in EDUCATION} == {
        "group_education_sessions": 3, "individual_talks": 4, "counselling_sessions": 2,
        "community_service_attendances": 3, "community_service_hours": 7.0}
    assert rows[("education", "group_education_sessions")][0] == "集中教育（场次）"
    assert rows[("education_office", "O1:community_service_hours")] == ("城关司法所 (O1) · 公益活动时长（小时）", 5.5)
    assert rows[("education_office", "O2:individual_talks")][1] == 1
    # The Excel report: one block per section (a title row, then its items in words), blocks apart by a blank row.
    sheet = load_workbook(io.BytesIO(xlsx_response.data)).active
    blocks: dict[str, dict[str, object]] = {}
    current: dict[str, object] | None = None
    for label, value in sheet.iter_rows(min_row=6, max_col=2, values_only=True):
        if label is None:
            current = None
        elif current is None:
            current = blocks.setdefault(str(label), {})
        else:
            current[str(label)] = value
    for section, title in (("education", "教育帮扶"), ("education_office", "教育帮扶（按司法所）")):
        assert blocks[title] == {label: value for (s, _item), (label, value) in rows.items() if s == section}
    assert '<strong id="kpi-education">3</strong>' in page
    assert "教育帮扶" in page
