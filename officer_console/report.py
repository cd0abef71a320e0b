"""Console district report: tables, inline SVG charts, and CSV / Excel downloads of the same rows."""

from __future__ import annotations

from datetime import date

from flask import Response, render_template, request
from markupsafe import Markup

from officer_console.charts import bar_chart
from officer_console.session import console_actor, enum_label, number, percent, t, zone
from supervision import reports
from supervision.reports import DistrictReport, ReportPeriod, ReportRow, SheetText
from web.db import db_session, now, policies

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class PeriodError(ValueError):
    """The requested dates are not a valid period."""


REPORT_YEARS = (1900, 2100)


def requested_period() -> ReportPeriod:
    """The period from ?start=&end= (YYYY-MM-DD), by default 1 January of this year up to today, local time."""
    today = now().astimezone(zone()).date()
    try:
        start = date.fromisoformat(request.args.get("start") or date(today.year, 1, 1).isoformat())
        end = date.fromisoformat(request.args.get("end") or today.isoformat())
        # Dates the report could never hold (and that overflow when shifted to UTC) are a bad request too.
        if not (REPORT_YEARS[0] <= start.year <= REPORT_YEARS[1] and REPORT_YEARS[0] <= end.year <= REPORT_YEARS[1]):
            raise ValueError(f"dates must lie in the years {REPORT_YEARS[0]}-{REPORT_YEARS[1]}")
        return ReportPeriod(start=start, end=end, timezone=zone().key)
    except ValueError as exc:
        raise PeriodError(str(exc)) from exc


def row_labels(row: ReportRow) -> tuple[str, str]:
    """The section and item labels of a report row in the page language."""
    section = t(f"section.{row.section}")
    if row.group == "office":
        return section, f"{row.name} ({row.item})"
    if row.group == "education_office":
        code, _, item = row.item.partition(":")
        return section, f"{row.name} ({code}) · {t(f'item.{item}')}"
    if row.group == "item":
        return section, t(f"item.{row.item}")
    if row.group == "age":
        return section, t(f"age.{row.item}")
    return section, enum_label(row.group, row.item)


def shown_value(row: ReportRow) -> str:
    """A report value as the page shows it: percentages with %, counts and hours in the locale's digits."""
    if row.value is None:
        return reports.NO_DATA
    if row.item.endswith("_pct"):
        return percent(row.value)
    return number(row.value, 2)


def _build(period: ReportPeriod) -> DistrictReport:
    return reports.district_report(session=db_session(), actor=console_actor(), period=period, now=now(),
                                   duty_policy=policies().duty)


def charts(report: DistrictReport) -> dict[str, Markup]:
    """One bar chart per breakdown."""
    def chart(section: str, group: str, values: dict[str, int]) -> Markup:
        items = [(row_labels(ReportRow(section, key, value, group))[1], value) for key, value in values.items()]
        return bar_chart(items, title=t(f"section.{section}"))

    return {
        "sentence_type": chart("sentence_type", "sentence_type", report.by_sentence_type),
        "gender": chart("gender", "gender", report.by_gender),
        "age_band": chart("age_band", "age", report.by_age_band),
        "employment": chart("employment", "employment", report.by_employment),
        "office": bar_chart([(name, count) for _code, name, count in report.by_office], title=t("section.office")),
        "checkins": chart("checkins", "checkin_status", report.checkins_by_status),
        "sanctions": chart("sanctions", "sanction_kind", report.sanctions),
    }


def report_page() -> tuple[str, int] | str:
    """The report for the chosen period with charts and download links."""
    try:
        period = requested_period()
    except PeriodError:
        return render_template("console/error.html", message=t("error.invalid_date"), status=400), 400
    report = _build(period)
    sections: dict[str, list[tuple[str, str, str]]] = {}
    for row in report.rows():
        section_label, item_label = row_labels(row)
        sections.setdefault(row.section, []).append((section_label, item_label, shown_value(row)))
    return render_template("console/report.html", report=report, period=period, sections=sections,
                           charts=charts(report), scope=scope_text(report))


def scope_text(report: DistrictReport) -> str:
    """Whose numbers these are: the county of a county report, else this office (with its name)."""
    if report.scope == "county":
        return t("report.scope_county", county=report.county or "")
    names = " ".join(name for _code, name, _n in report.by_office)
    return f"{t('report.scope_office')} {names}".strip()


def sheet_text(report: DistrictReport) -> SheetText:
    """The Excel report's title, scope and period line and column headers in the page language."""
    period = f"{t('report.period')} {report.period.start.isoformat()} – {report.period.end.isoformat()}"
    return SheetText(title=t("report.title"), subtitle=f"{t('report.scope', scope=scope_text(report))} · {period}",
                     item_header=t("report.item"), value_header=t("report.value"), note=t("report.register_note"))


def _download(data: bytes, mimetype: str, period: ReportPeriod, extension: str) -> Response:
    response = Response(data, mimetype=mimetype)
    name = f"district-report-{period.start.isoformat()}-{period.end.isoformat()}.{extension}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def report_csv() -> tuple[str, int] | Response:
    """The report rows as CSV (UTF-8 with BOM)."""
    try:
        period = requested_period()
    except PeriodError:
        return render_template("console/error.html", message=t("error.invalid_date"), status=400), 400
    return _download(reports.report_csv(_build(period), row_labels), "text/csv", period, "csv")


def report_xlsx() -> tuple[str, int] | Response:
    """The report as an Excel workbook laid out as the report table (title, sections, values in words and %)."""
    try:
        period = requested_period()
    except PeriodError:
        return render_template("console/error.html", message=t("error.invalid_date"), status=400), 400
    report = _build(period)
    data = reports.report_xlsx(report, row_labels, sheet_text(report))
    return _download(data, XLSX_TYPE, period, "xlsx")
