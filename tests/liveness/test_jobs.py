"""Clips processed off the request thread: the in-process thread pool, and RQ on Redis (CHECKIN_TEST_REDIS_URL)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from server import jobs as worker_jobs
from storage.models import Task
from tests.liveness.conftest import PERSON_IDENTITY, photo_path, post_multipart, upload
from tests.verification_video.clips import still_clip
from web.jobs import jobs


@pytest.fixture(params=["threads", "rq"])
def app_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    config: dict[str, Any] = {"JOBS_SYNC": False}
    if request.param == "rq":
        url = os.environ.get("CHECKIN_TEST_REDIS_URL")
        if not url:
            pytest.skip("CHECKIN_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15)")
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        except redis.RedisError as exc:
            pytest.skip(f"Redis at {url} is not reachable: {exc}")
        config.update(QUEUE_URL=url, QUEUE_NAME=f"checkin-test-{uuid.uuid4().hex[:12]}")
    return config


@pytest.fixture(scope="module")
def clip(tmp_path_factory, media_dir) -> bytes:
    return still_clip(tmp_path_factory.mktemp("clips") / "person.mp4", photo_path(media_dir, PERSON_IDENTITY, 2),
                      seconds=1.0)


def test_a_clip_is_processed_in_the_background(app, client, auth, enrolled, officer, clip, db_session):
    created = client.post(f"/api/v1/officer/persons/{enrolled.id}/video-inspections",
                          headers=auth.headers("officer1"), json={"respond_within_minutes": 30}).get_json()

    response = post_multipart(client, f"/api/v1/video-inspections/{created['id']}/clip", auth.person("P001"),
                              {"video": upload(clip, "clip.mp4")})

    assert response.status_code == 202
    with app.app_context():
        mode = jobs.mode
    if mode == "threads":
        assert jobs.drain(app, timeout=120)
    else:
        from redis import Redis
        from rq import Queue, SimpleWorker

        config = app.config["CHECKIN"]
        db_session.rollback()
        assert db_session.get(Task, created["id"]).status == "processing"  # queued, waiting for a worker
        connection = Redis.from_url(config["QUEUE_URL"])
        queue = Queue(config["QUEUE_NAME"], connection=connection)
        assert queue.count == 1 and jobs.ping(app)
        worker_jobs.configure_worker(config)
        try:
            SimpleWorker([queue], connection=connection).work(burst=True)
        finally:
            worker_jobs.reset_worker()
            queue.delete(delete_jobs=True)
            for key in connection.scan_iter(f"*{config['QUEUE_NAME']}*"):
                connection.delete(key)  # the registries RQ keeps per queue
    db_session.rollback()
    task = db_session.get(Task, created["id"])
    assert task.status == "completed", task.result
    assert task.result["frames_sampled"] == 3 and task.result["frames_matching"] == 3
    assert len(task.result["key_frames"]) >= 1
