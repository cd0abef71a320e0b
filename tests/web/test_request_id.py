"""X-Request-ID in and out, and log records that carry it (JSON and text)."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from server.logs import JsonFormatter, RequestIdFilter, make_formatter
from server.progress import progress

REPO = Path(__file__).resolve().parents[2]


def test_a_sane_request_id_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "lb-2f9c.17:a"})

    assert response.headers["X-Request-ID"] == "lb-2f9c.17:a"


@pytest.mark.parametrize("given", [None, "", "has spaces", "x" * 129, "tab\there", "引号", "a;b"])
def test_a_missing_or_unsafe_request_id_is_replaced(client, given):
    headers = {} if given is None else {"X-Request-ID": given}

    response = client.get("/healthz", headers=headers)

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_error_answers_carry_the_request_id_too(client):
    response = client.get("/api/v1/no-such-thing", headers={"X-Request-ID": "abc-404"})

    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "abc-404"


@pytest.fixture
def capture():  # type: ignore[no-untyped-def]
    """Attach a handler with a given formatter to the access logger; hand back what it wrote."""
    logger = logging.getLogger("checkin.request")
    attached: list[logging.Handler] = []
    level = logger.level

    def attach(formatter: logging.Formatter) -> io.StringIO:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        attached.append(handler)
        return stream

    yield attach
    for handler in attached:
        logger.removeHandler(handler)
    logger.setLevel(level)


def test_the_access_line_is_json_with_the_request_id(client, capture):
    stream = capture(JsonFormatter())
    client.get("/healthz", headers={"X-Request-ID": "json-1"})

    record = json.loads(stream.getvalue().splitlines()[-1])
    assert record["request_id"] == "json-1"
    assert (record["logger"], record["method"], record["path"], record["status"]) == (
        "checkin.request", "GET", "/healthz", 200)
    assert record["level"] == "INFO" and record["time"].endswith("+00:00")
    assert isinstance(record["duration_ms"], float)


def test_text_lines_carry_the_request_id(client, capture):
    stream = capture(make_formatter("text"))
    client.get("/healthz", headers={"X-Request-ID": "text-1"})

    assert "[text-1]: GET /healthz 200" in stream.getvalue()


def test_json_records_outside_a_request_and_with_a_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("t").makeRecord("t", logging.ERROR, __file__, 1, "failed %s", ("x",),
                                                  sys.exc_info(), extra={"task_id": 7})
    body = json.loads(JsonFormatter().format(record))

    assert body["message"] == "failed x" and body["task_id"] == 7
    assert "request_id" not in body
    assert "ValueError: boom" in body["exc_info"]


def test_a_fresh_process_logs_json_on_stderr():
    # Outside pytest nothing else owns the root logger: create_app installs the JSON handler itself.
    script = ("import tempfile; from server import create_app; from storage.blobs import generate_key; "
              "d = tempfile.mkdtemp(); app = create_app({'ENV': 'testing', 'INSTANCE_PATH': d, "
              "'DATABASE_URL': 'sqlite:///' + d + '/x.db', 'JWT_SECRET_KEY': 'j' * 40, "
              "'ENCRYPTION_KEY': generate_key(), 'LOG_FORMAT': 'json'}); "
              "app.test_client().get('/healthz', headers={'X-Request-ID': 'child-1'})")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin"})

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "child-1" and line["path"] == "/healthz" for line in lines), result.stderr


def test_progress_is_logged_without_a_terminal(caplog):
    ticks = iter(range(1000))
    with caplog.at_level(logging.INFO, logger="checkin.progress"):
        with progress(20, "re-encoding 20 references", clock=lambda: float(next(ticks))) as update:
            for _ in range(20):
                update(1)

    messages = [r.getMessage() for r in caplog.records if r.name == "checkin.progress"]
    assert messages[0] == "re-encoding 20 references: started, 20 to do"
    assert "re-encoding 20 references: 2/20 (10%)" in messages
    assert "re-encoding 20 references: 20/20 (100%)" in messages
    assert messages[-1].startswith("re-encoding 20 references: finished 20/20 in ")
    # About one line per tenth of the work, not one per item.
    assert 10 <= len(messages) <= 13
    assert all(r.done <= r.total == 20 for r in caplog.records if r.name == "checkin.progress")
