"""Idempotency-Key reservations are leases: an orphaned one is taken over, a young one answers 409 quickly."""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from storage.models import IdempotencyRecord, LeaveRequest
from supervision.sweep import run_sweep
from tests.factories import World
from tests.leave.conftest import LEAVE, NOW, leave_body
from web.idempotency import IdempotencySettings, take_over

LEASE = timedelta(seconds=120)


def fingerprint(app: Any, body: dict[str, Any]) -> str:
    from web.idempotency import request_fingerprint

    with app.test_request_context(LEAVE, method="POST", json=body):
        return request_fingerprint()


def reserve(db_session: Any, app: Any, world: World, key: str, *, age: timedelta,
            body: dict[str, Any] | None = None, **values: Any) -> IdempotencyRecord:
    """A reservation left behind by a request that started age ago (and, unless told, never finished)."""
    record = IdempotencyRecord(scope=f"person:{world.person.id}", key=key,
                               request_hash=fingerprint(app, body or leave_body()), created_at=NOW - age, **values)
    db_session.add(record)
    db_session.commit()
    return record


def leave_count(db_session: Any) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count(LeaveRequest.id)))


def test_the_defaults_lease_a_reservation_for_the_worker_timeout_and_wait_briefly(app: Any) -> None:
    settings = IdempotencySettings.from_config(app.config["CHECKIN"])
    assert settings.lease == LEASE
    assert settings.wait_seconds == 2
    assert settings.retention == timedelta(hours=72)


@pytest.mark.parametrize("bad", [{"IDEMPOTENCY_LEASE_SECONDS": 0}, {"IDEMPOTENCY_WAIT_SECONDS": -1},
                                 {"IDEMPOTENCY_WAIT_SECONDS": 600}, {"IDEMPOTENCY_RETENTION_HOURS": 0}])
def test_bad_settings_stop_the_start(tmp_path: Any, bad: dict[str, Any]) -> None:
    from server.config import ConfigError, load_config

    with pytest.raises(ConfigError):
        load_config({"INSTANCE_PATH": str(tmp_path), **bad}, environ={})


