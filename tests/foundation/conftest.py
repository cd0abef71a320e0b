"""Fixtures for the foundation tests: seeded accounts and test-only probe routes."""

from __future__ import annotations

from typing import Any

import pytest
from flask import jsonify

from tests.foundation.helpers import PROBE_ME, PROBE_OFFICER
from web.auth import auth_required, current_actor


@pytest.fixture
def probe_calls(app: Any) -> list[str]:
    """Registers test-only routes guarded by web.auth.auth_required; lists the views that actually ran."""
    calls: list[str] = []

    @auth_required()
    def me() -> Any:
        calls.append("me")
        actor = current_actor()
        return jsonify(role=actor.role, id=actor.id, session_id=actor.session_id)

    @auth_required("officer")
    def officer_only() -> Any:
        calls.append("officer_only")
        return jsonify(secret="officer data")

    app.add_url_rule(PROBE_ME, "test_probe_me", me)
    app.add_url_rule(PROBE_OFFICER, "test_probe_officer", officer_only)
    return calls
