"""Distances on the WGS-84 sphere and the area rule of check-ins."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points given in decimal degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Area:
    kind: str  # "home" | "leave"
    lat: float
    lon: float
    radius_m: float
    ref_id: int | None = None  # the leave request for kind "leave"


def locate(lat: float, lon: float, accuracy_m: float, areas: list[Area]) -> tuple[Area | None, float | None]:
    """The first area the point may be inside (distance <= radius + accuracy) and the distance to home."""
    home_distance = None
    found = None
    for area in areas:
        distance = haversine_m(lat, lon, area.lat, area.lon)
        if area.kind == "home":
            home_distance = distance
        if found is None and distance <= area.radius_m + accuracy_m:
            found = area
    return found, home_distance
