"""One winner for every check-then-act: concurrent requests through separate test clients, several rounds each,
on SQLite and (in CI) PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from storage.models import AuditEvent, AuthSession, ReferenceFace, Task
from tests.checkins.helpers import enrol_identity, identity_photos, post_reference
from tests.factories import make_office, make_officer, make_person
from tests.foundation.helpers import REFRESH, assert_problem, bearer

ROUNDS = 4
OFFICER = "/api/v1/officer"


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run calls at the same moment, one thread each; their results in call order."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait()
            results[n] = calls[n]()
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.fixture
def staff(app: Any, db_session: Any, auth: Any) -> dict[str, Any]:
    """Two officers of one office, each with their own logged-in test client, and a person of that office."""
    office = make_office(db_session)
    make_officer(db_session, office, "officer1")
    make_officer(db_session, office, "officer2")
    person = make_person(db_session, office)
    return {"person": person, "office": office,
            "officers": [(app.test_client(), auth.headers("officer1")), (app.test_client(), auth.headers("officer2"))]}


def _post_all(staff: dict[str, Any], url: str, body: dict[str, Any]) -> list[Any]:
    return race([lambda c=c, h=h: c.post(url, headers=h, json=body) for c, h in staff["officers"]])


def _close_open_tasks(db_session: Any) -> None:
    db_session.rollback()
    db_session.execute(update(Task).where(Task.status == "open").values(status="completed"))
    db_session.commit()


def test_two_officers_reviewing_one_inspection_give_one_200_and_one_409(staff, db_session, clock):
    person = staff["person"]
    for _ in range(ROUNDS):
        task = Task(person_id=person.id, office_id=person.office_id, kind="video_inspection", status="completed",
                    created_at=clock.now(), due_at=clock.now() + timedelta(minutes=30), completed_at=clock.now(),
                    result={"band": "needs_review", "reasons": ["face_inconclusive"]})
        db_session.add(task)
        db_session.commit()

        responses = _post_all(staff, f"{OFFICER}/video-inspections/{task.id}/review",
                              {"decision": "accept", "note": "seen on the call"})

        assert sorted(r.status_code for r in responses) == [200, 409]
        [loser] = [r for r in responses if r.status_code == 409]
        assert_problem(loser, 409, "already_reviewed")
        db_session.rollback()
        events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "video.reviewed",
                                                             AuditEvent.target_id == str(task.id))).all()
        assert len(events) == 1
        stored = db_session.get(Task, task.id, populate_existing=True)
        winner = next(r for r in responses if r.status_code == 200).get_json()
        assert winner["review"]["decision"] == "accept", winner
        assert stored.result["review_decision"] == "accept" and stored.result["band"] == "needs_review"


@pytest.mark.parametrize(("path", "code"), [("spot-checks", "spot_check_open"),
                                            ("video-inspections", "video_inspection_open")])
def test_one_open_task_per_person_when_two_officers_ask_at_once(staff, db_session, path, code):
    person = staff["person"]
    for _ in range(ROUNDS):
        responses = _post_all(staff, f"{OFFICER}/persons/{person.id}/{path}", {"respond_within_minutes": 30})

        assert sorted(r.status_code for r in responses) == [201, 409], [r.get_json() for r in responses]
        assert_problem(next(r for r in responses if r.status_code == 409), 409, code)
        db_session.rollback()
        assert db_session.scalar(select(func.count()).select_from(Task)
                                 .where(Task.person_id == person.id, Task.status == "open")) == 1
        _close_open_tasks(db_session)


def test_concurrent_refreshes_of_one_token_have_exactly_one_winner(app, staff, auth, db_session):
    for _ in range(ROUNDS):
        refresh_token = auth.tokens("officer1")["refresh_token"]
        clients = [app.test_client() for _ in range(3)]

        headers = bearer(refresh_token)
        responses = race([lambda c=c, h=headers: c.post(REFRESH, headers=h) for c in clients])

        assert sorted(r.status_code for r in responses) == [200, 401, 401]
        for loser in (r for r in responses if r.status_code == 401):
            assert_problem(loser, 401, "token_revoked")
    db_session.rollback()
    # Every round's loser presented an already-rotated token: the session is ended, as for any replay.
    reasons = db_session.scalars(select(AuthSession.revoked_reason)).all()
    assert reasons.count("refresh_reuse") == ROUNDS


class TestReferenceMaximum:
    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {"MAX_REFERENCES": 3}

    def test_concurrent_enrolments_never_pass_the_maximum(self, app, staff, db_session, faces_dir: Path):
        person = staff["person"]
        client, headers = staff["officers"][0]
        enrolment = enrol_identity(client, headers, person.id, identity_photos(faces_dir, "people/Colin_Powell"),
                                   count=2)
        photo = enrolment.references[0].read_bytes()  # known to pass the gates and to match the others
        enrolers = [*staff["officers"], (app.test_client(), headers), (app.test_client(), headers)]
        for _ in range(2):
            responses = race([lambda c=c, h=h: post_reference(c, h, person.id, photo) for c, h in enrolers])

            assert sorted(r.status_code for r in responses) == [201, 409, 409, 409], [r.get_json() for r in responses]
            for loser in (r for r in responses if r.status_code == 409):
                assert_problem(loser, 409, "too_many_references")
            db_session.rollback()
            active = db_session.scalars(select(ReferenceFace.id).where(ReferenceFace.person_id == person.id,
                                                                       ReferenceFace.deleted_at.is_(None))).all()
            assert len(active) == 3
            deleted = client.delete(f"{OFFICER}/persons/{person.id}/faces/{max(active)}", headers=headers)
            assert deleted.status_code == 204


def test_a_random_draw_and_an_officer_at_once_leave_one_open_spot_check(app, staff, db_session, clock):
    from supervision.actors import SYSTEM
    from supervision.tasks import SpotCheckPolicy, draw_spot_checks

    person = staff["person"]
    # Plain values: the racing threads must not lazy-load attributes through the test's session.
    person_id, office_id = person.id, person.office_id
    policy = SpotCheckPolicy(random_rates={person.supervision_level: 1.0})  # the draw always picks the person
    client, headers = staff["officers"][0]

    def draw() -> int:
        session = app.extensions["checkin.db"].session()
        try:
            result = draw_spot_checks(session=session, actor=SYSTEM, now=clock.now(), policy=policy, seed=1,
                                      office_id=office_id)
            session.commit()
            return len(result.tasks)
        finally:
            session.close()

    for _ in range(ROUNDS):
        drawn, response = race([draw, lambda: client.post(f"{OFFICER}/persons/{person_id}/spot-checks",
                                                          headers=headers, json={"respond_within_minutes": 30})])
        assert (drawn, response.status_code) in {(1, 409), (0, 201)}, response.get_json()
        db_session.rollback()
        assert db_session.scalar(select(func.count()).select_from(Task)
                                 .where(Task.person_id == person.id, Task.status == "open")) == 1
        _close_open_tasks(db_session)
