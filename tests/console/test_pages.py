"""Console pages on the domain functions: scope, the review queue, audited photo views, leave, alerts, tasks."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from storage.models import Checkin, LeaveRequest, ReferenceFace, Sanction, Task
from tests.console.helpers import (
    FAKE_JPEG,
    audit_actions,
    count,
    make_alert,
    make_checkin,
    make_leave,
    make_processed_inspection,
    make_reference,
)
from tests.factories import make_person


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def test_officer_of_another_office_gets_404_for_a_person(console, world, db_session, blobs, clock):
    reference = make_reference(db_session, blobs, world.person, world.officer, clock.now())
    checkin = make_checkin(db_session, blobs, world.person, clock.now(), reference=reference)
    console.login("officer2")

    for path in (f"/console/persons/{world.person.id}",
                 f"/console/persons/{world.person.id}/faces/{reference.id}/photo",
                 f"/console/checkins/{checkin.id}", f"/console/checkins/{checkin.id}/photo",
                 f"/console/audit?person_id={world.person.id}"):
        response = console.get(path)
        assert response.status_code == 404, path
        assert "不在您的管辖范围内" in _text(response)
    assert audit_actions(db_session, actor_id=world.other_officer.id) == []
    refused = console.post(f"/console/checkins/{checkin.id}/review", {"decision": "accept"})
    assert refused.status_code == 404
    db_session.refresh(checkin)
    assert checkin.status == "needs_review"


def test_county_admin_sees_every_office_of_the_county(console, world, db_session):
    make_person(db_session, world.other_office, "P002", name="李四")
    console.login("admin1")

    listing = _text(console.get("/console/persons"))

    assert "P001" in listing and "P002" in listing
    assert console.get(f"/console/persons/{world.person.id}").status_code == 200
    only_o2 = _text(console.get("/console/persons?office=O2"))
    assert "P002" in only_o2 and "P001" not in only_o2


def test_person_list_search_and_open_alert_filter(officer_console, world, db_session, clock):
    other = make_person(db_session, world.office, "P010", name="王五")
    make_alert(db_session, other, clock.now())

    assert "P001" not in _text(officer_console.get("/console/persons?q=王"))
    flagged = _text(officer_console.get("/console/persons?alerts=1"))
    assert "P010" in flagged and "P001" not in flagged


def test_queue_shows_selfie_and_reference_and_accept_removes_the_item(officer_console, world, db_session, blobs,
                                                                      clock):
    reference = make_reference(db_session, blobs, world.person, world.officer, clock.now())
    checkin = make_checkin(db_session, blobs, world.person, clock.now(), reference=reference)

    page = _text(officer_console.get("/console/"))

    assert f"/console/checkins/{checkin.id}/photo" in page
    assert f"/console/persons/{world.person.id}/faces/{reference.id}/photo" in page
    assert "0.360" in page and "不在住所或准假范围内" in page and "<svg" in page
    response = officer_console.post(f"/console/checkins/{checkin.id}/review",
                                    {"decision": "accept", "next": "/console/"})
    assert response.status_code == 303
    after = _text(officer_console.get("/console/"))
    assert f"checkin-{checkin.id}" not in after
    assert f"签到 #{checkin.id} 已确认通过" in after
    db_session.refresh(checkin)
    assert (checkin.status, checkin.reviewed_by_id) == ("accepted", world.officer.id)
    assert ("checkin.reviewed", str(checkin.id), world.officer.id) in audit_actions(db_session)


def test_reject_without_note_is_refused_with_a_message(officer_console, world, db_session, blobs, clock):
    checkin = make_checkin(db_session, blobs, world.person, clock.now())

    response = officer_console.post(f"/console/checkins/{checkin.id}/review",
                                    {"decision": "reject", "note": "  ", "next": "/console/"},
                                    follow_redirects=True)

    assert "拒绝签到必须填写理由" in _text(response)
    assert f"checkin-{checkin.id}" in _text(response)
    db_session.refresh(checkin)
    assert checkin.status == "needs_review"

    officer_console.post(f"/console/checkins/{checkin.id}/review",
                         {"decision": "reject", "note": "照片中不是本人", "next": "/console/"})
    db_session.refresh(checkin)
    assert (checkin.status, checkin.review_note) == ("confirmed_violation", "照片中不是本人")


def test_second_review_is_refused_with_a_message(officer_console, world, db_session, blobs, clock):
    checkin = make_checkin(db_session, blobs, world.person, clock.now())
    officer_console.post(f"/console/checkins/{checkin.id}/review", {"decision": "accept"})

    again = officer_console.post(f"/console/checkins/{checkin.id}/review", {"decision": "reject", "note": "x"},
                                 follow_redirects=True)

    assert "已被审核" in _text(again)


def test_every_photo_view_is_audit_logged(officer_console, world, db_session, blobs, clock):
    reference = make_reference(db_session, blobs, world.person, world.officer, clock.now())
    checkin = make_checkin(db_session, blobs, world.person, clock.now(), reference=reference)

    selfie = officer_console.get(f"/console/checkins/{checkin.id}/photo")
    ref = officer_console.get(f"/console/persons/{world.person.id}/faces/{reference.id}/photo")
    officer_console.get(f"/console/persons/{world.person.id}/faces/{reference.id}/photo")
    detail = officer_console.get(f"/console/checkins/{checkin.id}")

    assert selfie.status_code == ref.status_code == detail.status_code == 200
    assert selfie.data == blobs.get(checkin.photo_blob_key)
    assert "no-store" in selfie.headers["Cache-Control"] and selfie.headers["X-Content-Type-Options"] == "nosniff"
    events = audit_actions(db_session, person_id=world.person.id)
    officer = world.officer.id
    assert events == [("checkin.photo_viewed", str(checkin.id), officer),
                      ("face.photo_viewed", str(reference.id), officer),
                      ("face.photo_viewed", str(reference.id), officer),
                      ("checkin.viewed", str(checkin.id), officer)]


def test_person_page_shows_the_file(officer_console, world, db_session, blobs, clock):
    make_reference(db_session, blobs, world.person, world.officer, clock.now())
    make_checkin(db_session, blobs, world.person, clock.now(), status="verified", reasons=())
    make_leave(db_session, world.person, clock.now())
    make_alert(db_session, world.person, clock.now())

    page = _text(officer_console.get(f"/console/persons/{world.person.id}"))

    for text in ("张三", "缓刑", "登记照片", "至少需要 3 张", "自动通过", "北京市海淀区", "未按时签到", "审计记录"):
        assert text in page, text


def test_spot_check_button_creates_a_task(officer_console, world, db_session):
    response = officer_console.post(f"/console/persons/{world.person.id}/spot-checks", {"minutes": "30"},
                                    follow_redirects=True)

    assert "已发起任务" in _text(response)
    task = db_session.scalar(select(Task).where(Task.person_id == world.person.id))
    assert task.kind == "spot_check" and task.created_by_id == world.officer.id
    again = officer_console.post(f"/console/persons/{world.person.id}/spot-checks", {"minutes": "30"},
                                 follow_redirects=True)
    assert "操作失败" in _text(again)
    assert count(db_session, Task) == 1


def test_leave_request_is_approved_from_the_list(officer_console, world, db_session, clock):
    leave = make_leave(db_session, world.person, clock.now())

    page = _text(officer_console.get("/console/leave"))
    assert "探望住院的母亲" in page
    officer_console.post(f"/console/leave/{leave.id}/decision", {"decision": "approve", "next": "/console/leave"})

    db_session.refresh(leave)
    assert (leave.status, leave.decided_by_id) == ("approved", world.officer.id)


def test_county_level_leave_is_not_decided_by_an_officer(officer_console, world, db_session, clock):
    leave = make_leave(db_session, world.person, clock.now(), days=12, level="county")

    assert f'/console/leave/{leave.id}/decision' not in _text(officer_console.get("/console/leave"))
    refused = officer_console.post(f"/console/leave/{leave.id}/decision", {"decision": "approve"},
                                   follow_redirects=True)
    assert "操作失败" in _text(refused)
    db_session.refresh(leave)
    assert leave.status == "pending"


def test_alert_resolved_with_an_admonition_records_the_sanction(officer_console, world, db_session, clock):
    alert = make_alert(db_session, world.person, clock.now())

    page = _text(officer_console.get("/console/alerts"))
    assert "未按时签到" in page and f"alert-{alert.id}" in page
    missing_note = officer_console.post(f"/console/alerts/{alert.id}/resolve", {"action": "admonition"},
                                        follow_redirects=True)
    assert "操作失败" in _text(missing_note)
    officer_console.post(f"/console/alerts/{alert.id}/resolve", {"action": "admonition", "note": "当面训诫"})

    db_session.refresh(alert)
    assert alert.status == "resolved"
    sanction = db_session.scalar(select(Sanction).where(Sanction.alert_id == alert.id))
    assert (sanction.kind, sanction.note, sanction.decided_by_id) == ("admonition", "当面训诫", world.officer.id)


def test_alert_inbox_shows_and_preselects_the_suggested_next_step(officer_console, world, db_session, clock):
    for days in (20, 10):
        db_session.add(Sanction(person_id=world.person.id, office_id=world.office.id, kind="admonition",
                                decided_by_id=world.officer.id, decided_at=clock.now() - timedelta(days=days),
                                note="earlier"))
    db_session.commit()
    alert = make_alert(db_session, world.person, clock.now())

    page = _text(officer_console.get("/console/alerts"))

    assert "建议处理：警告" in page and "两次训诫仍未改正" in page
    assert '<option value="warning" selected>' in page
    person_page = _text(officer_console.get(f"/console/persons/{world.person.id}"))
    assert "建议处理：警告" in person_page
    officer_console.post(f"/console/alerts/{alert.id}/resolve", {"action": "warning", "note": "两次训诫未改正"})
    sanction = db_session.scalar(select(Sanction).where(Sanction.alert_id == alert.id))
    assert sanction.kind == "warning"


def test_sanction_recorded_from_the_person_page(officer_console, world, db_session):
    officer_console.post(f"/console/persons/{world.person.id}/sanctions", {"kind": "warning", "note": "多次越界"})

    sanction = db_session.scalar(select(Sanction).where(Sanction.person_id == world.person.id))
    assert sanction.kind == "warning"


def test_audit_page_lists_events_of_the_scope(officer_console, world, db_session, blobs, clock):
    checkin = make_checkin(db_session, blobs, world.person, clock.now())
    officer_console.get(f"/console/checkins/{checkin.id}")

    page = _text(officer_console.get(f"/console/audit?person_id={world.person.id}"))

    assert "查看签到证据" in page and f"签到记录 #{checkin.id}" in page  # the target in words, not its code


def test_rejected_checkins_tab(officer_console, world, db_session, blobs, clock):
    checkin = make_checkin(db_session, blobs, world.person, clock.now(), status="rejected",
                           reasons=("face_mismatch",))

    assert f"checkin-{checkin.id}" not in _text(officer_console.get("/console/"))
    assert f"checkin-{checkin.id}" in _text(officer_console.get("/console/?status=rejected"))


def test_unknown_checkin_is_404(officer_console):
    assert officer_console.get("/console/checkins/999999").status_code == 404


def test_queue_counts_only_the_scope(console, world, db_session, blobs, clock):
    make_checkin(db_session, blobs, world.person, clock.now())
    console.login("officer2")

    page = _text(console.get("/console/"))

    assert "队列已清空" in page
    assert count(db_session, Checkin) == 1
    assert count(db_session, LeaveRequest) == 0


def test_video_inspection_button_creates_the_task(officer_console, world, db_session):
    response = officer_console.post(f"/console/persons/{world.person.id}/video-inspections", {"minutes": "20"},
                                    follow_redirects=True)

    assert "已发起任务" in _text(response)
    task = db_session.scalar(select(Task).where(Task.person_id == world.person.id))
    assert task.kind == "video_inspection" and task.due_at - task.created_at == timedelta(minutes=20)
    assert f"/console/video-inspections/{task.id}" in _text(officer_console.get(f"/console/persons/{world.person.id}"))


def test_video_inspection_summary_key_frames_and_judgement(officer_console, world, db_session, blobs, clock):
    task = make_processed_inspection(db_session, blobs, world, clock.now())

    page = _text(officer_console.get(f"/console/video-inspections/{task.id}"))
    frame = officer_console.get(f"/console/video-inspections/{task.id}/key-frames/0")

    assert "出现他人的帧" in page and "12" in page and "视频中出现他人" in page
    assert frame.status_code == 200 and frame.data == FAKE_JPEG
    assert [a for a, _t, _u in audit_actions(db_session, target_type="task")] == ["video.viewed", "video.viewed"]
    refused = officer_console.post(f"/console/video-inspections/{task.id}/review", {"decision": "reject"},
                                   follow_redirects=True)
    assert "操作失败" in _text(refused)
    officer_console.post(f"/console/video-inspections/{task.id}/review",
                         {"decision": "reject", "note": "视频中是另一名男子"})
    db_session.refresh(task)
    assert task.reviewed_by_id == world.officer.id and task.result["review_decision"] == "reject"


def test_video_inspection_of_another_office_is_404(console, world, db_session, blobs, clock):
    task = make_processed_inspection(db_session, blobs, world, clock.now())
    console.login("officer2")

    assert console.get(f"/console/video-inspections/{task.id}").status_code == 404
    assert console.get(f"/console/video-inspections/{task.id}/key-frames/0").status_code == 404


def test_location_sketch_shows_home_and_leave_destination(officer_console, world, db_session, blobs, clock):
    leave = make_leave(db_session, world.person, clock.now(), status="approved")
    checkin = make_checkin(db_session, blobs, world.person, clock.now())
    checkin.leave_request_id = leave.id
    db_session.commit()

    page = _text(officer_console.get(f"/console/checkins/{checkin.id}"))

    assert 'class="area-home"' in page and 'class="area-leave"' in page and 'class="checkin-point"' in page


@pytest.mark.faces
def test_enrolment_upload_refuses_a_photo_without_a_face(officer_console, world, db_session, faces_dir):
    photo = (faces_dir / "edge" / "no_face_cat.png").read_bytes()

    response = officer_console.post(f"/console/persons/{world.person.id}/faces",
                                    {"photo": (io.BytesIO(photo), "cat.png")}, follow_redirects=True)
    empty = officer_console.post(f"/console/persons/{world.person.id}/faces", {}, follow_redirects=True)

    assert "照片未通过检查" in _text(response) and "未检测到人脸" in _text(response)
    assert "请选择一张照片" in _text(empty)
    assert count(db_session, ReferenceFace) == 0


def test_leave_attachment_view_is_audit_logged(officer_console, world, db_session, blobs, clock):
    leave = make_leave(db_session, world.person, clock.now())
    stored = blobs.put(FAKE_JPEG, content_type="image/jpeg")
    leave.attachment_blob_key, leave.attachment_content_type = stored.key, "image/jpeg"
    db_session.commit()

    assert f"/console/leave/{leave.id}/attachment" in _text(officer_console.get("/console/leave"))
    response = officer_console.get(f"/console/leave/{leave.id}/attachment")

    assert response.data == FAKE_JPEG and "no-store" in response.headers["Cache-Control"]
    assert ("leave.attachment_viewed", str(leave.id), world.officer.id) in audit_actions(db_session)


def test_pending_leave_is_sorted_by_urgency_and_shows_when_asked_and_the_days_used(officer_console, world,
                                                                                   db_session, clock):
    at = clock.now()
    later = make_leave(db_session, world.person, at)  # starts in 4 days
    sooner = make_leave(db_session, world.person, at - timedelta(days=2))  # asked earlier... starts in 2 days
    urgent = make_leave(db_session, world.person, at + timedelta(days=3))  # starts last, but an emergency
    urgent.emergency = True
    taken = make_leave(db_session, world.person, at - timedelta(days=60), days=3, status="returned")
    taken.start_at, taken.end_at = at.replace(month=1, day=10), at.replace(month=1, day=13)
    db_session.commit()

    page = _text(officer_console.get("/console/leave"))
    order = [page.index(f'id="leave-{row.id}"') for row in (urgent, sooner, later)]
    assert order == sorted(order), "emergencies first, then the earliest start"
    assert f'id="leave-{taken.id}"' not in page  # not pending
    assert "申请时间" in page and "本年已用假期" in page
    assert "3.0 天（上限 60 天）" in page


def test_audit_log_has_a_person_column_filters_and_one_line_for_repeated_views(officer_console, world, db_session,
                                                                               blobs, clock):
    from storage.models import AuditEvent

    checkin = make_checkin(db_session, blobs, world.person, clock.now())
    for _ in range(3):  # three looks at one photo within seconds: one line "3 times"
        assert officer_console.get(f"/console/checkins/{checkin.id}/photo").status_code == 200
    db_session.rollback()
    assert len(db_session.scalars(select(AuditEvent).where(AuditEvent.action == "checkin.photo_viewed")).all()) == 3

    page = _text(officer_console.get("/console/audit"))
    assert page.count("<td>查看签到照片</td>") == 1
    assert "共 3 次" in page
    assert world.person.name in page  # the person column
    assert f"签到记录 #{checkin.id}" in page  # targets in words
    officer_id = world.officer.id
    assert "共 3 次" in _text(officer_console.get(f"/console/audit?actor_id={officer_id}"))
    day = clock.now().date()
    tomorrow = (day + timedelta(days=2)).isoformat()
    assert "共 3 次" not in _text(officer_console.get(f"/console/audit?from={tomorrow}"))
    assert "共 3 次" in _text(officer_console.get(f"/console/audit?from={(day - timedelta(days=1)).isoformat()}"
                                                  f"&to={(day + timedelta(days=1)).isoformat()}"))
    assert officer_console.get("/console/audit?from=2026-13-40&actor_id=99999999999").status_code == 200


def test_several_alerts_are_dismissed_with_one_note(officer_console, world, db_session, clock):
    from storage.models import Alert

    first, second, already = (make_alert(db_session, world.person, clock.now()) for _ in range(3))
    already.status = "resolved"
    db_session.commit()
    page = _text(officer_console.get("/console/alerts"))
    assert 'form="bulk-dismiss"' in page and f'value="{first.id}"' in page

    refused = officer_console.post("/console/alerts/dismiss", {"alert_id": [str(first.id), str(second.id)]},
                                   follow_redirects=True)
    assert refused.status_code == 200
    db_session.rollback()
    assert db_session.get(Alert, first.id).status == "open"  # no note: nothing changed

    done = officer_console.post("/console/alerts/dismiss",
                                {"alert_id": [str(first.id), str(second.id), str(already.id)],
                                 "note": "同一次缺勤，已电话核实：住院"}, follow_redirects=True)
    assert "已忽略 2 条预警（1 条已被他人处理）" in _text(done)
    db_session.rollback()
    for alert in (first, second):
        stored = db_session.get(Alert, alert.id, populate_existing=True)
        assert stored.status == "resolved" and stored.resolution == "dismiss"
        assert stored.resolution_note == "同一次缺勤，已电话核实：住院"
    assert [a for a, _, _ in audit_actions(db_session)].count("alert.resolved") == 2


def test_bulk_dismiss_outside_the_scope_changes_nothing(console, world, db_session, clock):
    from storage.models import Alert

    alert = make_alert(db_session, world.person, clock.now())
    console.login("officer2")
    response = console.post("/console/alerts/dismiss", {"alert_id": [str(alert.id)], "note": "x"})
    assert response.status_code in (303, 404)
    db_session.rollback()
    assert db_session.get(Alert, alert.id, populate_existing=True).status == "open"
