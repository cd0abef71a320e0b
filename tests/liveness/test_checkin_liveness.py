"""Liveness challenges and check-ins that carry them, through the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.models import Checkin, LivenessChallenge, Task
from tests.factories import make_person
from tests.foundation.helpers import assert_problem
from tests.liveness.conftest import (
    PERSON_IDENTITY,
    STRANGER_IDENTITY,
    checkin_form,
    photo_path,
    post_multipart,
    upload,
)
from tests.verification_video.clips import still_clip
from verification import liveness as liveness_engine

CHALLENGES = "/api/v1/liveness/challenges"
CHECKINS = "/api/v1/checkins"


def _challenge(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post(CHALLENGES, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _checkin(client: Any, headers: dict[str, str], photo: bytes, captured_at: Any, *,
             files: dict[str, Any] | None = None, **form: Any) -> Any:
    data: dict[str, Any] = {**checkin_form(captured_at, **form), "photo": upload(photo, "selfie.jpg"), **(files or {})}
    return post_multipart(client, CHECKINS, headers, data)


@pytest.fixture
def selfie(media_dir) -> bytes:
    return photo_path(media_dir, PERSON_IDENTITY, 2).read_bytes()


@pytest.fixture(scope="module")
def still_of_person(tmp_path_factory, media_dir) -> bytes:
    """A 'liveness video' that is the person's photo held still: it performs no action."""
    return still_clip(tmp_path_factory.mktemp("clips") / "still.avi", photo_path(media_dir, PERSON_IDENTITY, 2),
                      seconds=2.0, fourcc="MJPG")


# ------------------------------------------------------------------------------------------- challenges
def test_a_person_gets_a_single_use_challenge_of_random_actions(client, auth, person, clock, db_session):
    headers = auth.person("P001")

    body = _challenge(client, headers)

    assert 2 <= len(body["actions"]) <= 3 and len(set(body["actions"])) == len(body["actions"])
    assert set(body["actions"]) <= set(liveness_engine.ACTIONS)
    stored = db_session.get(LivenessChallenge, body["challenge_id"])
    assert stored.person_id == person.id and stored.used_at is None
    assert stored.expires_at == clock.now() + timedelta(minutes=2)
    orders = {tuple(_challenge(client, headers)["actions"]) for _ in range(12)}
    assert len(orders) > 1  # 36 possible orders: twelve identical draws would be a broken random source


def test_officers_get_no_challenges(client, auth, officer):
    assert_problem(client.post(CHALLENGES, headers=auth.headers("officer1")), 403, "forbidden")


# ------------------------------------------------------------------------------------ check-in outcomes
def test_a_still_photo_clip_fails_the_first_action(client, auth, enrolled, clock, selfie, still_of_person,
                                                     db_session):
    headers = auth.person("P001")
    challenge = _challenge(client, headers)

    response = _checkin(client, headers, selfie, clock.now(), challenge_id=challenge["challenge_id"],
                        files={"video": upload(still_of_person, "clip.avi")})

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "needs_review"
    assert "liveness_failed" in body["reasons"]
    assert body["liveness"] == {"passed": False, "failed_step": challenge["actions"][0]}
    checkin = db_session.get(Checkin, body["id"])
    assert checkin.liveness["challenge_id"] == challenge["challenge_id"]
    assert checkin.liveness["identity"]["band"] == "verified"  # it is the person ... who does not move
    assert checkin.liveness["steps"][0] == {"action": challenge["actions"][0], "passed": False, "time_s": None,
                                            "value": None}
    assert db_session.get(LivenessChallenge, challenge["challenge_id"]).used_at == clock.now()


def test_a_challenge_is_used_once(client, auth, enrolled, clock, selfie, still_of_person, media_dir):
    headers = auth.person("P001")
    challenge = _challenge(client, headers)
    first = _checkin(client, headers, selfie, clock.now(), challenge_id=challenge["challenge_id"],
                     files={"video": upload(still_of_person, "clip.avi")})
    assert first.status_code == 201

    again = _checkin(client, headers, photo_path(media_dir, PERSON_IDENTITY, 6).read_bytes(), clock.now(),
                     challenge_id=challenge["challenge_id"], files={"video": upload(still_of_person, "clip.avi")})

    assert_problem(again, 409, "challenge_used")


def test_an_expired_challenge_is_refused_and_nothing_is_recorded(client, auth, enrolled, clock, selfie,
                                                                  still_of_person, db_session):
    headers = auth.person("P001")
    challenge = _challenge(client, headers)
    clock.advance(timedelta(minutes=2, seconds=1))

    response = _checkin(client, headers, selfie, clock.now(), challenge_id=challenge["challenge_id"],
                        files={"video": upload(still_of_person, "clip.avi")})

    assert_problem(response, 422, "challenge_expired")
    assert db_session.scalar(select(func.count()).select_from(Checkin)) == 0


