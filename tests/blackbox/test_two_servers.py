"""Two `checkin serve` processes on one PostgreSQL, one Redis and one S3 object store serve the same instance:
check-ins retried on the same Idempotency-Keys across both give exactly one row each, a review decided on both at
once has one winner, login limits count across both, and every stored photo is in the shared bucket.

Needs CHECKIN_TEST_DATABASE_URL (PostgreSQL), CHECKIN_TEST_REDIS_URL and ../shared/faces; skipped otherwise.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from storage.blobs import S3BlobStore
from storage.crypto import Keyring, generate_key
from tests.blackbox.test_served_contract import BIN, Server, _free_port, _multipart
from tests.conftest import TEST_BUCKET, _empty_tables, s3_settings

CHECKINS = 200
PASSWORD = "two-servers-pw-1"


@pytest.fixture(scope="module")
def shared_services(database_url: str) -> dict[str, str]:
    if not database_url.startswith("postgresql"):
        pytest.skip("two servers need PostgreSQL: set CHECKIN_TEST_DATABASE_URL to a postgresql+psycopg:// URL")
    redis_url = os.environ.get("CHECKIN_TEST_REDIS_URL")
    if not redis_url:
        pytest.skip("CHECKIN_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15)")
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {redis_url} is not reachable: {exc}")
    return {"database": database_url, "redis": redis_url}


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("checkin serve did not come up") from None
            time.sleep(0.3)


@pytest.fixture(scope="module")
def servers(shared_services: dict[str, str], s3_endpoint: str, faces_dir: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Server], dict[str, Any]]]:
    s3 = s3_settings(s3_endpoint)
    keyring = f"k2026:{generate_key()}"
    common = {**os.environ, "CHECKIN_ENV": "production", "CHECKIN_DATABASE_URL": shared_services["database"],
              "CHECKIN_RATELIMIT_STORAGE_URL": shared_services["redis"], "CHECKIN_JWT_SECRET_KEY": "t" * 48,
              "CHECKIN_ENCRYPTION_KEYS": keyring, "CHECKIN_BLOB_BACKEND": "s3", "CHECKIN_S3_BUCKET": TEST_BUCKET,
              "CHECKIN_S3_PREFIX": s3["S3_PREFIX"], "CHECKIN_S3_ENDPOINT_URL": s3_endpoint,
              "CHECKIN_S3_REGION": "us-east-1", "CHECKIN_IDEMPOTENCY_WAIT_SECONDS": "1"}
    common.pop("CHECKIN_ENCRYPTION_KEY", None)
    common.pop("CHECKIN_TEST_DATABASE_URL", None)
    # Each server has an instance folder of its own: nothing they share may live there.
    envs = [{**common, "CHECKIN_INSTANCE_PATH": str(tmp_path_factory.mktemp(f"server{n}"))} for n in range(2)]
    subprocess.run([BIN / "checkin", "create-office", "TS1", "--name", "城关司法所", "--county", "示范区"],
                   env=envs[0], check=True, capture_output=True)
    subprocess.run([BIN / "checkin", "create-officer", "ts-officer", "--office", "TS1", "--password-stdin"],
                   env=envs[0], check=True, capture_output=True, input=f"{PASSWORD}\n".encode())
    processes: list[subprocess.Popen[bytes]] = []
    try:
        servers = []
        for env in envs:
            port = _free_port()
            processes.append(subprocess.Popen([BIN / "checkin", "serve", "--port", str(port), "--workers", "1",
                                               "--threads", "4"], env=env, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))
            servers.append(Server(f"http://127.0.0.1:{port}", env))
        for server, process in zip(servers, processes, strict=True):
            _wait_ready(server.base, process)
        yield servers, {"s3_prefix": s3["S3_PREFIX"], "keyring": keyring, "endpoint": s3_endpoint}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        _empty_tables(shared_services["database"])


def _login(server: Server, username: str, device_id: str | None = None) -> str:
    body: dict[str, Any] = {"username": username, "password": PASSWORD}
    if device_id:
        body["device_id"] = device_id
    status, _, tokens = server.call("POST", "/api/v1/auth/login", body=body)
    assert status == 200, tokens
    return tokens["access_token"]


def _post_until_done(server: Server, token: str, data: bytes, content_type: str, key: str) -> tuple[int, Any, bool]:
    """A client's retries: an answer still in progress (409) or an outage (503) is retried after Retry-After."""
    for _ in range(60):
        status, headers, body = server.call("POST", "/api/v1/checkins", token=token, data=data,
                                            content_type=content_type, headers={"Idempotency-Key": key})
        if status in (409, 503) and (body or {}).get("code") in ("idempotency_in_progress", "service_unavailable"):
            time.sleep(min(float(headers.get("Retry-After", "1")), 1.0))
            continue
        return status, body, headers.get("Idempotent-Replayed") == "true"
    raise AssertionError(f"key {key} never finished")


