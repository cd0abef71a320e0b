"""The liveness policy as a table: which check-ins must carry a challenge, by mode, level and kind."""

from __future__ import annotations

import pytest

from supervision.liveness import LivenessPolicy

KINDS = ("scheduled", "spot_check", "leave_return", "activity")


@pytest.mark.parametrize(("mode", "required_for"), [
    ("off", set()),
    ("spot_checks", {"spot_check"}),
    # A leave return and attendance at a session are never guarded: an officer or the venue is the second check.
    ("always", {"scheduled", "spot_check"}),
])
def test_which_kinds_need_a_challenge(mode: str, required_for: set[str]) -> None:
    policy = LivenessPolicy(mode=mode)
    assert {kind for kind in KINDS if policy.required(level="ordinary", kind=kind)} == required_for


def test_a_level_of_its_own_overrides_the_mode() -> None:
    policy = LivenessPolicy(mode="off", by_level={"strict": "always"})
    assert policy.required(level="strict", kind="scheduled")
    assert not policy.required(level="ordinary", kind="scheduled")


def test_an_unknown_mode_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="unknown liveness mode"):
        LivenessPolicy(mode="alwyas").required(level="ordinary", kind="scheduled")
