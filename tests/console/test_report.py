"""The district report: numbers against the rows in the database, scope, boundaries, CSV and Excel downloads."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from storage.models import Checkin, Person, Sanction, Task
from supervision.reports import ReportPeriod
from tests.console.helpers import make_checkin
from tests.factories import make_office, make_person

NOW = datetime(2026, 4, 10, 2, 0, tzinfo=UTC)
PERIOD = "start=2026-01-01&end=2026-03-31"
# The period in Shanghai time as UTC instants.
BEGIN = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
FINISH = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fixed_clock(clock: Any) -> None:
    clock.at = NOW


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def register(world: Any, db_session: Any, blobs: Any) -> dict[str, Any]:
    """Persons, check-ins, spot checks and sanctions around the first quarter of 2026 (see the expectations)."""
    o1 = world.office
    people = {
        "P001": world.person,  # probation, male, born 1990, started 2026-01-01: received, on the register
        "A": make_person(db_session, o1, "A", sentence_type="control", gender="female", birth_date=date(2009, 1, 1),
                         start_date=date(2025, 6, 1), employment_status="student"),
        "B": make_person(db_session, o1, "B", sentence_type="parole", birth_date=date(1980, 3, 31),
                         start_date=date(2025, 1, 1), employment_status="employed"),
        "C": make_person(db_session, o1, "C", sentence_type="temporary_outside", gender="female",
                         birth_date=date(1960, 1, 1), start_date=date(2025, 1, 1), end_date=date(2026, 2, 15),
                         status="released", released_at=_at("2026-02-15T06:00:00")),
        "D": make_person(db_session, o1, "D", birth_date=date(2008, 4, 1), start_date=date(2026, 2, 1)),
        "E": make_person(db_session, o1, "E", birth_date=date(1981, 4, 1), start_date=date(2026, 4, 5)),
        "F": make_person(db_session, o1, "F", start_date=date(2025, 1, 1), end_date=date(2026, 3, 10)),
        "G": make_person(db_session, world.other_office, "G", start_date=date(2025, 1, 1)),
        "H": make_person(db_session, make_office(db_session, "X2", county="C2"), "H", start_date=date(2025, 1, 1)),
        "I": make_person(db_session, o1, "I", start_date=date(2025, 1, 1), status="released",
                         released_at=_at("2026-04-02T01:00:00")),
    }
    world.person.created_at = _at("2025-12-01T00:00:00")  # owes every duty window of the period
    inside = _at("2026-02-09T03:00:00")  # Monday 11:00 in Shanghai: inside an ordinary-level duty window
    for status in ("verified", "verified", "verified", "accepted", "needs_review", "failed", "rejected"):
        make_checkin(db_session, blobs, world.person, inside, status=status, reasons=())
    make_checkin(db_session, blobs, world.person, _at("2026-04-05T03:00:00"), status="verified", reasons=())
    make_checkin(db_session, blobs, people["G"], inside, status="rejected", reasons=())

    def task(kind: str, status: str, created: str, due: str, completed: str | None = None, person: Any = None) -> None:
        person = person or world.person
        db_session.add(Task(person_id=person.id, office_id=person.office_id, kind=kind, status=status,
                            created_by_id=world.officer.id, created_at=_at(created), due_at=_at(due),
                            completed_at=_at(completed) if completed else None))

    task("spot_check", "completed", "2026-01-05T02:00:00", "2026-01-05T03:00:00", "2026-01-05T02:40:00")
    task("spot_check", "completed", "2026-01-06T02:00:00", "2026-01-06T03:00:00", "2026-01-06T03:20:00")
    task("spot_check", "missed", "2026-01-07T02:00:00", "2026-01-07T03:00:00")
    task("spot_check", "open", "2026-03-01T02:00:00", "2026-03-01T03:00:00")  # past due, not swept yet
    task("spot_check", "open", "2026-03-31T10:00:00", "2026-04-20T10:00:00")  # not yet due
    task("spot_check", "cancelled", "2026-03-02T02:00:00", "2026-03-02T03:00:00")
    task("video_inspection", "completed", "2026-03-03T02:00:00", "2026-03-03T03:00:00", "2026-03-03T02:10:00")
    task("spot_check", "completed", "2026-04-02T02:00:00", "2026-04-02T03:00:00", "2026-04-02T02:10:00")
    task("spot_check", "missed", "2026-02-01T02:00:00", "2026-02-01T03:00:00", person=people["G"])

    def sanction(kind: str, decided: str, person: Any = None) -> None:
        person = person or people["B"]
        db_session.add(Sanction(person_id=person.id, office_id=person.office_id, kind=kind,
                                decided_by_id=world.officer.id, decided_at=_at(decided), note="test"))

    sanction("admonition", "2025-12-31T15:59:00")  # 23:59 on 31 December in Shanghai: before the period
    sanction("admonition", "2025-12-31T16:00:00")  # midnight of 1 January in Shanghai: inside
    sanction("admonition", "2026-02-01T08:00:00")
    sanction("warning", "2026-03-01T08:00:00")
    sanction("revocation_request", "2026-03-31T15:59:00")
    sanction("warning", "2026-03-31T16:00:00")  # 1 April in Shanghai: after
    sanction("admonition", "2026-02-01T08:00:00", person=people["G"])
    db_session.commit()
    return people


def _csv(console: Any, query: str = PERIOD) -> dict[tuple[str, str], float]:
    response = console.get(f"/console/report.csv?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["period_start"] for row in rows} == {"2026-01-01"}
    return {(row["section"], row["item"]): _number(row["value"]) for row in rows}


def _number(value: object) -> float | None:
    return None if value == "—" else float(value)  # type: ignore[arg-type]  (a ratio without data reads "—")


def test_officer_report_counts_match_the_register(officer_console, register):
    values = _csv(officer_console)

    assert values[("register", "total")] == 5  # P001, A, B, D and I (released after the period)
    assert {k[1]: v for k, v in values.items() if k[0] == "sentence_type"} == {
        "control": 1, "probation": 3, "parole": 1, "temporary_outside": 0}
    assert {k[1]: v for k, v in values.items() if k[0] == "gender"} == {"male": 4, "female": 1}
    assert {k[1]: v for k, v in values.items() if k[0] == "age_band"} == {
        "under_18": 2, "18_45": 2, "46_60": 1, "61_plus": 0}
    employment = {k[1]: v for k, v in values.items() if k[0] == "employment"}
    assert (employment["unknown"], employment["student"], employment["employed"]) == (3, 1, 1)
    assert {k[1]: v for k, v in values.items() if k[0] == "office"} == {"O1": 5}
    assert (values[("flow", "received")], values[("flow", "released")]) == (2, 2)  # P001, D / C, F
    assert values[("checkins", "total")] == 6
    assert values[("checkins", "compliant")] == 4
    assert values[("checkins", "compliance_pct")] == pytest.approx(66.7)
    assert values[("checkins", "failed")] == 1
    # Ordinary level: Monday and Thursday windows; only P001 (registered before the period) owes them all.
    due = sum(1 for n in range(90) if (date(2026, 1, 1) + timedelta(days=n)).weekday() in (0, 3))
    assert {k[1]: v for k, v in values.items() if k[0] == "duties"} == {
        "met": 1, "missed": due - 1, "pending": 0, "met_pct": round(100 / due, 1)}
    assert {k[1]: v for k, v in values.items() if k[0] == "spot_checks"} == {
        "on_time": 1, "late": 1, "missed": 2, "open": 1, "on_time_pct": 25.0}
    assert {k[1]: v for k, v in values.items() if k[0] == "sanctions"} == {
        "admonition": 2, "warning": 1, "police_penalty_request": 0, "revocation_request": 1,
        "return_to_prison": 0, "total": 4}


def test_report_totals_agree_with_direct_queries(officer_console, register, db_session, world):
    values = _csv(officer_console)
    o1 = world.office.id

    sanctions = db_session.scalar(select(func.count(Sanction.id)).where(
        Sanction.office_id == o1, Sanction.decided_at >= BEGIN, Sanction.decided_at < FINISH))
    checkins = db_session.scalar(select(func.count(Checkin.id)).where(
        Checkin.office_id == o1, Checkin.captured_at >= BEGIN, Checkin.captured_at < FINISH,
        Checkin.status != "failed"))
    spot_checks = db_session.scalar(select(func.count(Task.id)).where(
        Task.office_id == o1, Task.kind == "spot_check", Task.status != "cancelled", Task.created_at >= BEGIN,
        Task.created_at < FINISH))
    persons = db_session.scalar(select(func.count(Person.id)).where(Person.office_id == o1))

    assert values[("sanctions", "total")] == sanctions
    assert values[("checkins", "total")] == checkins
    assert sum(v for (section, item), v in values.items() if section == "spot_checks" and item != "on_time_pct") \
        == spot_checks
    # Every O1 person is on the register, was released, or starts later.
    assert values[("register", "total")] + values[("flow", "released")] + 1 == persons


def test_county_admin_report_covers_every_office_of_the_county(console, register):
    console.login("admin1")

    values = _csv(console)

    assert values[("register", "total")] == 6
    assert {k[1]: v for k, v in values.items() if k[0] == "office"} == {"O1": 5, "O2": 1}
    assert values[("sanctions", "admonition")] == 3
    assert values[("checkins", "rejected")] == 2
    assert values[("spot_checks", "missed")] == 3


def test_other_office_officer_sees_only_their_office(console, register):
    console.login("officer2")

    values = _csv(console)

    assert values[("register", "total")] == 1
    assert values[("sanctions", "total")] == 1


def _sheet(console: Any, query: str = PERIOD) -> Any:
    response = console.get(f"/console/report.xlsx?{query}")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    return load_workbook(io.BytesIO(response.data)).active


def test_xlsx_is_laid_out_as_the_report_table(officer_console, register, db_session, world):
    sheet = _sheet(officer_console)
    rows = [[cell for cell in row] for row in sheet.iter_rows(max_col=2)]
    title, scope, headers = rows[0][0].value, rows[1][0].value, None
    header_index = next(i for i, row in enumerate(rows) if row[0].value == "明细")
    headers = (rows[header_index][0].value, rows[header_index][1].value)
    sections: dict[str, dict[str, Any]] = {}
    current = None
    for label, value in rows[header_index + 1:]:
        if label.value is None:
            current = None
        elif current is None:  # the first row of a block is its title
            assert label.font.bold and value.value is None
            current = sections.setdefault(label.value, {})
        else:
            current[label.value] = value

    assert title == "辖区社区矫正统计报表" and rows[0][0].font.bold
    assert "2026-01-01" in scope and "2026-03-31" in scope and world.office.name in scope
    assert headers == ("明细", "数值")
    assert list(sections) == ["在册人数", "按矫正类别", "按性别", "按年龄段", "按就业状况", "按司法所", "接收与解除",
                              "签到情况", "签到义务履行", "随机抽查", "奖惩", "教育帮扶", "教育帮扶（按司法所）"]
    # On the register on 31 March: started by then, and released after it (or not released, term not over).
    end = date(2026, 3, 31)
    def registered(p: Any) -> bool:
        if p.released_at is not None:
            return p.start_date <= end and p.released_at >= FINISH
        return p.start_date <= end and p.status == "active" and p.end_date > end

    on_register = [p for p in db_session.scalars(select(Person).where(Person.office_id == world.office.id))
                   if registered(p)]
    by_type = {kind: sum(1 for p in on_register if p.sentence_type == kind)
               for kind in ("control", "probation", "parole", "temporary_outside")}
    assert sections["在册人数"]["合计"].value == len(on_register) == 5
    assert {label: cell.value for label, cell in sections["按矫正类别"].items()} == {
        "管制": by_type["control"], "缓刑": by_type["probation"], "假释": by_type["parole"],
        "暂予监外执行": by_type["temporary_outside"]}
    assert sections["奖惩"]["合计"].value == db_session.scalar(select(func.count(Sanction.id)).where(
        Sanction.office_id == world.office.id, Sanction.decided_at >= BEGIN, Sanction.decided_at < FINISH)) == 4
    assert sections["签到情况"]["合计"].value == db_session.scalar(select(func.count(Checkin.id)).where(
        Checkin.office_id == world.office.id, Checkin.captured_at >= BEGIN, Checkin.captured_at < FINISH,
        Checkin.status != "failed")) == 6
    assert sections["按司法所"] and f"{world.office.name} ({world.office.code})" in sections["按司法所"]
    # A percentage is a number shown as %, not the text "66.7".
    rate = sections["签到情况"]["通过率 %"]
    assert rate.value == pytest.approx(4 / 6, abs=0.001) and rate.number_format == "0.0%"
    assert sections["随机抽查"]["按时率 %"].value == pytest.approx(0.25)
    assert sections["在册人数"]["合计"].number_format == "#,##0"
    # Every item reads in words: no raw code of a value is a label.
    codes = {"control", "probation", "parole", "male", "female", "under_18", "admonition", "total", "met_pct"}
    assert not codes & {label for block in sections.values() for label in block}
    assert sheet.column_dimensions["A"].width >= 24 and sheet.freeze_panes is not None


def test_english_xlsx_has_english_headers_and_sections(officer_console, register):
    officer_console.get("/console/lang/en")

    cells = [c for row in _sheet(officer_console).iter_rows(values_only=True) for c in row if c is not None]

    assert "Probation" in cells and "Value" in cells and "缓刑" not in cells


def test_report_page_shows_numbers_and_charts(officer_console, register):
    page = officer_console.get(f"/console/report?{PERIOD}").get_data(as_text=True)

    assert '<strong id="kpi-register">5</strong>' in page
    assert page.count('<svg class="chart"') == 7
    assert "66.7%" in page and "按年龄段" in page


def test_english_labels_in_the_csv(officer_console, register):
    officer_console.get("/console/lang/en")

    text = officer_console.get(f"/console/report.csv?{PERIOD}").data.decode("utf-8-sig")

    assert "Probation" in text and "On the register" in text


@pytest.mark.parametrize("query", ["start=2026-13-01&end=2026-03-31", "start=2026-03-01&end=2026-01-01",
                                   "start=0001-01-01&end=2026-03-31", "start=2026-01-01&end=9999-12-31"])
def test_invalid_periods_are_refused(officer_console, query):
    assert officer_console.get(f"/console/report?{query}").status_code == 400
    assert officer_console.get(f"/console/report.csv?{query}").status_code == 400


def test_default_period_is_the_year_to_date(officer_console):
    page = officer_console.get("/console/report").get_data(as_text=True)

    assert 'value="2026-01-01"' in page and 'value="2026-04-10"' in page


def test_period_bounds_are_local_midnights():
    begin, finish = ReportPeriod(date(2026, 1, 1), date(2026, 3, 31)).bounds()

    assert (begin, finish) == (BEGIN, FINISH)
    assert finish - begin == timedelta(days=90)


def test_ratios_without_data_read_as_a_dash_in_the_page_and_the_downloads(officer_console, world):
    import csv as csv_module
    import io

    from openpyxl import load_workbook

    period = "?start=2001-01-01&end=2001-01-31"  # before anything existed: no check-in, duty or spot check
    page = officer_console.get(f"/console/report{period}").get_data(as_text=True)
    assert "0.0%" not in page and "0%" not in page
    assert page.count("—") >= 6  # three tiles, three table rows
    rows = list(csv_module.reader(io.StringIO(
        officer_console.get(f"/console/report.csv{period}").get_data(as_text=True).lstrip("\ufeff"))))
    ratios = {row[3]: row[6] for row in rows[1:] if row[3].endswith("_pct")}
    assert ratios and set(ratios.values()) == {"—"}
    sheet = load_workbook(io.BytesIO(officer_console.get(f"/console/report.xlsx{period}").data)).active
    ratios_xlsx = {row[0]: row[1] for row in sheet.iter_rows(values_only=True) if str(row[0]).endswith("%")}
    assert len(ratios_xlsx) == 3 and set(ratios_xlsx.values()) == {"—"}
