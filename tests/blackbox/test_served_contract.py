"""The HTTP contract, exercised from outside against `checkin init-db` + `checkin serve` on a fresh instance."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, base: str, env: dict[str, str]) -> None:
        self.base = base
        self.env = env

    def call(self, method: str, path: str, *, token: str | None = None, body: Any = None,
             data: bytes | None = None, content_type: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        request_headers = dict(headers or {})
        if token:
            request_headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = json.dumps(body).encode()
            content_type = "application/json"
        if content_type:
            request_headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=request_headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                return response.status, dict(response.headers), json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, dict(error.headers), json.loads(raw) if raw else None


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    instance = tmp_path_factory.mktemp("instance")
    env = {**os.environ, "CHECKIN_INSTANCE_PATH": str(instance)}
    for name in ("CHECKIN_DATABASE_URL", "CHECKIN_TEST_DATABASE_URL"):
        env.pop(name, None)
    subprocess.run([BIN / "checkin", "init-db"], env=env, check=True, capture_output=True)
    subprocess.run([BIN / "checkin", "create-office", "BB1", "--name", "城关司法所", "--county", "示范区"],
                   env=env, check=True, capture_output=True)
    subprocess.run([BIN / "checkin", "create-officer", "bb-officer", "--office", "BB1", "--password-stdin"],
                   env=env, check=True, capture_output=True, input=b"bb-officer-password\n")
    port = _free_port()
    process = subprocess.Popen([BIN / "checkin", "serve", "--port", str(port), "--workers", "1"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("checkin serve did not come up") from None
                time.sleep(0.3)
        yield Server(base, env)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_service_endpoints(server: Server) -> None:
    assert server.call("GET", "/healthz")[0] == 200
    assert server.call("GET", "/readyz")[0] == 200
    status, _, spec = server.call("GET", "/api/v1/openapi.json")
    assert status == 200
    for path in ("/api/v1/auth/login", "/api/v1/checkins", "/api/v1/officer/checkins/{checkin_id}/review"):
        assert path in spec["paths"]


def test_errors_are_problem_json(server: Server) -> None:
    status, headers, body = server.call("POST", "/api/v1/auth/login", body={"username": "nobody", "password": "x"})
    assert status == 401
    assert headers["Content-Type"].startswith("application/problem+json")
    assert body["code"] == "invalid_credentials"
    status, _, body = server.call("GET", "/api/v1/officer/persons")
    assert status == 401 and body["code"] == "unauthorized"


def test_enrol_and_check_in_through_the_served_api(server: Server, faces_dir: Path) -> None:
    status, _, tokens = server.call("POST", "/api/v1/auth/login",
                                    body={"username": "bb-officer", "password": "bb-officer-password"})
    assert status == 200 and tokens["role"] == "officer"
    officer = tokens["access_token"]
    status, _, person = server.call("POST", "/api/v1/officer/persons", token=officer, body={
        "code": "BB-0001", "name": "测试", "gender": "male", "birth_date": "1980-02-02",
        "sentence_type": "probation", "supervision_level": "strict", "start_date": "2026-01-01",
        "end_date": "2028-01-01", "office_code": "BB1", "password": "bb-person-password",
        "home": {"lat": 31.2304, "lon": 121.4737, "radius_m": 3000}})
    assert status == 201, person
    photos = sorted((faces_dir / "people" / "Andre_Agassi").glob("*.jpg"), key=lambda p: int(p.stem))
    enrolled: list[Path] = []
    for photo in photos:
        data, content_type = _multipart({}, {"photo": (photo.name, photo.read_bytes())})
        status, _, body = server.call("POST", f"/api/v1/officer/persons/{person['id']}/faces", token=officer,
                                      data=data, content_type=content_type)
        if status == 201:
            enrolled.append(photo)
        else:
            assert status == 422 and body["code"], body
        if len(enrolled) == 3:
            break
    assert len(enrolled) == 3

    status, _, tokens = server.call("POST", "/api/v1/auth/login", body={
        "username": "BB-0001", "password": "bb-person-password", "device_id": "phone-bb"})
    assert status == 200 and tokens["role"] == "person"
    person_token = tokens["access_token"]
    probe = next(p for p in photos if p not in enrolled)
    fields = {"latitude": "31.2310", "longitude": "121.4740", "accuracy_m": "15",
              "captured_at": datetime.now(UTC).isoformat()}
    data, content_type = _multipart(fields, {"photo": ("selfie.jpg", probe.read_bytes())})
    key = {"Idempotency-Key": uuid.uuid4().hex}
    status, _, first = server.call("POST", "/api/v1/checkins", token=person_token, data=data,
                                   content_type=content_type, headers=key)
    assert status == 201, first
    assert first["status"] in ("verified", "needs_review")
    assert first["location"] == {"inside_area": True}
    status, headers, again = server.call("POST", "/api/v1/checkins", token=person_token, data=data,
                                         content_type=content_type, headers=key)
    assert status == 201 and again == first and headers.get("Idempotent-Replayed") == "true"

    status, _, history = server.call("GET", "/api/v1/checkins", token=person_token)
    assert [item["id"] for item in history["items"]] == [first["id"]]
    status, _, detail = server.call("GET", f"/api/v1/officer/checkins/{first['id']}", token=officer)
    assert status == 200 and detail["match"]["distance"] == first["match"]["distance"]
    status, _, other = server.call("GET", f"/api/v1/officer/checkins/{first['id']}", token=person_token)
    assert status == 403 and other["code"] == "forbidden"
