"""Delivery beyond the inbox: a webhook sender on a receiver started in the test (127.0.0.1 only). A failing
gateway is retried and the message marked failed, and the request that caused the message does not wait for it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from storage.models import Message
from web.jobs import jobs

MESSAGES = "/api/v1/officer/messages"


class Receiver:
    """A tiny gateway: records each POST, optionally waits for a release, then answers with status."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.release.set()
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.arrived.set()
                receiver.release.wait(timeout=20)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    with Receiver(getattr(request, "param", 500)) as running:
        yield running


@pytest.fixture
def app_overrides(receiver: Receiver) -> dict[str, Any]:
    # Threads, not inline jobs: the delivery must run off the request.
    return {"MESSAGE_SENDER": "webhook", "MESSAGE_WEBHOOK_URL": receiver.url, "MESSAGE_WEBHOOK_ATTEMPTS": 3,
            "MESSAGE_WEBHOOK_BACKOFF_SECONDS": 0.05, "MESSAGE_WEBHOOK_TIMEOUT_SECONDS": 15, "JOBS_SYNC": False,
            "QUEUE_URL": ""}


def _message(db_session: Any, message_id: int) -> Message:
    db_session.rollback()
    message = db_session.scalar(select(Message).where(Message.id == message_id))
    assert message is not None
    return message


def test_failing_webhook_is_retried_then_marked_failed_without_blocking_the_request(app, client, db_session, auth,
                                                                                     world, receiver):
    officer = auth.headers("officer1")
    receiver.release.clear()  # the gateway hangs until the test lets it answer

    started = time.monotonic()
    response = client.post(MESSAGES, headers=officer, json={"person_ids": [world.person.id], "title": "通知",
                                                            "body": "请于周五到所。"})
    answered_in = time.monotonic() - started

    assert response.status_code == 201, response.get_json()
    message_id = response.get_json()["messages"][0]["id"]
    # The answer came while the gateway was still holding the first delivery attempt open.
    assert receiver.arrived.wait(timeout=10), "the delivery job never called the gateway"
    assert not receiver.release.is_set()
    assert answered_in < 10
    assert _message(db_session, message_id).delivery_status == "sending"

    receiver.release.set()
    assert jobs.drain(app, timeout=30)
    message = _message(db_session, message_id)
    assert (message.delivery_status, message.delivery_attempts) == ("failed", 3)
    assert message.delivery_error == "HTTP 500"
    assert len(receiver.bodies) == 3
    assert receiver.bodies[0] == {"id": message_id, "person_code": "P001", "kind": "officer", "title": "通知",
                                  "body": "请于周五到所。", "created_at": message.created_at.isoformat(),
                                  "data": {"from": "officer1"}}
    listed = client.get(f"{MESSAGES}?delivery_status=failed", headers=officer).get_json()["items"]
    assert [(m["id"], m["delivery_attempts"]) for m in listed] == [(message_id, 3)]
    # The inbox has it regardless.
    assert [m["id"] for m in client.get("/api/v1/messages", headers=auth.person("P001")).get_json()["items"]] == [
        message_id]


@pytest.mark.parametrize("receiver", [204], indirect=True)
def test_working_webhook_delivers_once(app, client, db_session, auth, world, receiver):
    officer = auth.headers("officer1")
    response = client.post(f"/api/v1/officer/persons/{world.person.id}/spot-checks", headers=officer,
                           json={"respond_within_minutes": 30})
    assert response.status_code == 201

    assert jobs.drain(app, timeout=30)
    message = db_session.scalar(select(Message).where(Message.person_id == world.person.id))
    assert message is not None
    assert (message.kind, message.delivery_status, message.delivery_attempts) == ("spot_check", "delivered", 1)
    assert message.delivered_at is not None
    assert [body["kind"] for body in receiver.bodies] == ["spot_check"]
