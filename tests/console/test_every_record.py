"""One record of every kind the product stores, and every console page rendered over them in Chinese and English:
no page may fail on real data, and a Chinese page shows no raw status, reason, flag or type code."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest

from storage.enums import (
    ActivityKind,
    ActivityStatus,
    AlertType,
    AttendanceSource,
    AttendanceStatus,
    CheckinKind,
    CheckinStatus,
    LeaveStatus,
    Reason,
    SanctionKind,
    TalkKind,
    TaskKind,
    TaskStatus,
    ZoneKind,
    ZoneScope,
)
from storage.models import (
    Activity,
    ActivityInvitation,
    Alert,
    Attendance,
    Checkin,
    LeaveRequest,
    LocationZone,
    Sanction,
    Talk,
    Task,
)
from tests.console.helpers import make_checkin, make_reference
from verification.errors import ImageErrorCode, QualityErrorCode

FLAGS = ["background_faces", "camera_changed", "exif_time_invalid", "exif_time_mismatch", "face_cut_off",
         "multiple_faces", "no_camera_model", "no_exif", "unconfirmed_faces"]
FAILURES = [str(code) for code in (*ImageErrorCode, *QualityErrorCode)]
CODES = sorted({*map(str, CheckinStatus), *map(str, Reason), *map(str, AlertType), *map(str, SanctionKind),
                *map(str, TaskKind), *map(str, LeaveStatus), *map(str, ActivityKind), *map(str, ActivityStatus),
                *map(str, AttendanceStatus), *map(str, AttendanceSource), *map(str, TalkKind), *map(str, ZoneKind),
                *map(str, ZoneScope), *FLAGS, *FAILURES} - {"late", "active", "open"})
ACTIVITY_REASONS = ["outside_area", "outside_session_time", "missing_check_out", "face_inconclusive"]


def one_of_everything(session: Any, blobs: Any, world: Any, now: Any) -> dict[str, list[int]]:
    """Every check-in status, kind, reason, flag and failure; every task kind and state; every alert type and
    sanction; every leave state; attempts without a photo, a match, a location or a quality block."""
    person, officer = world.person, world.officer
    reference = make_reference(session, blobs, person, officer, now)
    ids: dict[str, list[int]] = {"checkins": [], "tasks": []}
    for n, status in enumerate(CheckinStatus):
        checkin = make_checkin(session, blobs, person, now - timedelta(hours=n), status=status,
                               reasons=tuple(Reason), reference=reference)
        checkin.kind = list(CheckinKind)[n % len(CheckinKind)]
        checkin.flags = list(FLAGS)
        checkin.liveness = {"passed": n % 2 == 0, "score": 0.4, "actions": ["blink", "turn_left"]}
        ids["checkins"].append(checkin.id)
    for n, failure in enumerate(FAILURES):
        bare = Checkin(person_id=person.id, office_id=person.office_id, kind="scheduled", device_id="phone-1",
                       received_at=now - timedelta(days=1, minutes=n), captured_at=now - timedelta(days=1),
                       latitude=31.2, longitude=121.4, accuracy_m=30.0, photo_sha256="0" * 64,
                       status=CheckinStatus.FAILED, reasons=[], flags=[], failure_code=failure, match=None,
                       quality=None, location=None, liveness=None)
        session.add(bare)
        session.flush()
        ids["checkins"].append(bare.id)
    for kind in TaskKind:
        for status in TaskStatus:
            result = None
            if kind == TaskKind.VIDEO_INSPECTION and status == TaskStatus.COMPLETED:
                result = {"band": "needs_review", "reasons": ["face_inconclusive", "liveness_failed"],
                          "liveness": {"passed": False, "actions": ["blink"]}, "key_frames": []}
            task = Task(person_id=person.id, office_id=person.office_id, kind=kind, status=status,
                        created_by_id=officer.id, created_at=now - timedelta(hours=2), due_at=now + timedelta(hours=1),
                        completed_at=now if status == TaskStatus.COMPLETED else None, result=result)
            session.add(task)
            session.flush()
            ids["tasks"].append(task.id)
    for n, alert_type in enumerate(AlertType):
        for resolved in (False, True):
            session.add(Alert(person_id=person.id, office_id=person.office_id, type=alert_type,
                              status="resolved" if resolved else "open", dedupe_key=f"every:{alert_type}:{resolved}",
                              occurred_at=now - timedelta(hours=n), evidence={"count": 2, "blob_key": "x" * 10},
                              resolved_at=now if resolved else None, resolved_by_id=officer.id if resolved else None,
                              resolution="handled" if resolved else None, resolution_note="ok" if resolved else None))
    for kind in SanctionKind:
        session.add(Sanction(person_id=person.id, office_id=person.office_id, kind=kind, decided_by_id=officer.id,
                             decided_at=now - timedelta(days=3), note="记录在案", evidence={"alert_ids": []}))
    for n, status in enumerate(LeaveStatus):
        session.add(LeaveRequest(person_id=person.id, office_id=person.office_id,
                                 start_at=now + timedelta(days=n - 3), end_at=now + timedelta(days=n),
                                 destination="杭州市西湖区", dest_lat=30.25, dest_lon=120.15, dest_radius_m=5000.0,
                                 reason="就医", status=status, approval_level=("office", "county")[n % 2],
                                 created_at=now - timedelta(days=5)))
    ids.update(one_of_every_session(session, world, now))
    session.commit()
    return ids


def one_of_every_session(session: Any, world: Any, now: Any) -> dict[str, list[int]]:
    """Every zone kind and scope, every session kind and status, every attendance state and source, every talk."""
    person, officer = world.person, world.officer
    ids: dict[str, list[int]] = {"activities": [], "talks": []}
    shapes = [{"center_lat": 31.23, "center_lon": 121.47, "radius_m": 800.0},
              {"polygon": [[31.2, 121.4], [31.21, 121.41], [31.2, 121.42]]}, {}]
    for n, kind in enumerate(ZoneKind):
        for scope in ZoneScope:
            session.add(LocationZone(person_id=person.id, office_id=person.office_id, kind=kind, scope=scope,
                                     hours_start="22:00" if kind != ZoneKind.INCLUSION else None,
                                     hours_end="06:00" if kind != ZoneKind.INCLUSION else None,
                                     note="禁止令", created_at=now - timedelta(days=1), created_by_id=officer.id,
                                     **shapes[n]))
    for n, status in enumerate(AttendanceStatus):
        activity = Activity(office_id=person.office_id, kind=list(ActivityKind)[n % len(ActivityKind)],
                            title=f"法治教育第{n + 1}讲", venue_name="司法所会议室", venue_lat=31.23, venue_lon=121.47,
                            venue_radius_m=150.0, start_at=now - timedelta(days=n, hours=3),
                            end_at=now - timedelta(days=n, hours=1), capacity=20 if n % 2 else None,
                            levels=["strict"] if n % 2 else [], status=list(ActivityStatus)[n % len(ActivityStatus)],
                            created_by_id=officer.id, created_at=now - timedelta(days=7))
        session.add(activity)
        session.flush()
        session.add(ActivityInvitation(activity_id=activity.id, person_id=person.id, created_at=now))
        source = list(AttendanceSource)[n % len(AttendanceSource)]
        session.add(Attendance(activity_id=activity.id, person_id=person.id, office_id=person.office_id,
                               status=status, source=source, checked_in_at=activity.start_at,
                               checked_out_at=activity.end_at if n % 2 == 0 else None,
                               hours=1.5 if n % 2 == 0 else None, reasons=list(ACTIVITY_REASONS), note="现场核实",
                               recorded_by_id=officer.id if source == AttendanceSource.OFFICER else None,
                               details={}, created_at=now - timedelta(days=n)))
        ids["activities"].append(activity.id)
    for kind in TalkKind:
        talk = Talk(person_id=person.id, office_id=person.office_id, kind=kind, at=now - timedelta(days=2),
                    minutes=45, note="谈话内容：近期工作与家庭情况", recorded_by_id=officer.id, created_at=now)
        session.add(talk)
        session.flush()
        ids["talks"].append(talk.id)
    return ids


def visible_text(page: str) -> str:
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    return html.unescape(re.sub(r"(?s)<[^>]+>", " ", page))


def pages(world: Any, ids: dict[str, list[int]]) -> list[str]:
    person = world.person.id
    inspections = [f"/console/video-inspections/{task}" for task in ids["tasks"]]
    return ["/console/", "/console/review", "/console/persons", f"/console/persons/{person}", "/console/audit",
            f"/console/audit?person_id={person}", "/console/report", "/console/leave", "/console/alerts",
            "/console/alerts?status=resolved", *[f"/console/checkins/{c}" for c in ids["checkins"]], *inspections,
            "/console/persons/new", f"/console/persons/{person}/edit", f"/console/persons/{person}/zones",
            "/console/video-inspections", *[f"/console/video-inspections?status={s}" for s in TaskStatus],
            "/console/activities", *[f"/console/activities?kind={k}" for k in ActivityKind],
            *[f"/console/activities/{a}" for a in ids["activities"]], f"/console/persons/{person}/talks/new",
            *[f"/console/talks/{talk}" for talk in ids["talks"]]]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_page_renders_every_kind_of_record(officer_console, world, db_session, blobs, clock, language):
    ids = one_of_everything(db_session, blobs, world, clock.now())
    officer_console.get(f"/console/lang/{language}")
    failures = []
    leftovers: dict[str, list[str]] = {}
    for path in pages(world, ids):
        response = officer_console.get(path)
        if response.status_code != 200 and not (path.startswith("/console/video-inspections/")
                                                and response.status_code == 404):
            failures.append((path, response.status_code))
            continue
        if language == "zh" and response.status_code == 200:
            text = visible_text(response.get_data(as_text=True))
            found = [code for code in CODES if re.search(rf"(?<![\w/.-]){re.escape(code)}(?![\w/.-])", text)]
            if found:
                leftovers[path] = found
    assert not failures, failures
    assert not leftovers, leftovers
    for export in ("/console/report.csv", "/console/report.xlsx"):
        assert officer_console.get(export).status_code == 200
