"""Console pages of the officer's day: the video inspection list, a person's zones, sessions with their attendance,
and talks recorded from the person page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from storage.models import Activity, ActivityInvitation, Attendance, LocationZone, Talk, Task
from tests.console.helpers import audit_actions, count
from tests.factories import make_person


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def _field_error(page: str, name: str) -> str | None:
    found = re.search(rf'<span class="field-error" id="err-{name}">([^<]*)</span>', page)
    return found.group(1) if found else None


def _inspection(session: Any, person: Any, officer: Any, at: Any, status: str) -> Task:
    task = Task(person_id=person.id, office_id=person.office_id, kind="video_inspection", status=status,
                created_by_id=officer.id, created_at=at, due_at=at + timedelta(minutes=30),
                result={"band": "verified", "key_frames": []} if status == "completed" else None)
    session.add(task)
    session.commit()
    return task


def _links(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/console/video-inspections/(\d+)"', page)]


def test_video_inspection_list_newest_first_filtered_by_state_and_scoped(officer_console, world, db_session, clock):
    at = clock.now()
    first = _inspection(db_session, world.person, world.officer, at - timedelta(hours=3), "missed")
    second = _inspection(db_session, world.person, world.officer, at - timedelta(hours=2), "completed")
    third = _inspection(db_session, world.person, world.officer, at - timedelta(hours=1), "open")
    elsewhere = make_person(db_session, world.other_office, "P002", name="李四")
    foreign = _inspection(db_session, elsewhere, world.other_officer, at, "open")
    db_session.add(Task(person_id=world.person.id, office_id=world.person.office_id, kind="spot_check",
                        status="open", created_by_id=world.officer.id, created_at=at, due_at=at))
    db_session.commit()

    everything = _text(officer_console.get("/console/video-inspections"))
    assert sorted(set(_links(everything)), reverse=True) == [third.id, second.id, first.id]
    assert list(dict.fromkeys(_links(everything))) == [third.id, second.id, first.id]
    assert foreign.id not in _links(everything)
    assert "匹配" in everything and "待审核" in everything
    assert set(_links(_text(officer_console.get("/console/video-inspections?status=completed")))) == {second.id}
    assert set(_links(_text(officer_console.get("/console/video-inspections?status=missed")))) == {first.id}
    assert _links(_text(officer_console.get("/console/video-inspections?status=cancelled"))) == []
    # An unknown state shows them all rather than an error.
    assert set(_links(_text(officer_console.get("/console/video-inspections?status=bogus")))) == {
        first.id, second.id, third.id}
    paged = _text(officer_console.get(f"/console/video-inspections?after={second.id}"))
    assert set(_links(paged)) == {first.id}
    assert 'href="/console/video-inspections"' in _text(officer_console.get("/console/persons"))
    officer_console.login("admin1")  # the county admin sees every office of the county
    assert set(_links(_text(officer_console.get("/console/video-inspections?status=open")))) == {
        third.id, foreign.id}


def test_video_inspection_list_pages_by_fifty(officer_console, world, db_session, clock):
    tasks = [_inspection(db_session, world.person, world.officer, clock.now() - timedelta(minutes=n), "open")
             for n in range(52)]
    page = _text(officer_console.get("/console/video-inspections"))
    shown = set(_links(page))
    assert len(shown) == 50 and tasks[0].id not in shown
    following = re.search(r'href="/console/video-inspections\?after=(\d+)"', page)
    assert following
    assert set(_links(_text(officer_console.get(f"/console/video-inspections?after={following.group(1)}")))) == {
        tasks[0].id, tasks[1].id}


def test_zone_create_and_delete_from_the_zones_page(officer_console, world, db_session):
    path = f"/console/persons/{world.person.id}/zones"
    assert f'href="{path}"' in _text(officer_console.get(f"/console/persons/{world.person.id}"))

    both = officer_console.post(path, {"kind": "exclusion", "circle_lat": "31.25", "circle_lon": "121.49",
                                       "circle_radius_m": "300", "polygon": "31.2,121.4\n31.21,121.41\n31.2,121.42"})
    assert both.status_code == 422
    assert _field_error(_text(both), "circle") == "请填写圆形（纬度、经度、半径）或多边形，二者选一（宵禁可都不填）。"
    no_hours = officer_console.post(path, {"kind": "curfew"})
    assert no_hours.status_code == 422 and _field_error(_text(no_hours), "hours")
    bad_radius = officer_console.post(path, {"kind": "exclusion", "circle_lat": "31.25", "circle_lon": "121.49",
                                             "circle_radius_m": "1"})
    assert bad_radius.status_code == 422 and _field_error(_text(bad_radius), "circle_radius_m")
    assert 'value="121.49"' in _text(bad_radius)
    assert count(db_session, LocationZone) == 0

    banned = officer_console.post(path, {"kind": "exclusion", "circle_lat": "31.25", "circle_lon": "121.49",
                                         "circle_radius_m": "300", "hours_start": "20:00", "hours_end": "23:00",
                                         "note": "禁止进入娱乐场所"})
    curfew = officer_console.post(path, {"kind": "curfew", "hours_start": "22:00", "hours_end": "06:00"})
    polygon = officer_console.post(path, {"kind": "inclusion", "scope": "county",
                                          "polygon": "31.0, 121.0\n31.5，121.0\n31.5, 121.8\n31.0, 121.8"})

    assert (banned.status_code, curfew.status_code, polygon.status_code) == (303, 303, 303)
    zones = list(db_session.scalars(select(LocationZone).order_by(LocationZone.id)))
    assert [(z.kind, z.scope) for z in zones] == [("exclusion", "home"), ("curfew", "home"), ("inclusion", "county")]
    assert (zones[0].radius_m, zones[0].hours_start, zones[0].note) == (300.0, "20:00", "禁止进入娱乐场所")
    assert zones[2].polygon == [[31.0, 121.0], [31.5, 121.0], [31.5, 121.8], [31.0, 121.8]]
    page = _text(officer_console.get(banned.headers["Location"]))
    assert f"已添加区域 #{zones[0].id}。" in page and "禁止区域" in page and "多边形（4 个顶点）" in page

    removed = officer_console.post(f"{path}/{zones[0].id}/delete")

    assert removed.status_code == 303
    db_session.expire_all()
    assert db_session.get(LocationZone, zones[0].id).deleted_at is not None
    page = _text(officer_console.get(path))
    assert f"已删除区域 #{zones[0].id}。" in page and f"{path}/{zones[0].id}/delete" not in page
    assert officer_console.post(f"{path}/{zones[0].id}/delete").status_code == 404  # retired already
    actions = [a for a, _t, _i in audit_actions(db_session) if a.startswith("zone.")]
    assert actions == ["zone.created"] * 3 + ["zone.deleted"]


def test_another_persons_zone_cannot_be_deleted_through_this_person(officer_console, world, db_session, clock):
    other = make_person(db_session, world.office, "P002")
    zone = LocationZone(person_id=other.id, office_id=other.office_id, kind="curfew", scope="home",
                        hours_start="22:00", hours_end="06:00", created_at=clock.now())
    db_session.add(zone)
    db_session.commit()
    response = officer_console.post(f"/console/persons/{world.person.id}/zones/{zone.id}/delete")
    assert response.status_code == 404
    db_session.expire_all()
    assert db_session.get(LocationZone, zone.id).deleted_at is None


SESSION = {"kind": "legal_education", "title": "宪法学习", "venue_name": "城关司法所二楼", "venue_lat": "31.2304",
           "venue_lon": "121.4737", "venue_radius_m": "150", "start_at": "2026-03-10T09:00",
           "end_at": "2026-03-10T11:00", "capacity": ""}


def test_session_create_with_errors_beside_fields_then_attendance(officer_console, world, db_session, clock):
    second = make_person(db_session, world.office, "P002", name="李四", supervision_level="strict")
    refused = officer_console.post("/console/activities", {**SESSION, "end_at": "2026-03-10T08:00", "title": ""})
    page = _text(refused)
    assert refused.status_code == 422
    assert _field_error(page, "title") and _field_error(page, "person_ids") is None
    nobody = officer_console.post("/console/activities", SESSION)
    assert nobody.status_code == 422
    assert _field_error(_text(nobody), "person_ids") == "请指定参加人员或选择管理等级。"
    backwards = officer_console.post("/console/activities", {**SESSION, "end_at": "2026-03-10T08:00",
                                                             "person_ids": str(world.person.id)})
    assert backwards.status_code == 422 and _field_error(_text(backwards), "end_at")
    assert count(db_session, Activity) == 0

    created = officer_console.post("/console/activities",
                                   {**SESSION, "person_ids": [str(world.person.id)], "levels": ["strict"]})

    assert created.status_code == 303
    activity = db_session.scalars(select(Activity)).one()
    assert created.headers["Location"].endswith(f"/console/activities/{activity.id}")
    # The form's times are the office's local time (China Standard Time, UTC+8).
    assert activity.start_at.hour == 1 and (activity.end_at - activity.start_at) == timedelta(hours=2)
    invited = set(db_session.scalars(select(ActivityInvitation.person_id)))
    assert invited == {world.person.id, second.id}
    detail = _text(officer_console.get(created.headers["Location"]))
    assert f"已安排活动 #{activity.id}：宪法学习。" in detail and "法治教育" in detail
    assert "尚无出勤记录" in detail and "李四" in detail
    listing = _text(officer_console.get("/console/activities"))
    assert f'href="/console/activities/{activity.id}"' in listing and "宪法学习" in listing
    assert "宪法学习" not in _text(officer_console.get("/console/activities?kind=community_service"))

    no_note = officer_console.post(f"/console/activities/{activity.id}/attendance",
                                   {"person_id": str(second.id), "hours": "", "note": ""})
    assert no_note.status_code == 422 and _field_error(_text(no_note), "note")
    too_long = officer_console.post(f"/console/activities/{activity.id}/attendance",
                                    {"person_id": str(second.id), "hours": "3", "note": "签到表"})
    assert too_long.status_code == 422 and _field_error(_text(too_long), "hours")
    recorded = officer_console.post(f"/console/activities/{activity.id}/attendance",
                                    {"person_id": str(second.id), "hours": "", "note": "纸质签到表，本人签名"})

    assert recorded.status_code == 303
    attendance = db_session.scalars(select(Attendance)).one()
    assert (attendance.person_id, attendance.hours, attendance.source) == (second.id, 2.0, "officer")
    detail = _text(officer_console.get(recorded.headers["Location"]))
    assert "出勤已记录。" in detail and "工作人员代录" in detail and "纸质签到表，本人签名" in detail
    assert "已确认" in detail and "1 / 2" in detail


def test_a_phone_attendance_is_reviewed_on_the_session_page(officer_console, world, db_session, clock):
    at = clock.now()
    activity = Activity(office_id=world.office.id, kind="community_service", title="社区清扫", venue_name="公园",
                        venue_lat=31.23, venue_lon=121.47, venue_radius_m=200.0, start_at=at - timedelta(hours=3),
                        end_at=at - timedelta(hours=1), levels=[], status="scheduled", created_by_id=world.officer.id,
                        created_at=at - timedelta(days=1))
    db_session.add(activity)
    db_session.flush()
    db_session.add(ActivityInvitation(activity_id=activity.id, person_id=world.person.id, created_at=at))
    attendance = Attendance(activity_id=activity.id, person_id=world.person.id, office_id=world.office.id,
                            status="needs_review", source="phone", checked_in_at=at - timedelta(hours=3),
                            reasons=["missing_check_out"], details={}, created_at=at)
    db_session.add(attendance)
    db_session.commit()
    review = f"/console/activities/{activity.id}/attendance/{attendance.id}/review"
    page = _text(officer_console.get(f"/console/activities/{activity.id}"))
    assert review in page and "未签退" in page

    refused = officer_console.post(review, {"decision": "confirm", "hours": "", "note": ""})
    assert refused.status_code == 422
    assert "未签退时须填写" in _text(refused)
    accepted = officer_console.post(review, {"decision": "confirm", "hours": "1.5", "note": "现场确认，提前离开"})

    assert accepted.status_code == 303
    db_session.expire_all()
    saved = db_session.get(Attendance, attendance.id)
    assert (saved.status, saved.hours) == ("confirmed", 1.5)
    page = _text(officer_console.get(f"/console/activities/{activity.id}"))
    assert "出勤已审核：确认。" in page and review not in page


def test_sessions_of_another_office_are_not_found(console, world, db_session, clock):
    at = clock.now()
    activity = Activity(office_id=world.office.id, kind="group_education", title="城关所月度教育", venue_name="所里",
                        venue_lat=31.23, venue_lon=121.47, venue_radius_m=200.0, start_at=at, end_at=at + timedelta(
                            hours=1), levels=[], status="scheduled", created_at=at)
    db_session.add(activity)
    db_session.commit()
    console.login("officer2")
    assert console.get(f"/console/activities/{activity.id}").status_code == 404
    assert "城关所月度教育" not in _text(console.get("/console/activities"))
    refused = console.post(f"/console/activities/{activity.id}/attendance",
                           {"person_id": str(world.person.id), "note": "x"})
    assert refused.status_code == 404
    assert count(db_session, Attendance) == 0


def test_talk_recorded_from_the_person_page_listed_without_its_note(officer_console, world, db_session, clock):
    person_page = _text(officer_console.get(f"/console/persons/{world.person.id}"))
    assert f'action="/console/persons/{world.person.id}/talks"' in person_page
    path = f"/console/persons/{world.person.id}/talks"

    future = officer_console.post(path, {"kind": "individual_talk", "at": "2030-01-01T10:00", "minutes": "30",
                                         "note": "谈心"})
    assert future.status_code == 422 and _field_error(_text(future), "at") == "请填写谈话时间（不能晚于现在）。"
    empty = officer_console.post(path, {"kind": "counselling", "at": "2026-02-01T10:00", "minutes": "0",
                                        "note": "  "})
    page = _text(empty)
    assert empty.status_code == 422 and _field_error(page, "minutes") and 'value="2026-02-01T10:00"' in page
    assert count(db_session, Talk) == 0

    yesterday = (clock.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    recorded = officer_console.post(path, {"kind": "counselling", "at": yesterday, "minutes": "45",
                                           "note": "情绪低落，建议每周复谈"})

    assert recorded.status_code == 303
    assert recorded.headers["Location"].endswith(f"/console/persons/{world.person.id}")
    talk = db_session.scalars(select(Talk)).one()
    assert (talk.kind, talk.minutes, talk.recorded_by_id) == ("counselling", 45, world.officer.id)
    page = _text(officer_console.get(recorded.headers["Location"]))
    assert f"已记录心理辅导 #{talk.id}。" in page and f'href="/console/talks/{talk.id}"' in page
    assert "情绪低落" not in page  # the note is confidential: listed without it
    note_page = _text(officer_console.get(f"/console/talks/{talk.id}"))
    assert "情绪低落，建议每周复谈" in note_page
    assert [a for a, _t, _i in audit_actions(db_session) if a.startswith("talk.")] == ["talk.recorded",
                                                                                        "talk.note_viewed"]


def test_a_county_admin_schedules_a_session_for_another_office(console, world, db_session):
    there = make_person(db_session, world.other_office, "P002", supervision_level="strict")
    make_person(db_session, world.office, "P003", supervision_level="strict")
    console.login("admin1")
    form = _text(console.get("/console/activities"))
    assert '<option value="O2">' in form

    created = console.post("/console/activities", {**SESSION, "office": "O2", "levels": "strict"})
    unknown = console.post("/console/activities", {**SESSION, "office": "X1", "levels": "strict"})

    assert created.status_code == 303 and unknown.status_code == 404
    activity = db_session.scalars(select(Activity)).one()
    assert activity.office_id == world.other_office.id
    assert set(db_session.scalars(select(ActivityInvitation.person_id))) == {there.id}