def test_an_orphaned_reservation_is_taken_over_and_the_request_recorded_once(
        client: Any, app: Any, phone: dict[str, str], world: World, db_session: Any) -> None:
    reserve(db_session, app, world, "orphan-1", age=LEASE + timedelta(seconds=1))
    headers = {**phone, "Idempotency-Key": "orphan-1"}
    first = client.post(LEAVE, json=leave_body(), headers=headers)
    assert first.status_code == 201, first.get_json()
    assert "Idempotent-Replayed" not in first.headers
    again = client.post(LEAVE, json=leave_body(), headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert leave_count(db_session) == 1
    records = list(db_session.scalars(select(IdempotencyRecord)))
    assert len(records) == 1 and records[0].completed_at is not None and records[0].status_code == 201


def test_a_young_reservation_answers_409_with_retry_after_quickly(
        client: Any, app: Any, phone: dict[str, str], world: World, db_session: Any) -> None:
    reserve(db_session, app, world, "young-1", age=timedelta(seconds=30))
    started = time.monotonic()
    response = client.post(LEAVE, json=leave_body(), headers={**phone, "Idempotency-Key": "young-1"})
    elapsed = time.monotonic() - started
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "idempotency_in_progress"
    assert 1 <= int(response.headers["Retry-After"]) <= 5
    assert elapsed < 5  # it polls ~2 s, not the old 10 s
    assert leave_count(db_session) == 0


@pytest.mark.parametrize("app_overrides", [{"IDEMPOTENCY_WAIT_SECONDS": 0}])
def test_the_wait_is_configurable(client: Any, app: Any, phone: dict[str, str], world: World,
                                  db_session: Any) -> None:
    reserve(db_session, app, world, "young-2", age=LEASE - timedelta(seconds=1))
    started = time.monotonic()
    response = client.post(LEAVE, json=leave_body(), headers={**phone, "Idempotency-Key": "young-2"})
    assert response.status_code == 409 and response.headers["Retry-After"] == "1"  # one second of lease left
    assert time.monotonic() - started < 1


def test_a_late_finish_of_the_orphaned_request_does_not_overwrite_the_takeover(
        app: Any, world: World, db_session: Any) -> None:
    from flask import Response

    from web.idempotency import Reservation, _finish

    record = reserve(db_session, app, world, "late-1", age=LEASE)
    old = Reservation(record.id, record.created_at)
    settings = IdempotencySettings.from_config(app.config["CHECKIN"])
    with app.app_context():
        assert take_over(record, fingerprint=record.request_hash, at=NOW, settings=settings) is not None
        _finish(record.scope, record.key, old, Response("{}", status=201, mimetype="application/json"))
    db_session.expire_all()
    again = db_session.get(IdempotencyRecord, record.id)
    assert again.completed_at is None and again.created_at == NOW  # still the new owner's reservation


def test_two_concurrent_takeovers_have_one_winner(app: Any, world: World, db_session: Any) -> None:
    record = reserve(db_session, app, world, "race-1", age=LEASE + timedelta(seconds=5))
    settings = IdempotencySettings.from_config(app.config["CHECKIN"])
    barrier = threading.Barrier(4, timeout=30)

    def claim(_: int) -> bool:
        with app.app_context():
            barrier.wait()
            return take_over(record, fingerprint=record.request_hash, at=NOW, settings=settings) is not None

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sorted(pool.map(claim, range(4))) == [False, False, False, True]


def test_concurrent_retries_of_an_orphaned_request_record_it_once(
        app: Any, phone: dict[str, str], world: World, db_session: Any) -> None:
    reserve(db_session, app, world, "race-2", age=LEASE + timedelta(seconds=5))
    barrier = threading.Barrier(3, timeout=30)

    def send(_: int) -> tuple[int, str | None]:
        client = app.test_client()  # one test client per thread
        barrier.wait()
        response = client.post(LEAVE, json=leave_body(), headers={**phone, "Idempotency-Key": "race-2"})
        return response.status_code, response.headers.get("Idempotent-Replayed")

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(send, range(3)))
    assert sorted(results, key=str).count((201, None)) == 1, results  # one winner ran the request
    assert all(status in (201, 409) for status, _ in results), results
    assert leave_count(db_session) == 1


def test_a_finished_answer_is_replayed_until_it_expires_then_the_key_runs_again(
        client: Any, app: Any, clock: Any, phone: dict[str, str], db_session: Any) -> None:
    headers = {**phone, "Idempotency-Key": "old-1"}
    assert client.post(LEAVE, json=leave_body(), headers=headers).status_code == 201
    clock.advance(timedelta(hours=71))
    assert client.post(LEAVE, json=leave_body(), headers=headers).headers["Idempotent-Replayed"] == "true"
    clock.advance(timedelta(hours=2))
    fresh = client.post(LEAVE, json=leave_body(start=NOW + timedelta(days=10)), headers=headers)
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers
    assert leave_count(db_session) == 2


def test_the_sweep_prunes_expired_records_and_keeps_fresh_ones(app: Any, world: World, db_session: Any) -> None:
    finished = {"completed_at": NOW - timedelta(hours=73), "status_code": 201, "response": {"id": 1}}
    reserve(db_session, app, world, "expired", age=timedelta(hours=74), **finished)
    reserve(db_session, app, world, "orphaned", age=timedelta(hours=73))
    reserve(db_session, app, world, "fresh", age=timedelta(hours=71), completed_at=NOW - timedelta(hours=71),
            status_code=201)
    reserve(db_session, app, world, "running", age=timedelta(seconds=10))
    counts = run_sweep(session=db_session, now=NOW, settings=app.config["CHECKIN"])
    db_session.commit()
    assert counts["idempotency_pruned"] == 2
    assert sorted(db_session.scalars(select(IdempotencyRecord.key))) == ["fresh", "running"]
    again = run_sweep(session=db_session, now=NOW, settings=app.config["CHECKIN"])
    db_session.commit()
    assert again["idempotency_pruned"] == 0


