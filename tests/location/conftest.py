"""Fixtures for location supervision: a person living by Jing'an Temple (静安寺), Shanghai, with tracking on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from supervision.clock import FrozenClock
from tests.factories import make_office, make_officer, make_person

# Monday 30 November 2026, 08:00 in Shanghai (00:00 UTC).
START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
SHANGHAI = ZONE_NAME = "Asia/Shanghai"

# Real places (WGS-84).
JINGAN_TEMPLE = (31.2237, 121.4453)  # 静安寺, the home; home area radius 2 km
NANJING_WEST_ROAD = (31.2290, 121.4590)  # 南京西路, ~1.4 km from home: inside
LUJIAZUI = (31.2397, 121.4998)  # 陆家嘴, Pudong, ~5.5 km from home: outside the home area, inside the county
XUJIAHUI = (31.1950, 121.4370)  # 徐家汇, ~3.4 km from home
SONGJIANG = (31.0320, 121.2270)  # 松江, on the way to Hangzhou, ~30 km
JIAXING = (30.7530, 120.7580)  # 嘉兴, Zhejiang, on the way, ~85 km
HANGZHOU_WEST_LAKE = (30.2590, 120.1500)  # 杭州西湖, ~165 km
NEAR_NANJING = (32.0000, 118.3000)  # west of 南京, ~310 km from home

HOME_RADIUS_M = 2000.0


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def person(db_session: Any, office: Any) -> Any:
    return make_person(db_session, office, "P001", home_lat=JINGAN_TEMPLE[0], home_lon=JINGAN_TEMPLE[1],
                       home_radius_m=HOME_RADIUS_M, supervision_level="strict", created_at=START - timedelta(days=60))


@pytest.fixture
def other_office(db_session: Any) -> Any:
    return make_office(db_session, "O2", county="C1")


@pytest.fixture
def other_officer(db_session: Any, other_office: Any) -> Any:
    return make_officer(db_session, other_office, "officer2")


@pytest.fixture
def phone(auth: Any, person: Any) -> dict[str, str]:
    return auth.person(person.code)


@pytest.fixture
def tracked(client: Any, officer_headers: dict[str, str], person: Any) -> Any:
    """Tracking switched on at START by officer1, every 5 minutes, until the end of December."""
    response = client.post(f"/api/v1/officer/persons/{person.id}/tracking", headers=officer_headers,
                           json={"reason": "strict level, 禁止令 in force", "until": date(2026, 12, 31).isoformat(),
                                 "interval_minutes": 5})
    assert response.status_code == 200, response.get_json()
    return person


def fix(client_id: str, at: datetime, place: tuple[float, float], accuracy_m: float = 12.0, **extra: Any) -> dict:
    """A fix as the phone sends it."""
    return {"id": client_id, "at": at.isoformat(), "lat": place[0], "lon": place[1], "accuracy_m": accuracy_m,
            **extra}


def series(prefix: str, start: datetime, places: list[tuple[float, float]], step: timedelta,
           accuracy_m: float = 12.0) -> list[dict]:
    """One fix per place, step apart."""
    return [fix(f"{prefix}-{i}", start + i * step, place, accuracy_m) for i, place in enumerate(places)]


def route(a: tuple[float, float], b: tuple[float, float], n: int) -> list[tuple[float, float]]:
    """n points from a to b, both included."""
    return [(a[0] + (b[0] - a[0]) * i / (n - 1), a[1] + (b[1] - a[1]) * i / (n - 1)) for i in range(n)]