def _rows(database_url: str, sql: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def test_two_servers_share_checkins_reviews_limits_and_blobs(servers, shared_services, faces_dir):
    (one, two), shared = servers
    officer_one, officer_two = _login(one, "ts-officer"), _login(two, "ts-officer")
    status, _, person = one.call("POST", "/api/v1/officer/persons", token=officer_one, body={
        "code": "TS-0001", "name": "测试", "gender": "male", "birth_date": "1980-02-02",
        "sentence_type": "probation", "supervision_level": "strict", "start_date": "2026-01-01",
        "end_date": "2028-01-01", "office_code": "TS1", "password": PASSWORD,
        "home": {"lat": 31.2304, "lon": 121.4737, "radius_m": 3000}})
    assert status == 201, person
    photos = sorted((faces_dir / "people" / "Andre_Agassi").glob("*.jpg"), key=lambda p: int(p.stem))
    enrolled: list[Path] = []
    for n, photo in enumerate(photos):
        data, content_type = _multipart({}, {"photo": (photo.name, photo.read_bytes())})
        # Enrolments alternate between the servers too: each sees the other's references.
        status, _, body = (one, two)[n % 2].call("POST", f"/api/v1/officer/persons/{person['id']}/faces",
                                                 token=(officer_one, officer_two)[n % 2], data=data,
                                                 content_type=content_type)
        if status == 201:
            enrolled.append(photo)
        if len(enrolled) == 3:
            break
    assert len(enrolled) == 3
    probe = next(p for p in photos if p not in enrolled).read_bytes()
    phone = [_login(server, "TS-0001", "phone-ts") for server in (one, two)]

    def check_in(n: int) -> list[tuple[int, Any, bool]]:
        # Bytes after the JPEG's end are ignored by decoders but make every selfie a new photo (no duplicate rule).
        fields = {"latitude": "31.2310", "longitude": "121.4740", "accuracy_m": "15",
                  "captured_at": datetime.now(UTC).isoformat()}
        data, content_type = _multipart(fields, {"photo": ("selfie.jpg", probe + secrets.token_bytes(16))})
        key = uuid.uuid4().hex
        first, second = (one, two) if n % 2 else (two, one)
        # The client sends, times out and retries on the other server, while the first one is still working.
        with ThreadPoolExecutor(max_workers=2) as both:
            answers = [both.submit(_post_until_done, server, phone[i], data, content_type, key)
                       for i, server in ((0, first), (1, second))]
            return [answer.result() for answer in answers]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(check_in, range(CHECKINS)))
    elapsed = time.monotonic() - started

    ids = set()
    for pair in results:
        assert [status for status, _body, _replayed in pair] == [201, 201], pair
        assert pair[0][1]["id"] == pair[1][1]["id"]  # the retry got the same check-in
        assert sum(replayed for _s, _b, replayed in pair) >= 1  # one of the two was a replay
        ids.add(pair[0][1]["id"])
    assert len(ids) == CHECKINS
    [(rows,)] = _rows(shared_services["database"], "SELECT count(*) FROM checkin")
    assert rows == CHECKINS, f"{rows} rows for {CHECKINS} check-ins ({elapsed:.0f} s)"

    # A check-in away from home needs review; two officers on two servers decide at once: one wins.
    fields = {"latitude": "39.9042", "longitude": "116.4074", "accuracy_m": "15",
              "captured_at": datetime.now(UTC).isoformat()}
    data, content_type = _multipart(fields, {"photo": ("away.jpg", probe + secrets.token_bytes(16))})
    status, away, _replayed = _post_until_done(two, phone[1], data, content_type, uuid.uuid4().hex)
    assert status == 201 and away["status"] == "needs_review", away
    with ThreadPoolExecutor(max_workers=2) as both:
        decisions = [both.submit(server.call, "POST", f"/api/v1/officer/checkins/{away['id']}/review",
                                 token=token, body={"decision": "accept", "note": "visiting family"})
                     for server, token in ((one, officer_one), (two, officer_two))]
        answers = sorted(decision.result()[0] for decision in decisions)
    assert answers == [200, 409]

    # Failed logins count on both servers: the sixth wrong password for a username is refused wherever it lands.
    username = f"nobody-{uuid.uuid4().hex[:8]}"
    statuses = [(one, two)[n % 2].call("POST", "/api/v1/auth/login",
                                       body={"username": username, "password": "wrong-password"})[0]
                for n in range(6)]
    assert statuses == [401] * 5 + [429]

    # Every photo row points to an object in the shared bucket, and the bucket holds nothing else.
    store = S3BlobStore(bucket=TEST_BUCKET, key=Keyring.parse(shared["keyring"]), prefix=shared["s3_prefix"],
                        endpoint_url=shared["endpoint"], region="us-east-1")
    keys = {key for (key,) in _rows(shared_services["database"],
                                    "SELECT photo_blob_key FROM checkin UNION SELECT blob_key FROM reference_face")}
    assert {entry.key for entry in store.keys()} == keys
    assert len(keys) == CHECKINS + 1 + 3
    [(away_key,)] = _rows(shared_services["database"],
                          f"SELECT photo_blob_key FROM checkin WHERE id = {int(away['id'])}")
    assert store.get(away_key).startswith(probe)  # sealed by one server's keyring, opened with the shared one
    print(f"{CHECKINS} check-ins, each sent to both servers: {elapsed:.1f} s")