def test_a_worker_killed_before_the_answer_is_stored_leaves_nothing_a_retry_would_duplicate(
        client: Any, app: Any, phone: dict[str, str], world: World, db_session: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import web.idempotency as idempotency

    def killed(*_args: Any, **_kwargs: Any) -> None:
        raise SystemExit("worker killed by the arbiter")  # not an Exception: nothing in the app handles it

    monkeypatch.setattr(idempotency, "_commit_with_answer", killed)
    headers = {**phone, "Idempotency-Key": "killed-1"}
    with pytest.raises(SystemExit):
        client.post(LEAVE, json=leave_body(), headers=headers)
    monkeypatch.undo()
    # The view ran to its end (its commit() asked for the commit), but its work commits only with the answer.
    assert leave_count(db_session) == 0
    (record,) = db_session.scalars(select(IdempotencyRecord))
    assert record.completed_at is None
    # After the lease a retry takes the key over and records the request: once, and replayed from then on.
    record.created_at = NOW - LEASE - timedelta(seconds=1)
    db_session.commit()
    retry = client.post(LEAVE, json=leave_body(), headers=headers)
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    again = client.post(LEAVE, json=leave_body(), headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json()["id"] == retry.get_json()["id"]
    assert leave_count(db_session) == 1


def test_a_retry_that_took_the_lease_over_keeps_its_work_and_the_late_request_is_dropped(
        client: Any, app: Any, phone: dict[str, str], world: World, db_session: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import web.idempotency as idempotency

    real = idempotency._commit_with_answer

    def late(scope: str, key: str, reservation: Any, response: Any) -> None:
        # While this request ran past its lease, a retry took the key over: the row's token (created_at) is no
        # longer this request's. (On SQLite the retry could not write while this request holds the write lock,
        # so the takeover is shown from this request's side: the token it holds is the old one.)
        stale = dataclasses.replace(reservation, token=reservation.token - timedelta(seconds=LEASE.seconds + 1))
        real(scope, key, stale, response)

    monkeypatch.setattr(idempotency, "_commit_with_answer", late)
    response = client.post(LEAVE, json=leave_body(), headers={**phone, "Idempotency-Key": "late-2"})
    assert response.status_code == 409 and response.get_json()["code"] == "idempotency_in_progress"
    assert response.headers["Retry-After"]
    assert leave_count(db_session) == 0


# ------------------------------------------------------------------------- blobs of a killed attempt


def killed_upload(client: Any, app: Any, phone: dict[str, str], key: str,
                  monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any]]:
    """A leave request with an attachment whose worker dies (kill -9) after storing the file, before its commit:
    nothing of the app runs after that, the blob's clean-up included. Returns the key and the form to resend."""
    import io

    import web.idempotency as idempotency
    from tests.web.test_outages import jpeg

    photo = jpeg()

    def form() -> dict[str, Any]:
        return {**leave_body(), "attachment": (io.BytesIO(photo), "note.jpg")}

    def killed(*_args: Any, **_kwargs: Any) -> None:
        raise SystemExit("worker killed")

    store = app.extensions["checkin.blobs"]
    with monkeypatch.context() as patch:
        patch.setattr(idempotency, "_commit_with_answer", killed)
        patch.setattr(store, "delete", lambda _key: None)  # a killed process deletes nothing
        with pytest.raises(SystemExit):
            client.post(LEAVE, data=form(), headers={**phone, "Idempotency-Key": key})
    return key, {"data": form}


def stored_keys(app: Any) -> set[str]:
    return {entry.key for entry in app.extensions["checkin.blobs"].keys()}


def test_a_retry_of_a_killed_upload_replaces_its_blob_instead_of_orphaning_it(
        client: Any, app: Any, phone: dict[str, str], world: World, db_session: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from supervision import fsck

    key, resend = killed_upload(client, app, phone, "killed-upload-1", monkeypatch)
    (left,) = stored_keys(app)  # the dead attempt's file, which no row points to
    assert leave_count(db_session) == 0
    # While its lease lasts the attempt may still be running: the file is in flight, not an orphan.
    report = fsck.check_blobs(session=db_session, blobs=app.extensions["checkin.blobs"], now=NOW, lease=LEASE)
    assert report.orphans == [] and report.young_unreferenced == 1

    (record,) = db_session.scalars(select(IdempotencyRecord))
    record.created_at = NOW - LEASE - timedelta(seconds=1)
    db_session.commit()
    retry = client.post(LEAVE, data=resend["data"](), headers={**phone, "Idempotency-Key": key})
    assert retry.status_code == 201, retry.get_json()
    db_session.expire_all()
    (leave,) = db_session.scalars(select(LeaveRequest))
    # The retry wrote its file under the same derived key: one blob, and the new row points to it.
    assert stored_keys(app) == {left} == {leave.attachment_blob_key}
    assert app.extensions["checkin.blobs"].get(left) == resend["data"]()["attachment"][0].getvalue()
    report = fsck.check_blobs(session=db_session, blobs=app.extensions["checkin.blobs"], now=NOW, lease=LEASE)
    assert report.orphans == [] and report.young_unreferenced == 0 and report.missing == []


def test_fsck_knows_the_blob_of_a_dead_attempt_that_was_never_retried_is_an_orphan(
        client: Any, app: Any, phone: dict[str, str], world: World, db_session: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from supervision import fsck

    killed_upload(client, app, phone, "killed-upload-2", monkeypatch)
    (left,) = stored_keys(app)
    blobs = app.extensions["checkin.blobs"]
    (record,) = db_session.scalars(select(IdempotencyRecord))
    # The file is minutes old, far inside fsck's grace period; what decides is whether its request can still be
    # running. Past one lease a retry could still take it over (and would rewrite the file): not yet an orphan.
    record.created_at = NOW - LEASE - timedelta(seconds=1)
    db_session.commit()
    assert fsck.check_blobs(session=db_session, blobs=blobs, now=NOW, lease=LEASE).orphans == []
    record.created_at = NOW - 2 * LEASE - timedelta(seconds=1)
    db_session.commit()
    report = fsck.check_blobs(session=db_session, blobs=blobs, now=NOW, lease=LEASE)
    assert report.orphans == [left] and report.young_unreferenced == 0
    assert fsck.repair_orphans(blobs=blobs, report=report) == 1
    assert stored_keys(app) == set()



def test_a_late_rollback_of_a_taken_over_request_keeps_the_retrys_blob(
        client: Any, app: Any, phone: dict[str, str], world: World, db_session: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A request that outlived its lease and lost it to a retry must not delete, when it rolls back, the file the
    retry wrote under the same derived key (the retry's row points to it)."""
    import io

    import web.idempotency as idempotency
    from tests.web.test_outages import jpeg

    real_still_owned = idempotency._still_owned
    seen: list[bool] = []

    def taken_over_meanwhile(reservation: Any) -> bool:
        # The retry took the lease over: the row now carries the retry's token, not this request's.
        with app.app_context():
            session = app.extensions["checkin.db"].session()
            session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == reservation.record_id)
                            .values(created_at=reservation.token + LEASE + timedelta(seconds=1)))
            session.commit()
            session.close()
        seen.append(real_still_owned(reservation))
        return seen[-1]

    def fails(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the commit failed")

    monkeypatch.setattr(idempotency, "_still_owned", taken_over_meanwhile)
    monkeypatch.setattr(idempotency, "_commit_with_answer", fails)
    form = {**leave_body(), "attachment": (io.BytesIO(jpeg()), "note.jpg")}
    failed = client.post(LEAVE, data=form, headers={**phone, "Idempotency-Key": "late-owner-1"})
    assert failed.status_code == 500
    assert seen == [False]
    assert len(stored_keys(app)) == 1  # kept: it is the retry's now


def test_a_rollback_while_the_reservation_is_still_ours_deletes_the_blob(
        client: Any, app: Any, phone: dict[str, str], world: World, db_session: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    import web.idempotency as idempotency
    from tests.web.test_outages import jpeg

    def fails(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the commit failed")

    monkeypatch.setattr(idempotency, "_commit_with_answer", fails)
    form = {**leave_body(), "attachment": (io.BytesIO(jpeg()), "note.jpg")}
    failed = client.post(LEAVE, data=form, headers={**phone, "Idempotency-Key": "own-rollback-1"})
    assert failed.status_code == 500
    assert stored_keys(app) == set()  # the failed request cleaned up its own file
