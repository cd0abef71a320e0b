"""Assertions shared by the foundation tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
PROBE_ME = "/_test/me"  # test-only routes registered by the probe_calls fixture
PROBE_OFFICER = "/_test/officer-only"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Check an RFC 9457 problem response and hand back its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert PROBLEM_KEYS <= body.keys(), body
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith(code)
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def count_rows(session: Session, model: type) -> int:
    """Rows of model as committed now (the session's earlier snapshot is dropped first)."""
    session.rollback()
    return session.scalar(select(func.count()).select_from(model)) or 0
