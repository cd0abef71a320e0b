"""Officer alert endpoints: listing with scope, resolving with sanctions, compliance, sanctions and spot checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from supervision.alerts import raise_alert
from supervision.sweep import run_sweep
from tests.factories import make_person
from tests.supervision.conftest import LONG_AGO
from tests.supervision.helpers import add_checkin

ALERTS = "/api/v1/officer/alerts"


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == code, body
    return body


def new_alert(session: Any, person: Any, clock: Any, alert_type: str = "missed_checkin", key: str = "k1") -> int:
    alert = raise_alert(session=session, person_id=person.id, office_id=person.office_id, alert_type=alert_type,
                        dedupe_key=key, occurred_at=clock.at, now=clock.at, evidence={"why": "test"})
    assert alert is not None
    session.commit()
    return alert.id


@pytest.fixture
def officer_headers(auth, officer):
    return auth.headers("officer1")


def test_list_and_filter_alerts(client, db_session, person, office, clock, officer_headers):
    other = make_person(db_session, office, "P002", created_at=LONG_AGO)
    first = new_alert(db_session, person, clock, "missed_checkin", "a")
    second = new_alert(db_session, person, clock, "outside_area", "b")
    third = new_alert(db_session, other, clock, "missed_checkin", "c")
    body = client.get(ALERTS, headers=officer_headers).get_json()
    assert [a["id"] for a in body["items"]] == [third, second, first]
    assert set(body["items"][0]) >= {"id", "person_id", "type", "status", "occurred_at", "evidence"}
    by_type = client.get(f"{ALERTS}?type=missed_checkin", headers=officer_headers).get_json()
    assert [a["id"] for a in by_type["items"]] == [third, first]
    by_person = client.get(f"{ALERTS}?person_id={person.id}&status=open", headers=officer_headers).get_json()
    assert [a["id"] for a in by_person["items"]] == [second, first]
    paged = client.get(f"{ALERTS}?limit=2", headers=officer_headers).get_json()
    rest = client.get(f"{ALERTS}?limit=2&cursor={paged['next_cursor']}", headers=officer_headers).get_json()
    assert [a["id"] for a in paged["items"] + rest["items"]] == [third, second, first]
    problem(client.get(f"{ALERTS}?type=nonsense", headers=officer_headers), 422, "validation_failed")


def test_resolve_needs_a_note_and_happens_once(client, db_session, person, clock, officer_headers):
    alert_id = new_alert(db_session, person, clock)
    url = f"{ALERTS}/{alert_id}/resolve"
    problem(client.post(url, json={"action": "dismiss"}, headers=officer_headers), 422, "validation_failed")
    problem(client.post(url, json={"action": "dismiss", "note": ""}, headers=officer_headers), 422,
            "validation_failed")
    problem(client.post(url, json={"action": "pardon", "note": "x"}, headers=officer_headers), 422,
            "validation_failed")
    problem(client.post(url, json={"action": "dismiss", "note": "x", "extra": 1}, headers=officer_headers), 422,
            "validation_failed")
    clock.advance(timedelta(minutes=3))
    response = client.post(url, json={"action": "dismiss", "note": "Phone was broken; checked in at the office."},
                           headers=officer_headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["resolution"], body["sanction"]) == ("resolved", "dismiss", None)
    assert body["resolution_note"] == "Phone was broken; checked in at the office."
    problem(client.post(url, json={"action": "warning", "note": "again"}, headers=officer_headers), 409,
            "already_resolved")
    assert client.get(f"{ALERTS}?status=open", headers=officer_headers).get_json()["items"] == []


def test_warning_is_recorded_audited_and_makes_the_level_strict(client, db_session, office, clock, officer,
                                                                officer_headers):
    person = make_person(db_session, office, "P200", supervision_level="ordinary", created_at=LONG_AGO)
    alert_id = new_alert(db_session, person, clock)
    response = client.post(f"{ALERTS}/{alert_id}/resolve",
                           json={"action": "warning", "note": "Second missed check-in this month."},
                           headers=officer_headers)
    assert response.status_code == 200, response.get_json()
    sanction = response.get_json()["sanction"]
    assert (sanction["kind"], sanction["alert_id"], sanction["decided_by_id"]) == ("warning", alert_id, officer.id)
    assert sanction["evidence"]["alert"]["id"] == alert_id
    person_body = client.get(f"/api/v1/officer/persons/{person.id}", headers=officer_headers).get_json()
    assert person_body["supervision_level"] == "strict"
    audit = client.get(f"/api/v1/officer/audit?person_id={person.id}", headers=officer_headers).get_json()["items"]
    by_action = {event["action"]: event for event in audit}
    assert {"sanction.recorded", "person.level_changed", "alert.resolved"} <= set(by_action)
    assert by_action["sanction.recorded"]["details"]["note"] == "Second missed check-in this month."
    assert by_action["sanction.recorded"]["actor_id"] == officer.id
    assert by_action["person.level_changed"]["details"] == {"before": {"supervision_level": "ordinary"},
                                                            "after": {"supervision_level": "strict"}}
    listed = client.get(f"/api/v1/officer/persons/{person.id}/sanctions", headers=officer_headers).get_json()
    assert [s["id"] for s in listed["items"]] == [sanction["id"]]


def test_record_and_correct_a_sanction_without_an_alert(client, person, officer_headers):
    url = f"/api/v1/officer/persons/{person.id}/sanctions"
    response = client.post(url, json={"kind": "admonition", "note": "Late twice."}, headers=officer_headers)
    assert response.status_code == 201, response.get_json()
    sanction_id = response.get_json()["id"]
    corrected = client.post(f"{url}/{sanction_id}/correct", json={"note": "On time for a month."},
                            headers=officer_headers)
    assert corrected.status_code == 200 and corrected.get_json()["corrected_at"] is not None


def test_compliance_summary(client, db_session, office, clock, config, officer_headers):
    person = make_person(db_session, office, "P201", supervision_level="strict", created_at=LONG_AGO)
    clock.at = clock.at + timedelta(hours=10)  # Monday 21:00 in Shanghai: today's window has closed
    for back in range(0, 30, 2):  # every other day
        add_checkin(db_session, person, clock.at.replace(hour=2) - timedelta(days=back))
    add_checkin(db_session, person, clock.at.replace(hour=3) - timedelta(days=3), "needs_review")
    run_sweep(session=db_session, now=clock.at, settings=config)
    db_session.commit()
    body = client.get(f"/api/v1/officer/persons/{person.id}/compliance", headers=officer_headers).get_json()
    assert body["duties"]["total"] == 30
    assert (body["duties"]["met"], body["duties"]["pending"], body["duties"]["missed"]) == (15, 1, 14)
    assert body["open_alerts"]["by_type"] == {"missed_checkin": 1}  # Sunday; the sweep looks back 72 hours
    assert [a["evidence"]["date"] for a in body["open_alerts"]["items"]] == ["2026-11-29"]
    assert body["next_checkin_due"]["start"] == "2026-12-01T08:00:00+08:00"
    assert body["absence"] is None
    assert body["suggested_next_step"] is None
    assert body["sanctions"] == []
    week = client.get(f"/api/v1/officer/persons/{person.id}/compliance?days=7", headers=officer_headers).get_json()
    assert week["duties"]["total"] == 7


def test_compliance_suggests_the_next_step(client, db_session, office, clock, officer_headers):
    person = make_person(db_session, office, "P202", supervision_level="strict", created_at=LONG_AGO)
    add_checkin(db_session, person, clock.at - timedelta(days=4))
    body = client.get(f"/api/v1/officer/persons/{person.id}/compliance", headers=officer_headers).get_json()
    assert body["absence"]["missed_windows"] == 3
    assert body["suggested_next_step"]["kind"] == "admonition"
    assert body["suggested_next_step"]["rule"] == "absent_up_to_10_days"


def test_spot_check_endpoints(client, db_session, person, clock, officer_headers, auth):
    url = f"/api/v1/officer/persons/{person.id}/spot-checks"
    response = client.post(url, json={}, headers=officer_headers)
    assert response.status_code == 201, response.get_json()
    task = response.get_json()
    assert (task["kind"], task["status"], task["person_id"]) == ("spot_check", "open", person.id)
    assert task["due_at"].startswith("2026-11-30T04:00:00")  # 60 minutes by default
    problem(client.post(url, json={}, headers=officer_headers), 409, "spot_check_open")
    problem(client.post(url, json={"respond_within_minutes": 2}, headers=officer_headers), 422, "validation_failed")
    listed = client.get(f"/api/v1/officer/tasks?status=open&person_id={person.id}", headers=officer_headers)
    assert [t["id"] for t in listed.get_json()["items"]] == [task["id"]]
    assert client.get("/api/v1/officer/tasks?status=missed", headers=officer_headers).get_json()["items"] == []
    phone = auth.person("P001")
    mine = client.get("/api/v1/tasks", headers=phone).get_json()["items"]
    assert [(t["id"], t["overdue"], t["answer_url"]) for t in mine] == [(task["id"], False, "/api/v1/checkins")]
    me = client.get("/api/v1/me", headers=phone).get_json()
    assert [t["id"] for t in me["open_tasks"]] == [task["id"]]
    assert me["next_checkin_due"] == {"date": "2026-11-30", "start": "2026-11-30T08:00:00+08:00",
                                      "end": "2026-11-30T20:00:00+08:00", "level": "strict"}
    short = client.post(f"/api/v1/officer/persons/{person.id}/spot-checks", json={"respond_within_minutes": 15},
                        headers=officer_headers)
    assert short.status_code == 409


def test_unanswered_spot_check_shows_as_missed_after_the_sweep(client, db_session, person, clock, config,
                                                               officer_headers, auth):
    task = client.post(f"/api/v1/officer/persons/{person.id}/spot-checks", json={"respond_within_minutes": 30},
                       headers=officer_headers).get_json()
    clock.advance(timedelta(minutes=41))
    assert client.get("/api/v1/tasks", headers=auth.person("P001")).get_json()["items"][0]["overdue"] is True
    run_sweep(session=db_session, now=clock.at, settings=config)
    db_session.commit()
    missed = client.get("/api/v1/officer/tasks?status=missed", headers=officer_headers).get_json()["items"]
    assert [t["id"] for t in missed] == [task["id"]]
    alerts = client.get(f"{ALERTS}?type=spot_check_missed", headers=officer_headers).get_json()["items"]
    assert [a["evidence"]["task_id"] for a in alerts] == [task["id"]]
    assert client.get("/api/v1/tasks", headers=auth.person("P001")).get_json()["items"] == []


def test_scope_other_office_gets_404(client, db_session, person, clock, other_officer, auth):
    alert_id = new_alert(db_session, person, clock)
    headers = auth.headers("officer2")
    problem(client.get(f"{ALERTS}/{alert_id}", headers=headers), 404, "not_found")
    problem(client.post(f"{ALERTS}/{alert_id}/resolve", json={"action": "dismiss", "note": "x"}, headers=headers),
            404, "not_found")
    problem(client.get(f"{ALERTS}?person_id={person.id}", headers=headers), 404, "not_found")
    assert client.get(ALERTS, headers=headers).get_json()["items"] == []
    for path in ("compliance", "sanctions"):
        problem(client.get(f"/api/v1/officer/persons/{person.id}/{path}", headers=headers), 404, "not_found")
    problem(client.post(f"/api/v1/officer/persons/{person.id}/spot-checks", json={}, headers=headers), 404,
            "not_found")
    problem(client.post(f"/api/v1/officer/persons/{person.id}/sanctions", json={"kind": "warning", "note": "x"},
                        headers=headers), 404, "not_found")
    problem(client.get(f"/api/v1/officer/tasks?person_id={person.id}", headers=headers), 404, "not_found")


def test_county_admin_sees_the_county(client, db_session, person, office, clock, auth):
    from tests.factories import make_office, make_officer

    make_officer(db_session, office, "admin1", admin=True)
    elsewhere = make_office(db_session, "O5", county="C9")
    stranger = make_person(db_session, elsewhere, "P900", created_at=LONG_AGO)
    mine = new_alert(db_session, person, clock, key="mine")
    new_alert(db_session, stranger, clock, key="theirs")
    items = client.get(ALERTS, headers=auth.headers("admin1")).get_json()["items"]
    assert [a["id"] for a in items] == [mine]


def test_person_token_is_forbidden_on_officer_endpoints(client, db_session, person, clock, auth):
    alert_id = new_alert(db_session, person, clock)
    headers = auth.person("P001")
    for method, path, body in [
        ("get", ALERTS, None),
        ("get", f"{ALERTS}/{alert_id}", None),
        ("post", f"{ALERTS}/{alert_id}/resolve", {"action": "dismiss", "note": "mine"}),
        ("get", f"/api/v1/officer/persons/{person.id}/compliance", None),
        ("get", f"/api/v1/officer/persons/{person.id}/sanctions", None),
        ("post", f"/api/v1/officer/persons/{person.id}/spot-checks", {}),
        ("get", "/api/v1/officer/tasks", None),
    ]:
        response = getattr(client, method)(path, json=body, headers=headers) if body is not None else \
            getattr(client, method)(path, headers=headers)
        problem(response, 403, "forbidden")


def test_officer_token_is_forbidden_on_phone_tasks(client, officer_headers):
    problem(client.get("/api/v1/tasks", headers=officer_headers), 403, "forbidden")


def test_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/tasks", "/api/v1/officer/tasks", "/api/v1/officer/alerts",
            "/api/v1/officer/alerts/{alert_id}/resolve", "/api/v1/officer/persons/{person_id}/spot-checks",
            "/api/v1/officer/persons/{person_id}/compliance",
            "/api/v1/officer/persons/{person_id}/sanctions"} <= set(paths)
