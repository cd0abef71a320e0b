"""The state machine, officer and admin decisions, cancelling, scope and concurrent deciders."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from storage.enums import LeaveStatus
from storage.models import Account, AuditEvent, LeaveRequest, Office
from supervision import accounts
from supervision import leave as leave_rules
from supervision.errors import Conflict
from tests.factories import make_officer, make_person
from tests.leave.conftest import LEAVE, NOW, OFFICER_LEAVE, PASSWORD, created, decide


def problem_code(response: Any) -> str:
    return response.get_json()["code"]


# ------------------------------------------------------------------------------------------------ the table


def test_the_transition_table() -> None:
    allowed = {(a, b) for a, targets in leave_rules.TRANSITIONS.items() for b in targets}
    assert allowed == {
        ("pending", "approved"), ("pending", "rejected"), ("pending", "cancelled"),
        ("approved", "active"), ("approved", "cancelled"),
        ("active", "returned"), ("active", "overdue"),
        ("overdue", "returned"),
    }
    assert set(leave_rules.TRANSITIONS) == set(LeaveStatus)
    assert leave_rules.sources(LeaveStatus.ACTIVE) == (LeaveStatus.APPROVED,)
    assert set(leave_rules.sources(LeaveStatus.RETURNED)) == {LeaveStatus.ACTIVE, LeaveStatus.OVERDUE}


@pytest.mark.parametrize(("current", "target"), [("returned", "approved"), ("rejected", "approved"),
                                                 ("pending", "active"), ("cancelled", "pending")])
def test_transition_refuses_what_the_table_does_not_allow(current: str, target: str) -> None:
    row = LeaveRequest(id=1, status=current, version=1)
    with pytest.raises(Conflict) as caught:
        leave_rules.transition(session=None, leave=row, to=target)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_transition"
    assert caught.value.status == 409


# ------------------------------------------------------------------------------------------------ decisions


def test_an_officer_approves_an_office_level_request(client: Any, db_session: Any, world: Any,
                                                     person_headers: dict[str, str],
                                                     officer_headers: dict[str, str]) -> None:
    leave_id = created(client, person_headers)["id"]
    queue = client.get(f"{OFFICER_LEAVE}?status=pending", headers=officer_headers).get_json()
    assert [item["id"] for item in queue["items"]] == [leave_id]

    response = decide(client, officer_headers, leave_id, "approve", note="Have a safe trip")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "approved"
    assert body["decided_by_id"] == world.officer.id
    assert body["decision_note"] == "Have a safe trip"
    assert body["version"] == 2
    assert client.get(f"{LEAVE}/{leave_id}", headers=person_headers).get_json()["status"] == "approved"

    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "leave.decided"))
    assert event.actor_id == world.officer.id
    assert event.target_id == str(leave_id)
    assert event.details == {"decision": "approve", "note": "Have a safe trip", "status": "approved",
                             "approval_level": "office"}


def test_a_rejection_needs_a_note(client: Any, person_headers: dict[str, str],
                                  officer_headers: dict[str, str]) -> None:
    leave_id = created(client, person_headers)["id"]
    response = decide(client, officer_headers, leave_id, "reject")
    assert response.status_code == 422
    assert problem_code(response) == "validation_failed"
    assert "note" in response.get_json()["errors"]
    response = decide(client, officer_headers, leave_id, "reject", note="  ")
    assert response.status_code == 422
    response = decide(client, officer_headers, leave_id, "reject", note="Court hearing that week")
    assert response.status_code == 200
    assert response.get_json()["status"] == "rejected"


def test_unknown_decisions_and_fields_are_refused(client: Any, person_headers: dict[str, str],
                                                  officer_headers: dict[str, str]) -> None:
    leave_id = created(client, person_headers)["id"]
    url = f"{OFFICER_LEAVE}/{leave_id}/decision"
    assert problem_code(client.post(url, json={"decision": "maybe"}, headers=officer_headers)) == "validation_failed"
    response = client.post(url, json={"decision": "approve", "extra": 1}, headers=officer_headers)
    assert problem_code(response) == "validation_failed"


def test_county_level_requests_are_visible_to_officers_but_decided_by_the_admin(
        client: Any, person_headers: dict[str, str], officer_headers: dict[str, str],
        admin_headers: dict[str, str]) -> None:
    short = created(client, person_headers, days=2)["id"]
    long = created(client, person_headers, start=NOW + timedelta(days=10), days=12)["id"]

    assert client.get(f"{OFFICER_LEAVE}/{long}", headers=officer_headers).status_code == 200
    response = decide(client, officer_headers, long)
    assert response.status_code == 403
    assert problem_code(response) == "forbidden"

    county = client.get(f"{OFFICER_LEAVE}?status=pending&approval_level=county", headers=admin_headers).get_json()
    assert [item["id"] for item in county["items"]] == [long]
    everything = client.get(f"{OFFICER_LEAVE}?status=pending", headers=admin_headers).get_json()
    assert [item["id"] for item in everything["items"]] == [short, long]
    assert decide(client, admin_headers, long).get_json()["status"] == "approved"
    # The county administration may also decide office-level requests.
    assert decide(client, admin_headers, short, "reject", note="Incomplete").get_json()["status"] == "rejected"


def test_a_second_decision_is_an_invalid_transition(client: Any, person_headers: dict[str, str],
                                                    officer_headers: dict[str, str],
                                                    admin_headers: dict[str, str]) -> None:
    leave_id = created(client, person_headers)["id"]
    assert decide(client, officer_headers, leave_id).status_code == 200
    for headers, decision in ((officer_headers, "approve"), (admin_headers, "reject")):
        response = decide(client, headers, leave_id, decision, note="changed my mind")
        assert response.status_code == 409
        assert problem_code(response) == "invalid_transition"
        assert response.get_json()["leave_status"] == "approved"


def test_leave_is_scoped_to_the_office_and_county(client: Any, db_session: Any, auth: Any, world: Any,
                                                  person_headers: dict[str, str]) -> None:
    leave_id = created(client, person_headers)["id"]
    x1 = db_session.scalar(select(Office).where(Office.code == "X1"))
    make_officer(db_session, x1, "admin_c2", admin=True, password=PASSWORD)
    make_person(db_session, world.office, "P002", password=PASSWORD)

    for username in ("officer2", "admin_c2"):
        headers = auth.headers(username, PASSWORD)
        assert problem_code(client.get(f"{OFFICER_LEAVE}/{leave_id}", headers=headers)) == "not_found"
        response = decide(client, headers, leave_id)
        assert response.status_code == 404
        assert problem_code(response) == "not_found"
        assert client.get(OFFICER_LEAVE, headers=headers).get_json()["items"] == []
    other_person = auth.person("P002", password=PASSWORD)
    assert client.get(f"{LEAVE}/{leave_id}", headers=other_person).status_code == 404
    assert client.post(f"{LEAVE}/{leave_id}/cancel", headers=other_person).status_code == 404
    assert client.get(LEAVE, headers=other_person).get_json()["items"] == []
    # Persons cannot use the officer endpoints at all.
    assert client.get(OFFICER_LEAVE, headers=person_headers).status_code == 403


def test_the_queue_is_oldest_first_and_paginated(client: Any, db_session: Any, auth: Any, world: Any,
                                                 person_headers: dict[str, str],
                                                 officer_headers: dict[str, str]) -> None:
    make_person(db_session, world.office, "P002", password=PASSWORD)
    other = auth.person("P002", password=PASSWORD)
    a = created(client, person_headers)["id"]
    b = created(client, other)["id"]
    c = created(client, person_headers, start=NOW + timedelta(days=20))["id"]
    decide(client, officer_headers, c, "reject", note="no")

    first = client.get(f"{OFFICER_LEAVE}?status=pending&limit=1", headers=officer_headers).get_json()
    assert [item["id"] for item in first["items"]] == [a]
    second = client.get(f"{OFFICER_LEAVE}?status=pending&limit=1&cursor={first['next_cursor']}",
                        headers=officer_headers).get_json()
    assert [item["id"] for item in second["items"]] == [b]
    assert second["next_cursor"] is None
    mine = client.get(f"{OFFICER_LEAVE}?person_id={world.person.id}", headers=officer_headers).get_json()
    assert [item["id"] for item in mine["items"]] == [c, a]
    own = client.get(f"{LEAVE}?status=rejected", headers=person_headers).get_json()
    assert [item["id"] for item in own["items"]] == [c]


# ------------------------------------------------------------------------------------------------ cancelling


def test_cancel_while_pending_or_approved_before_the_start(client: Any, clock: Any, person_headers: dict[str, str],
                                                           officer_headers: dict[str, str]) -> None:
    pending = created(client, person_headers)["id"]
    response = client.post(f"{LEAVE}/{pending}/cancel", headers=person_headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert response.get_json()["cancelled_at"] is not None
    again = client.post(f"{LEAVE}/{pending}/cancel", headers=person_headers)
    assert again.status_code == 409
    assert problem_code(again) == "invalid_transition"
    assert decide(client, officer_headers, pending).status_code == 409

    approved = created(client, person_headers)["id"]
    decide(client, officer_headers, approved)
    assert client.post(f"{LEAVE}/{approved}/cancel", headers=person_headers).get_json()["status"] == "cancelled"


def test_started_or_decided_against_leave_cannot_be_cancelled(client: Any, clock: Any,
                                                              person_headers: dict[str, str],
                                                              officer_headers: dict[str, str]) -> None:
    rejected = created(client, person_headers, start=NOW + timedelta(days=20))["id"]
    decide(client, officer_headers, rejected, "reject", note="no")
    assert problem_code(client.post(f"{LEAVE}/{rejected}/cancel", headers=person_headers)) == "invalid_transition"

    started = created(client, person_headers)
    decide(client, officer_headers, started["id"])
    clock.advance(timedelta(days=5))  # past start_at, before the sweep has marked it active
    response = client.post(f"{LEAVE}/{started['id']}/cancel", headers=person_headers)
    assert response.status_code == 409
    assert problem_code(response) == "invalid_transition"
    assert "already started" in response.get_json()["detail"]


def test_cancel_is_idempotent_with_a_key(client: Any, person_headers: dict[str, str]) -> None:
    leave_id = created(client, person_headers)["id"]
    headers = {**person_headers, "Idempotency-Key": "cancel-1"}
    first = client.post(f"{LEAVE}/{leave_id}/cancel", headers=headers)
    again = client.post(f"{LEAVE}/{leave_id}/cancel", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"


# ------------------------------------------------------------------------------------------------ concurrency


def test_two_deciders_at_once_over_http(app: Any, client: Any, db_session: Any, person_headers: dict[str, str],
                                        officer_headers: dict[str, str], admin_headers: dict[str, str]) -> None:
    leave_id = created(client, person_headers)["id"]
    barrier = threading.Barrier(2)
    responses: dict[str, Any] = {}

    def run(name: str, headers: dict[str, str], decision: str) -> None:
        own_client = app.test_client()
        barrier.wait(timeout=10)
        responses[name] = decide(own_client, headers, leave_id, decision, note="at once")

    threads = [threading.Thread(target=run, args=("officer", officer_headers, "approve")),
               threading.Thread(target=run, args=("admin", admin_headers, "reject"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    statuses = sorted(response.status_code for response in responses.values())
    assert statuses == [200, 409], {name: r.get_json() for name, r in responses.items()}
    winner = next(r for r in responses.values() if r.status_code == 200).get_json()
    loser = next(r for r in responses.values() if r.status_code == 409)
    assert problem_code(loser) == "invalid_transition"
    final = db_session.get(LeaveRequest, leave_id)
    assert final.status == winner["status"]
    assert final.version == 2
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "leave.decided")).all()
    assert len(events) == 1


def test_two_deciders_who_both_saw_pending(app: Any, client: Any, db_session: Any, world: Any,
                                           person_headers: dict[str, str]) -> None:
    """Both load the pending request before either writes: the conditional update lets exactly one win."""
    leave_id = created(client, person_headers)["id"]
    database = app.extensions["checkin.db"]
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def run(account_id: int, decision: str) -> None:
        session = database.session()
        try:
            account = session.get(Account, account_id)
            assert account is not None
            actor = accounts.actor_for_account(account)
            seen = leave_rules.get_leave(session=session, actor=actor, leave_id=leave_id)
            assert seen.status == LeaveStatus.PENDING
            barrier.wait(timeout=10)
            leave_rules.decide_leave(session=session, actor=actor, leave_id=leave_id, decision=decision,
                                     note="concurrent", now=NOW)
            session.commit()
            outcomes[decision] = "won"
        except Conflict as exc:
            session.rollback()
            outcomes[decision] = exc.code
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(world.officer.id, "approve")),
               threading.Thread(target=run, args=(world.admin.id, "reject"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["invalid_transition", "won"], outcomes
    winner = next(decision for decision, outcome in outcomes.items() if outcome == "won")
    final = db_session.get(LeaveRequest, leave_id)
    assert final.status == ("approved" if winner == "approve" else "rejected")
    assert final.version == 2
