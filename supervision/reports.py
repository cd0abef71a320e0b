"""The district statistics report and the register listing: set-based counts within the actor's scope.

Definitions (also in docs/console.md):
- on the register at the end of the period: started on or before the last day, and either released after the
  period, or not released, still active and with a term ending after the last day;
- received: start_date in the period; released: released_at in the period, or, when no release was recorded,
  the term's end_date in the period;
- age (bands under 18, 18-45, 46-60, 61 and over) at the last day of the period;
- check-in duties (when a DutyPolicy is given): the duty windows of the period met, missed or awaiting review,
  from supervision.duties.compliance for each active person whose term overlaps the period (per person, not one
  query: the windows depend on each person's level and office);
- check-in pass rate: verified or accepted among the check-ins captured in the period (failed photo attempts are
  counted apart: the person retried);
- spot checks created in the period: answered in time (completed at or before due_at), late, missed, or not yet due;
- sanctions decided in the period, by kind;
- education (教育帮扶): group education sessions held (kind group_education, not cancelled, starting in the period
  and already started), individual talks and counselling sessions recorded as taking place in the period, and
  community-service attendances (verified or confirmed) of sessions starting in the period with their hours; in
  total and by office.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from storage.enums import (
    ActivityKind,
    ActivityStatus,
    AlertStatus,
    AttendanceStatus,
    CheckinStatus,
    EmploymentStatus,
    Gender,
    PersonStatus,
    SanctionKind,
    SentenceType,
    TalkKind,
    TaskKind,
    TaskStatus,
)
from storage.models import (
    Activity,
    Alert,
    Attendance,
    Checkin,
    Office,
    Person,
    ReferenceFace,
    Sanction,
    Talk,
    Task,
)
from supervision import duties
from supervision.actors import Actor
from supervision.paging import keyset_page
from supervision.scope import office_condition

AGE_BANDS = ("under_18", "18_45", "46_60", "61_plus")
PASSED = (CheckinStatus.VERIFIED, CheckinStatus.ACCEPTED)
SPOT_CHECK_OUTCOMES = ("on_time", "late", "missed", "open")
DUTY_OUTCOMES = ("met", "missed", "pending")
EDUCATION_ITEMS = ("group_education_sessions", "individual_talks", "counselling_sessions",
                   "community_service_attendances", "community_service_hours")
ATTENDED = (AttendanceStatus.VERIFIED, AttendanceStatus.CONFIRMED)


@dataclass(frozen=True)
class ReportPeriod:
    """Calendar days from start to end inclusive, in a local time zone."""

    start: date
    end: date
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("the period ends before it starts")

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as UTC instants [first midnight, midnight after the last day)."""
        zone = ZoneInfo(self.timezone)
        begin = datetime.combine(self.start, time(), tzinfo=zone).astimezone(UTC)
        finish = datetime.combine(self.end + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
        return begin, finish


@dataclass(frozen=True)
class ReportRow:
    section: str
    item: str
    value: float | None  # None: a ratio without data (nothing to divide by), shown as NO_DATA
    group: str  # the label group of item ("sentence_type", "office", ...)
    name: str = ""  # a display name that is data, not a catalogue entry (office names)


@dataclass
class DistrictReport:
    """Every number of the district report; rows() flattens it for tables and downloads."""

    period: ReportPeriod
    scope: str  # "office" or "county"
    county: str | None
    register_total: int = 0
    register_minors: int = 0  # under 18 at intake: counted, never named
    by_sentence_type: dict[str, int] = field(default_factory=dict)
    by_gender: dict[str, int] = field(default_factory=dict)
    by_age_band: dict[str, int] = field(default_factory=dict)
    by_employment: dict[str, int] = field(default_factory=dict)
    by_office: list[tuple[str, str, int]] = field(default_factory=list)  # (code, name, persons)
    received: int = 0
    released: int = 0
    checkins_by_status: dict[str, int] = field(default_factory=dict)
    duties: dict[str, int] | None = None
    spot_checks: dict[str, int] = field(default_factory=dict)
    sanctions: dict[str, int] = field(default_factory=dict)
    education: dict[str, float] = field(default_factory=dict)
    education_by_office: list[tuple[str, str, dict[str, float]]] = field(default_factory=list)

    @property
    def checkins_counted(self) -> int:
        """Check-ins with a decision or awaiting one (failed photo attempts excluded)."""
        return sum(n for status, n in self.checkins_by_status.items() if status != CheckinStatus.FAILED)

    @property
    def checkins_passed(self) -> int:
        """Verified automatically or accepted by an officer."""
        return sum(self.checkins_by_status.get(status, 0) for status in PASSED)

    @property
    def pass_rate_pct(self) -> float:
        """Share of passed check-ins, in percent with one decimal (0 when there were none)."""
        counted = self.checkins_counted
        return round(100.0 * self.checkins_passed / counted, 1) if counted else 0.0

    @property
    def duties_met_pct(self) -> float:
        """Share of the period's closed duty windows that were met, in percent with one decimal."""
        counts = self.duties or {}
        total = sum(counts.values())
        return round(100.0 * counts.get("met", 0) / total, 1) if total else 0.0

    @property
    def spot_checks_due(self) -> int:
        """Spot checks whose deadline has passed (answered or not)."""
        return sum(self.spot_checks.get(k, 0) for k in ("on_time", "late", "missed"))

    @property
    def spot_check_on_time_pct(self) -> float:
        """Share of due spot checks answered in time, in percent with one decimal."""
        due = self.spot_checks_due
        return round(100.0 * self.spot_checks.get("on_time", 0) / due, 1) if due else 0.0

    def rows(self) -> list[ReportRow]:
        """The report as (section, item, value) rows, in display order."""
        rows = [ReportRow("register", "total", self.register_total, "item"),
                ReportRow("register", "minors_at_intake", self.register_minors, "item")]
        rows += [ReportRow("sentence_type", k, v, "sentence_type") for k, v in self.by_sentence_type.items()]
        rows += [ReportRow("gender", k, v, "gender") for k, v in self.by_gender.items()]
        rows += [ReportRow("age_band", k, v, "age") for k, v in self.by_age_band.items()]
        rows += [ReportRow("employment", k, v, "employment") for k, v in self.by_employment.items()]
        rows += [ReportRow("office", code, n, "office", name) for code, name, n in self.by_office]
        rows += [ReportRow("flow", "received", self.received, "item"),
                 ReportRow("flow", "released", self.released, "item")]
        rows += [ReportRow("checkins", k, v, "checkin_status") for k, v in self.checkins_by_status.items()]
        rows += [ReportRow("checkins", "total", self.checkins_counted, "item"),
                 ReportRow("checkins", "compliant", self.checkins_passed, "item"),
                 ReportRow("checkins", "compliance_pct", self.pass_rate_pct if self.checkins_counted else None,
                           "item")]
        if self.duties is not None:
            rows += [ReportRow("duties", k, v, "item") for k, v in self.duties.items()]
            rows += [ReportRow("duties", "met_pct", self.duties_met_pct if sum(self.duties.values()) else None,
                               "item")]
        rows += [ReportRow("spot_checks", k, v, "item") for k, v in self.spot_checks.items()]
        rows += [ReportRow("spot_checks", "on_time_pct",
                           self.spot_check_on_time_pct if self.spot_checks_due else None, "item")]
        rows += [ReportRow("sanctions", k, v, "sanction_kind") for k, v in self.sanctions.items()]
        rows += [ReportRow("sanctions", "total", sum(self.sanctions.values()), "item")]
        rows += [ReportRow("education", k, v, "item") for k, v in self.education.items()]
        rows += [ReportRow("education_office", f"{code}:{k}", v, "education_office", name)
                 for code, name, values in self.education_by_office for k, v in values.items()]
        return rows


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def age_band_expression(on: date) -> Any:
    """SQL CASE giving a person's age band on a day, by comparing birth dates (portable across databases)."""
    return case(
        (Person.birth_date > _years_before(on, 18), "under_18"),
        (Person.birth_date > _years_before(on, 46), "18_45"),
        (Person.birth_date > _years_before(on, 61), "46_60"),
        else_="61_plus",
    )


def on_register_condition(period: ReportPeriod) -> ColumnElement[bool]:
    """Persons under supervision at the end of the period."""
    _begin, finish = period.bounds()
    return and_(
        Person.start_date <= period.end,
        or_(
            Person.released_at >= finish,
            and_(Person.released_at.is_(None), Person.status == PersonStatus.ACTIVE, Person.end_date > period.end),
        ),
    )


def released_condition(period: ReportPeriod) -> ColumnElement[bool]:
    """Persons whose supervision ended in the period (recorded release, else the term's end)."""
    begin, finish = period.bounds()
    return or_(
        and_(Person.released_at >= begin, Person.released_at < finish),
        and_(Person.released_at.is_(None), Person.end_date >= period.start, Person.end_date <= period.end),
    )


def _grouped(session: Session, column: Any, *conditions: ColumnElement[bool]) -> dict[str, int]:
    # Grouping over a subquery's column: PostgreSQL would not see two bound CASE expressions as the same.
    inner = select(column.label("key")).where(*conditions).subquery()
    stmt = select(inner.c.key, func.count()).group_by(inner.c.key)
    return {str(key): int(count) for key, count in session.execute(stmt)}


def _complete(counts: dict[str, int], keys: Iterable[str]) -> dict[str, int]:
    """counts with every expected key (zeros included) first, then any unexpected ones."""
    ordered = {key: counts.get(key, 0) for key in keys}
    ordered.update({key: value for key, value in counts.items() if key not in ordered})
    return ordered


def offices_in_scope(session: Session, actor: Actor) -> list[Office]:
    """The offices the actor may see, by code."""
    return list(session.scalars(select(Office).where(office_condition(actor, Office.id)).order_by(Office.code)))


def duty_compliance(*, session: Session, actor: Actor, period: ReportPeriod, now: datetime,
                    policy: duties.DutyPolicy) -> dict[str, int]:
    """Duty windows of the period (closed by now) met, missed or awaiting review, over active persons in scope."""
    begin, finish = period.bounds()
    totals = dict.fromkeys(DUTY_OUTCOMES, 0)
    until = min(finish, now)
    if until <= begin:
        return totals
    days = math.ceil((until - begin) / timedelta(days=1))
    stmt = select(Person).where(office_condition(actor, Person.office_id), Person.status == PersonStatus.ACTIVE,
                                Person.start_date <= period.end, Person.end_date >= period.start)
    for person in session.scalars(stmt.order_by(Person.id)):
        summary = duties.compliance(session=session, person=person, now=until, policy=policy, days=days)
        for window, status in summary.windows:
            if period.start <= window.day <= period.end and status in totals:
                totals[status] += 1
    return totals


def district_report(*, session: Session, actor: Actor, period: ReportPeriod, now: datetime,
                    duty_policy: duties.DutyPolicy | None = None) -> DistrictReport:
    """The district statistics for period within the actor's scope (officers: their office; admins: county)."""
    begin, finish = period.bounds()
    report = DistrictReport(period=period, scope="county" if actor.role == "admin" else "office",
                            county=actor.county)
    in_scope = office_condition(actor, Person.office_id)
    registered = and_(in_scope, on_register_condition(period))

    report.register_total = session.scalar(select(func.count(Person.id)).where(registered)) or 0
    # Minors at intake: a date comparison per person (birth and start dates), done here to stay portable.
    report.register_minors = sum(1 for birth, start in session.execute(
        select(Person.birth_date, Person.start_date).where(registered)) if birth > _years_before(start, 18))
    report.by_sentence_type = _complete(_grouped(session, Person.sentence_type, registered),
                                        [s.value for s in SentenceType])
    report.by_gender = _complete(_grouped(session, Person.gender, registered), [g.value for g in Gender])
    report.by_age_band = _complete(_grouped(session, age_band_expression(period.end), registered), AGE_BANDS)
    report.by_employment = _complete(_grouped(session, Person.employment_status, registered),
                                     [e.value for e in EmploymentStatus])

    per_office = (
        select(Office.code, Office.name, func.count(Person.id))
        .select_from(Office)
        .outerjoin(Person, and_(Person.office_id == Office.id, on_register_condition(period)))
        .where(office_condition(actor, Office.id))
        .group_by(Office.id, Office.code, Office.name)
        .order_by(Office.code)
    )
    report.by_office = [(code, name, int(count)) for code, name, count in session.execute(per_office)]

    report.received = session.scalar(select(func.count(Person.id)).where(
        in_scope, Person.start_date >= period.start, Person.start_date <= period.end)) or 0
    report.released = session.scalar(select(func.count(Person.id)).where(in_scope, released_condition(period))) or 0

    report.checkins_by_status = _complete(
        _grouped(session, Checkin.status, office_condition(actor, Checkin.office_id),
                 Checkin.captured_at >= begin, Checkin.captured_at < finish),
        [s.value for s in CheckinStatus])

    if duty_policy is not None:
        report.duties = duty_compliance(session=session, actor=actor, period=period, now=now, policy=duty_policy)

    outcome = case(
        (and_(Task.completed_at.is_not(None), Task.completed_at <= Task.due_at), "on_time"),
        (Task.completed_at.is_not(None), "late"),
        (or_(Task.status == TaskStatus.MISSED, Task.due_at <= now), "missed"),
        else_="open",
    )
    report.spot_checks = _complete(
        _grouped(session, outcome, office_condition(actor, Task.office_id), Task.kind == TaskKind.SPOT_CHECK,
                 Task.status != TaskStatus.CANCELLED, Task.created_at >= begin, Task.created_at < finish),
        SPOT_CHECK_OUTCOMES)

    report.sanctions = _complete(
        _grouped(session, Sanction.kind, office_condition(actor, Sanction.office_id),
                 Sanction.decided_at >= begin, Sanction.decided_at < finish),
        [k.value for k in SanctionKind])
    report.education, report.education_by_office = education_counts(session=session, actor=actor, period=period,
                                                                     now=now)
    return report


def _per_office(session: Session, stmt: Any) -> dict[int, float]:
    return {int(office_id): float(value or 0) for office_id, value in session.execute(stmt)}


def education_counts(*, session: Session, actor: Actor, period: ReportPeriod,
                     now: datetime) -> tuple[dict[str, float], list[tuple[str, str, dict[str, float]]]]:
    """Education rows: sessions held, talks, counselling, community-service attendances and hours; total and by
    office (offices in scope, by code)."""
    begin, finish = period.bounds()
    sessions = _per_office(session, select(Activity.office_id, func.count(Activity.id)).where(
        office_condition(actor, Activity.office_id), Activity.kind == ActivityKind.GROUP_EDUCATION,
        Activity.status != ActivityStatus.CANCELLED, Activity.start_at >= begin, Activity.start_at < finish,
        Activity.start_at <= now).group_by(Activity.office_id))
    talk_counts: dict[str, dict[int, float]] = {}
    for kind, item in ((TalkKind.INDIVIDUAL_TALK, "individual_talks"), (TalkKind.COUNSELLING,
                                                                        "counselling_sessions")):
        talk_counts[item] = _per_office(session, select(Talk.office_id, func.count(Talk.id)).where(
            office_condition(actor, Talk.office_id), Talk.kind == kind, Talk.at >= begin, Talk.at < finish)
            .group_by(Talk.office_id))
    service = (
        select(Attendance.office_id, func.count(Attendance.id), func.coalesce(func.sum(Attendance.hours), 0.0))
        .join(Activity, Activity.id == Attendance.activity_id)
        .where(office_condition(actor, Attendance.office_id), Activity.kind == ActivityKind.COMMUNITY_SERVICE,
               Attendance.status.in_(ATTENDED), Activity.start_at >= begin, Activity.start_at < finish)
        .group_by(Attendance.office_id)
    )
    attendances: dict[int, float] = {}
    hours: dict[int, float] = {}
    for office_id, count, total in session.execute(service):
        attendances[int(office_id)] = float(count)
        hours[int(office_id)] = round(float(total or 0.0), 2)
    columns = {"group_education_sessions": sessions, **talk_counts, "community_service_attendances": attendances,
               "community_service_hours": hours}
    by_office = [(office.code, office.name, {item: columns[item].get(office.id, 0) for item in EDUCATION_ITEMS})
                 for office in offices_in_scope(session, actor)]
    totals = {item: round(sum(values[item] for _c, _n, values in by_office), 2) for item in EDUCATION_ITEMS}
    return totals, by_office


def report_csv(report: DistrictReport, labeler: Callable[[ReportRow], tuple[str, str]] | None = None) -> bytes:
    """The report as CSV (UTF-8 with BOM so spreadsheet programs detect it): section, item, label, value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["period_start", "period_end", "section", "item", "section_label", "item_label", "value"])
    for row in report.rows():
        section_label, item_label = labeler(row) if labeler else (row.section, row.name or row.item)
        writer.writerow([_csv_text(cell) for cell in (report.period.start.isoformat(), report.period.end.isoformat(),
                                                      row.section, row.item, section_label, item_label)]
                        + [_plain_number(row.value)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


@dataclass(frozen=True)
class SheetText:
    """The words of the Excel report around the numbers, in the reader's language."""

    title: str = "District report"
    subtitle: str = ""  # scope and period, e.g. "Scope: county C1 · Period 2026-01-01 – 2026-03-31"
    item_header: str = "Item"
    value_header: str = "Value"
    note: str = ""


def _default_labels(row: ReportRow) -> tuple[str, str]:
    return row.section, f"{row.name} ({row.item})" if row.name else row.item


def _display_width(text: str) -> int:
    # East Asian characters take two columns in a spreadsheet cell.
    return sum(2 if ord(char) > 0x2E7F else 1 for char in text)


def report_xlsx(report: DistrictReport, labeler: Callable[[ReportRow], tuple[str, str]] | None = None,
                text: SheetText | None = None) -> bytes:
    """The report as an Excel workbook laid out as the report table: a title row, a scope and period row, the
    column headers, then one block per section (a section title row and its items in words). Percentages are
    numbers formatted as %, ratios without data read NO_DATA."""
    from openpyxl import Workbook

    text = text or SheetText()
    workbook = Workbook()
    sheet = workbook.active
    # Excel forbids []:*?/\ in sheet names and allows 31 characters.
    sheet.title = "".join(c for c in text.title if c not in "[]:*?/\\")[:31] or "Report"
    header_row = _write_sheet_heading(sheet, text)
    widths = _write_sheet_sections(sheet, report, labeler or _default_labels, header_row,
                                   [_display_width(text.item_header), _display_width(text.value_header)])
    _lay_out_sheet(sheet, widths, header_row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _text_cell(sheet: Any, row: int, column: int, value: str) -> Any:
    cell = sheet.cell(row=row, column=column, value=value)
    # openpyxl turns any text beginning with "=" into a formula; names come from users (an office
    # called "=HYPERLINK(...)"), so every text cell is stored as a string, shown as typed.
    cell.data_type = "s"
    return cell


def _write_sheet_heading(sheet: Any, text: SheetText) -> int:
    """The title, the subtitle and note rows, a blank row and the column headers; returns the header row."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    title = _text_cell(sheet, 1, 1, text.title)
    title.font = Font(bold=True, size=14)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=2)
    line = 2
    for extra in (text.subtitle, text.note):
        if extra:
            _text_cell(sheet, line, 1, extra).alignment = Alignment(wrap_text=False)
            sheet.merge_cells(start_row=line, start_column=1, end_row=line, end_column=2)
            line += 1
    line += 1
    header_fill = PatternFill("solid", start_color="F2F2F2")
    rule = Border(bottom=Side(style="thin", color="999999"))
    for column, heading in ((1, text.item_header), (2, text.value_header)):
        cell = _text_cell(sheet, line, column, heading)
        cell.font, cell.fill, cell.border = Font(bold=True), header_fill, rule
    sheet.freeze_panes = sheet.cell(row=line + 1, column=1)
    return line


def _write_sheet_sections(sheet: Any, report: DistrictReport, labeler: Callable[[ReportRow], tuple[str, str]],
                          header_row: int, widths: list[int]) -> list[int]:
    """One block per section below the header row: its title row, then its items; returns the widths needed."""
    from openpyxl.styles import Alignment, Font, PatternFill

    bold = Font(bold=True)
    section_fill = PatternFill("solid", start_color="DDE6F0")
    line = header_row
    current = None
    for row in report.rows():
        section_label, item_label = labeler(row)
        if row.section != current:
            line += 2 if current is not None else 1  # a blank row between sections
            current = row.section
            cell = _text_cell(sheet, line, 1, section_label)
            cell.font, cell.fill = bold, section_fill
            sheet.cell(row=line, column=2).fill = section_fill
            widths[0] = max(widths[0], _display_width(section_label))
        line += 1
        label = _text_cell(sheet, line, 1, item_label)
        label.alignment = Alignment(indent=1)
        widths[0] = max(widths[0], _display_width(item_label) + 2)
        _write_value(sheet.cell(row=line, column=2), row)
    return widths


def _write_value(value: Any, row: ReportRow) -> None:
    from openpyxl.styles import Alignment

    if row.value is None:
        value.value = NO_DATA
        value.data_type = "s"
        value.alignment = Alignment(horizontal="right")
    elif row.item.endswith("_pct"):
        value.value = round(float(row.value) / 100.0, 6)
        value.number_format = "0.0%"
    else:
        value.value = _plain_number(row.value)
        value.number_format = "#,##0" if isinstance(value.value, int) else "#,##0.0#"


def _lay_out_sheet(sheet: Any, widths: list[int], header_row: int) -> None:
    """Column widths from the text, one page wide when printed, the header row repeated on every page."""
    sheet.column_dimensions["A"].width = min(max(widths[0] + 2, 24), 70)
    sheet.column_dimensions["B"].width = max(widths[1] + 4, 14)
    sheet.page_setup.fitToWidth = 1
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{header_row}:{header_row}"


# Spreadsheet programs run a CSV cell beginning with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str) -> str:
    # OWASP's advice: a leading single quote makes the cell text; only cells that could be formulas get one.
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


# What a ratio without data reads as in the page and the downloads (not 0%, which would be a finding).
NO_DATA = "—"


def _plain_number(value: float | None) -> int | float | str:
    if value is None:
        return NO_DATA
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True)
class RegisterRow:
    """One person in the register listing, with the counts officers triage by."""

    person: Person
    open_alerts: int
    pending_reviews: int
    references: int


def list_register(*, session: Session, actor: Actor, query: str | None = None, office_code: str | None = None,
                  level: str | None = None, status: str | None = None, open_alerts_only: bool = False,
                  after_id: int | None = None, limit: int = 50) -> list[RegisterRow]:
    """Persons in the actor's scope with their open alerts, check-ins awaiting review and reference photos."""
    alerts = (select(func.count(Alert.id)).where(Alert.person_id == Person.id, Alert.status == AlertStatus.OPEN)
              .correlate(Person).scalar_subquery())
    reviews = (select(func.count(Checkin.id))
               .where(Checkin.person_id == Person.id, Checkin.status == CheckinStatus.NEEDS_REVIEW)
               .correlate(Person).scalar_subquery())
    references = (select(func.count(ReferenceFace.id))
                  .where(ReferenceFace.person_id == Person.id, ReferenceFace.deleted_at.is_(None))
                  .correlate(Person).scalar_subquery())
    stmt = select(Person, alerts, reviews, references).where(office_condition(actor, Person.office_id))
    if query:
        pattern = f"%{query.strip()}%"
        stmt = stmt.where(or_(Person.name.ilike(pattern), Person.code.ilike(pattern)))
    if office_code:
        stmt = stmt.where(Person.office_id.in_(select(Office.id).where(Office.code == office_code)))
    if level:
        stmt = stmt.where(Person.supervision_level == level)
    if status:
        stmt = stmt.where(Person.status == status)
    if open_alerts_only:
        stmt = stmt.where(alerts > 0)
    rows = session.execute(keyset_page(stmt, Person.id, after_id=after_id, limit=limit, oldest_first=True))
    return [RegisterRow(person, int(a or 0), int(r or 0), int(f or 0)) for person, a, r, f in rows]


def queue_counts(session: Session, actor: Actor) -> dict[str, int]:
    """How many check-ins in the actor's scope wait for a decision: needs_review and unreviewed rejections."""
    stmt = (select(Checkin.status, func.count(Checkin.id))
            .where(office_condition(actor, Checkin.office_id),
                   Checkin.status.in_((CheckinStatus.NEEDS_REVIEW, CheckinStatus.REJECTED)),
                   Checkin.reviewed_at.is_(None))
            .group_by(Checkin.status))
    counts = {str(status): int(count) for status, count in session.execute(stmt)}
    return {CheckinStatus.NEEDS_REVIEW.value: counts.get(CheckinStatus.NEEDS_REVIEW, 0),
            CheckinStatus.REJECTED.value: counts.get(CheckinStatus.REJECTED, 0)}

