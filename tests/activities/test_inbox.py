"""The inbox gets one message for each event that concerns the person, also when the sweep runs twice; the person
lists them, counts the unread ones and marks them read; officers write within their scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from storage.models import AuditEvent, LeaveRequest, Message
from tests.activities.conftest import NOV_10_9AM, REGISTERED, add_person, inbox, kinds, schedule, sweep
from tests.factories import make_person

MESSAGES = "/api/v1/officer/messages"


def _count(db_session: Any, **where: Any) -> int:
    db_session.rollback()
    stmt = select(func.count(Message.id))
    for name, value in where.items():
        stmt = stmt.where(getattr(Message, name) == value)
    return db_session.scalar(stmt) or 0


def test_duty_window_open_reminds_once_and_not_after_the_check_in(app, client, db_session, auth, clock, world):
    strict = add_person(db_session, world, "P301")
    ordinary = add_person(db_session, world, "P302", level="ordinary")  # Tuesday: no duty for this level
    phone = auth.person("P301")
    before_window = NOV_10_9AM - timedelta(hours=2)  # 07:00 in Shanghai; the window opens at 08:00
    assert sweep(app, db_session, before_window)["messages_duty_window_open"] == 0

    counts = [sweep(app, db_session, NOV_10_9AM)["messages_duty_window_open"],
              sweep(app, db_session, NOV_10_9AM + timedelta(minutes=5))["messages_duty_window_open"]]

    assert counts == [1, 0]
    box = inbox(client, phone)
    assert kinds(box) == ["duty_window_open"]
    assert box["items"][0]["data"]["date"] == "2026-11-10"
    assert box["unread_count"] == 1
    assert _count(db_session, person_id=ordinary.id) == 0
    # The next day's window is another reminder.
    assert sweep(app, db_session, NOV_10_9AM + timedelta(days=1))["messages_duty_window_open"] == 1
    assert strict.id in {m.person_id for m in db_session.scalars(select(Message))}


def test_spot_check_and_video_inspection_are_announced(app, client, db_session, auth, clock, world):
    phone = auth.person("P001")
    officer = auth.headers("officer1")

    spot = client.post(f"/api/v1/officer/persons/{world.person.id}/spot-checks", headers=officer,
                       json={"respond_within_minutes": 30})
    video = client.post(f"/api/v1/officer/persons/{world.person.id}/video-inspections", headers=officer,
                        json={"respond_within_minutes": 60})

    assert spot.status_code == 201 and video.status_code == 201, (spot.get_json(), video.get_json())
    box = inbox(client, phone)
    assert kinds(box) == ["spot_check", "video_inspection"]
    by_kind = {item["kind"]: item for item in box["items"]}
    assert by_kind["spot_check"]["data"]["task_id"] == spot.get_json()["id"]
    assert by_kind["video_inspection"]["data"]["task_id"] == video.get_json()["id"]
    # 09:00 + 30 minutes, in the office's time zone.
    assert "11-10 09:30" in by_kind["spot_check"]["body"]


def test_random_spot_checks_are_announced_too(app, db_session, clock, world):
    from supervision import tasks
    from supervision.actors import SYSTEM

    add_person(db_session, world, "P303")
    policy = tasks.SpotCheckPolicy(random_rates={"strict": 1.0, "ordinary": 0.0, "lenient": 0.0})
    draw = tasks.draw_spot_checks(session=db_session, actor=SYSTEM, now=clock.now(), policy=policy, seed=7)
    db_session.commit()

    assert len(draw.tasks) == 1
    assert _count(db_session, kind="spot_check", person_id=draw.tasks[0].person_id) == 1


def _leave(db_session: Any, person: Any, *, start: datetime, end: datetime, status: str) -> LeaveRequest:
    leave = LeaveRequest(person_id=person.id, office_id=person.office_id, start_at=start, end_at=end,
                         destination="杭州", reason="探亲", status=status, approval_level="office",
                         created_at=REGISTERED)
    db_session.add(leave)
    db_session.commit()
    return leave


def test_leave_decision_and_return_due(app, client, db_session, auth, clock, world):
    phone = auth.person("P001")
    officer = auth.headers("officer1")
    pending = _leave(db_session, world.person, start=NOV_10_9AM + timedelta(days=4),
                     end=NOV_10_9AM + timedelta(days=6), status="pending")
    refused = _leave(db_session, world.person, start=NOV_10_9AM + timedelta(days=10),
                     end=NOV_10_9AM + timedelta(days=11), status="pending")

    approved = client.post(f"/api/v1/officer/leave-requests/{pending.id}/decision", headers=officer,
                           json={"decision": "approve", "note": "同意"})
    rejected = client.post(f"/api/v1/officer/leave-requests/{refused.id}/decision", headers=officer,
                           json={"decision": "reject", "note": "理由不充分"})
    assert approved.status_code == 200 and rejected.status_code == 200, (approved.get_json(), rejected.get_json())
    decided = [item for item in inbox(client, phone)["items"] if item["kind"] == "leave_decided"]
    assert sorted((item["data"]["leave_request_id"], item["data"]["status"]) for item in decided) == [
        (pending.id, "approved"), (refused.id, "rejected")]
    assert any("理由不充分" in item["body"] for item in decided)

    # Twelve hours before the approved leave ends (the default reminder), the sweep says the return is due; once.
    not_yet = sweep(app, db_session, pending.end_at - timedelta(hours=13))
    due = [sweep(app, db_session, pending.end_at - timedelta(hours=11)),
           sweep(app, db_session, pending.end_at - timedelta(hours=10))]
    assert not_yet["messages_reminders"] == 0
    assert [counts["messages_reminders"] for counts in due] == [1, 0]
    assert kinds(inbox(client, phone)).count("leave_return_due") == 1


def test_session_near_reminds_each_invited_person_once(app, client, db_session, auth, clock, world):
    officer = auth.headers("officer1")
    invited = add_person(db_session, world, "P304")
    not_invited = add_person(db_session, world, "P305")
    activity = schedule(client, officer, start=NOV_10_9AM + timedelta(days=2), kind="group_education",
                        person_ids=[invited.id])

    early = sweep(app, db_session, NOV_10_9AM)  # two days ahead: not yet
    near = [sweep(app, db_session, NOV_10_9AM + timedelta(days=1, hours=1)),
            sweep(app, db_session, NOV_10_9AM + timedelta(days=1, hours=2))]

    assert early["messages_reminders"] == 0
    assert [counts["messages_reminders"] for counts in near] == [1, 0]
    assert _count(db_session, kind="activity_near", person_id=invited.id) == 1
    assert _count(db_session, kind="activity_near", person_id=not_invited.id) == 0
    assert db_session.scalar(select(Message.dedupe_key).where(Message.kind == "activity_near")) == (
        f"activity_near:{activity['id']}:{invited.id}")


def test_shortfall_coming_in_the_last_days_of_the_month(app, client, db_session, auth, clock, world):
    add_person(db_session, world, "P306")  # strict: 12 + 12 hours owed by default
    phone = auth.person("P306")
    mid_month = sweep(app, db_session, NOV_10_9AM)
    late = [sweep(app, db_session, datetime(2026, 11, 25, 2, 0, tzinfo=UTC)),
            sweep(app, db_session, datetime(2026, 11, 26, 2, 0, tzinfo=UTC))]

    assert mid_month["messages_shortfall_coming"] == 0
    assert [counts["messages_shortfall_coming"] for counts in late] == [1, 0]
    warning = next(item for item in inbox(client, phone)["items"] if item["kind"] == "shortfall_coming")
    assert warning["data"]["missing"] == {"study": 12.0, "service": 12.0}
    assert warning["data"]["month"] == "2026-11"


def test_officer_writes_to_a_person_and_to_an_office(app, client, db_session, auth, clock, world):
    officer = auth.headers("officer1")
    second = add_person(db_session, world, "P307")
    released = add_person(db_session, world, "P308", status="released")
    elsewhere = make_person(db_session, world.other_office, "P309")

    one = client.post(MESSAGES, headers=officer, json={"person_ids": [world.person.id], "title": "通知",
                                                       "body": "周五上午请到司法所报到。"})
    everyone = client.post(MESSAGES, headers=officer, json={"office": "O1", "title": "集中教育",
                                                            "body": "本月集中教育改在周三。"})
    outside = client.post(MESSAGES, headers=officer, json={"person_ids": [elsewhere.id], "title": "x", "body": "y"})
    other_office = client.post(MESSAGES, headers=officer, json={"office": "O2", "title": "x", "body": "y"})
    nobody = client.post(MESSAGES, headers=officer, json={"title": "x", "body": "y"})

    assert one.status_code == 201 and one.get_json()["sent"] == 1
    assert everyone.status_code == 201
    assert sorted(m["person_id"] for m in everyone.get_json()["messages"]) == sorted([world.person.id, second.id])
    assert outside.status_code == 404 and other_office.status_code == 404
    assert nobody.status_code == 422
    assert _count(db_session, person_id=released.id) == 0
    assert _count(db_session, person_id=elsewhere.id) == 0
    assert db_session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "message.sent")) == 2
    box = inbox(client, auth.person("P001"))
    assert [(item["kind"], item["title"]) for item in reversed(box["items"])] == [("officer", "通知"),
                                                                                   ("officer", "集中教育")]
    sent = client.get(f"{MESSAGES}?person_id={world.person.id}", headers=officer).get_json()["items"]
    assert {m["delivery_status"] for m in sent} == {"inbox_only"}


def test_unread_count_and_mark_read(app, client, db_session, auth, clock, world):
    officer = auth.headers("officer1")
    other = add_person(db_session, world, "P310")
    for n in range(3):
        client.post(MESSAGES, headers=officer, json={"person_ids": [world.person.id], "title": f"t{n}", "body": "b"})
    client.post(MESSAGES, headers=officer, json={"person_ids": [other.id], "title": "theirs", "body": "b"})
    phone = auth.person("P001")
    box = inbox(client, phone)
    assert box["unread_count"] == 3
    assert [item["title"] for item in box["items"]] == ["t2", "t1", "t0"]  # newest first

    first = box["items"][0]["id"]
    clock.advance(timedelta(minutes=1))
    read = client.post(f"/api/v1/messages/{first}/read", headers=phone)
    again = client.post(f"/api/v1/messages/{first}/read", headers=phone)
    theirs = db_session.scalar(select(Message.id).where(Message.person_id == other.id))
    foreign = client.post(f"/api/v1/messages/{theirs}/read", headers=phone)

    assert read.status_code == 200 and read.get_json()["read_at"] is not None
    assert again.get_json()["read_at"] == read.get_json()["read_at"]
    assert foreign.status_code == 404
    assert inbox(client, phone)["unread_count"] == 2
    unread = client.get("/api/v1/messages?unread=true", headers=phone).get_json()
    assert [item["title"] for item in unread["items"]] == ["t1", "t0"]
    # Officers have no inbox of their own here.
    assert client.get("/api/v1/messages", headers=officer).status_code in (401, 403)
