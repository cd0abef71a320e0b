"""server.composition: the policies are built once, at start-up, and every request uses them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.config import ConfigError
from storage.blobs import generate_key
from supervision.activities import ActivityPolicy
from supervision.duties import DutyPolicy
from supervision.leave import LeavePolicy
from supervision.policies import LoginLimits, Policies
from supervision.tasks import SpotCheckPolicy
from supervision.tracking import LocationPolicy
from web.db import policies

BUILDERS = (Policies, LeavePolicy, DutyPolicy, SpotCheckPolicy, ActivityPolicy, LocationPolicy, LoginLimits)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the policy classes built from configuration, in order, from now on."""
    built: list[str] = []
    for cls in BUILDERS:
        original = cls.__dict__["from_config"].__func__

        def counted(owner: Any, config: Any, *, _original: Any = original) -> Any:
            built.append(owner.__name__)
            return _original(owner, config)

        monkeypatch.setattr(cls, "from_config", classmethod(counted))
    return built


@pytest.fixture
def app_overrides(builds: list[str]) -> dict[str, Any]:
    # Depends on builds, so the counting starts before the app fixture's create_app.
    return {"LEAVE_OFFICE_OVERRIDES": '{"O1": {"min_notice_days": 1}}', "DUTY_OFFICE_OVERRIDES": '{"O1": {}}'}


def _settings(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return {"ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"), "JWT_SECRET_KEY": "k" * 40,
            "ENCRYPTION_KEY": generate_key(), "RATELIMIT_STORAGE_URL": "memory://", **overrides}


def test_requests_use_the_policies_built_once_at_start_up(app, client, auth, person, officer_headers, builds):
    phone = auth.person(person.code)

    for _ in range(2):
        assert client.get("/api/v1/me", headers=phone).status_code == 200
        overdue = client.get("/api/v1/officer/leave-requests/overdue", headers=officer_headers)
        assert overdue.status_code == 200, overdue.get_json()

    # Each policy was built once, by create_app; the logins and the requests built none again.
    assert sorted(builds) == sorted(cls.__name__ for cls in BUILDERS)
    with app.test_request_context():
        first = policies()
    with app.test_request_context():
        second = policies()
    assert first is second is app.extensions["checkin.services"].policies
    assert first.leave.for_office("O1").min_notice_days == 1
    assert first.sweep.leave is first.leave and first.sweep.duties is first.duty


@pytest.mark.parametrize(("setting", "value", "words"), [
    ("LEAVE_OFFICE_OVERRIDES", '{"O1": {"max_days": 3', "Expecting"),
    ("DUTY_OFFICE_OVERRIDES", '{"O1": {"strictest": {"days": "mon"}}}', "strictest"),
    ("SPOT_CHECK_RANDOM_RATES", '{"strict": 2}', "SPOT_CHECK_RANDOM_RATES"),
    ("HOURS_REQUIRED", "[1, 2]", "HOURS_REQUIRED"),
    ("RETENTION_AUDIT_DAYS", 30, "RETENTION_AUDIT_DAYS"),
])
def test_a_malformed_policy_setting_stops_create_app(tmp_path, setting, value, words):
    from server import create_app

    with pytest.raises(ConfigError, match=words) as raised:
        create_app(_settings(tmp_path, **{setting: value}))

    message = str(raised.value)
    assert message.startswith("supervision rules: ") and "\n" not in message

