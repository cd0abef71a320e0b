"""Fixtures of the HTTP-layer tests: the leave tests' world (an office, officers, a person) at their fixed time."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import World, make_world
from tests.leave.conftest import NOW, PASSWORD


@pytest.fixture
def world(db_session: Any, clock: Any) -> World:
    clock.at = NOW
    return make_world(db_session, PASSWORD)


@pytest.fixture
def phone(auth: Any, world: World) -> dict[str, str]:
    return auth.person("P001", password=PASSWORD)
