"""The console's error pages: web.problems decides what an error means (status, code, headers), as for the API, and
the console renders its HTML page for it, in the page language, without internals."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from supervision import reports


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def test_a_database_that_is_down_is_a_503_page_with_retry_after(officer_console: Any, app: Any) -> None:
    from storage.db import Database

    unreachable = Database()
    unreachable.configure("postgresql+psycopg://nobody@127.0.0.1:1/none")
    working = app.extensions["checkin.db"]
    app.extensions["checkin.db"] = unreachable
    try:
        response = officer_console.get("/console/persons")
    finally:
        app.extensions["checkin.db"] = working
        unreachable.engine.dispose()  # type: ignore[union-attr]

    assert response.status_code == 503 and response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    assert "服务暂时不可用，请稍后重试。" in _text(response)
    assert "psycopg" not in _text(response) and "127.0.0.1" not in _text(response)


def test_an_unexpected_error_is_a_500_page_without_internals_and_is_logged(
        officer_console: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def boom(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret internal detail at /srv/checkin")

    monkeypatch.setattr(reports, "queue_counts", boom)
    with caplog.at_level(logging.ERROR, logger="web.problems"):
        response = officer_console.get("/console/")

    assert response.status_code == 500 and response.mimetype == "text/html"
    assert "操作未完成，请检查后重试。" in _text(response)
    assert "secret internal detail" not in _text(response)
    assert [r.exc_info[1] for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], RuntimeError)]


def test_a_record_outside_the_scope_is_the_not_found_page(officer_console: Any) -> None:
    missing = officer_console.get("/console/persons/999999")

    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "未找到该记录，或不在您的管辖范围内。" in _text(missing)