def test_another_persons_challenge_does_not_exist_for_you(client, auth, enrolled, office, db_session, clock,
                                                           selfie, still_of_person):
    make_person(db_session, office, "P002")
    theirs = _challenge(client, auth.person("P002", device_id="phone-2"))

    response = _checkin(client, auth.person("P001"), selfie, clock.now(), challenge_id=theirs["challenge_id"],
                        files={"video": upload(still_of_person, "clip.avi")})

    assert_problem(response, 404, "not_found")
    assert db_session.get(LivenessChallenge, theirs["challenge_id"]).used_at is None


def test_a_challenge_without_a_clip_is_invalid_and_stays_usable(client, auth, enrolled, clock, selfie,
                                                                 still_of_person):
    headers = auth.person("P001")
    challenge = _challenge(client, headers)

    missing = _checkin(client, headers, selfie, clock.now(), challenge_id=challenge["challenge_id"])
    assert_problem(missing, 422, "validation_failed")
    not_video = _checkin(client, headers, selfie, clock.now(), challenge_id=challenge["challenge_id"],
                         files={"video": upload(b"plain text, not a clip", "clip.mp4")})
    assert_problem(not_video, 415, "unsupported_media_type")

    retry = _checkin(client, headers, selfie, clock.now(), challenge_id=challenge["challenge_id"],
                     files={"video": upload(still_of_person, "clip.avi")})
    assert retry.status_code == 201


def test_frames_of_an_unrelated_person_are_rejected(client, auth, enrolled, clock, selfie, media_dir, db_session):
    headers = auth.person("P001")
    challenge = _challenge(client, headers)
    stranger = photo_path(media_dir, STRANGER_IDENTITY, 1).read_bytes()
    frames = [upload(stranger, f"f{i}.jpg") for i in range(6)]

    response = _checkin(client, headers, selfie, clock.now(), challenge_id=challenge["challenge_id"],
                        files={"frames": frames})

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "rejected" and "liveness_failed" in body["reasons"]
    assert body["liveness"]["failed_step"] == "same_person"
    stored = db_session.get(Checkin, body["id"]).liveness
    assert stored["source"] == "frames" and stored["different_person"] is True
    assert stored["identity"]["band"] == "rejected"


# ------------------------------------------------------------------------------------------------- policy
# The policy is built once, when the app is created: each test configures its app.
@pytest.mark.parametrize("app_overrides", [{"JOBS_SYNC": True, "LIVENESS_MODE": "always"},
                                           {"JOBS_SYNC": True, "LIVENESS_BY_LEVEL": {"ordinary": "always"}}])
def test_when_policy_requires_liveness_a_plain_checkin_is_refused(client, auth, enrolled, clock, selfie, db_session):
    response = _checkin(client, auth.person("P001"), selfie, clock.now())

    assert_problem(response, 422, "liveness_required")
    assert db_session.scalar(select(func.count()).select_from(Checkin)) == 0


@pytest.mark.parametrize("app_overrides", [{"JOBS_SYNC": True, "LIVENESS_BY_LEVEL": {"strict": "always"}}])
def test_a_per_level_policy_applies_to_that_level_only(client, auth, enrolled, office, db_session, clock, selfie):
    make_person(db_session, office, "P002", supervision_level="strict")

    ordinary = _checkin(client, auth.person("P001"), selfie, clock.now())
    strict = _checkin(client, auth.person("P002", device_id="phone-2"), selfie, clock.now())

    assert ordinary.status_code == 201
    assert_problem(strict, 422, "liveness_required")


@pytest.mark.parametrize("app_overrides", [{"JOBS_SYNC": True, "LIVENESS_MODE": "spot_checks"}])
def test_spot_check_mode_requires_liveness_only_for_spot_check_answers(client, auth, enrolled, clock, selfie,
                                                                       db_session, media_dir):
    task = Task(person_id=enrolled.id, office_id=enrolled.office_id, kind="spot_check", status="open",
                created_at=clock.now(), due_at=clock.now() + timedelta(hours=1))
    db_session.add(task)
    db_session.commit()
    headers = auth.person("P001")

    scheduled = _checkin(client, headers, selfie, clock.now())
    answer = _checkin(client, headers, photo_path(media_dir, PERSON_IDENTITY, 6).read_bytes(), clock.now(),
                      task_id=str(task.id))

    assert scheduled.status_code == 201
    assert_problem(answer, 422, "liveness_required")


def test_the_default_policy_asks_for_nothing(client, auth, enrolled, clock, selfie, db_session):
    response = _checkin(client, auth.person("P001"), selfie, clock.now())

    assert response.status_code == 201
    assert response.get_json()["liveness"] is None
    assert db_session.get(Checkin, response.get_json()["id"]).liveness is None
