"""Small inline SVG drawings rendered on the server: the check-in position sketch and bar charts (no tiles, no JS)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

METRES_PER_DEGREE_LAT = 110_574.0
METRES_PER_DEGREE_LON = 111_320.0


@dataclass(frozen=True)
class Circle:
    kind: str  # "home" | "leave"
    lat: float
    lon: float
    radius_m: float
    label: str


def _nice_length(metres: float) -> float:
    """A round scale-bar length (1, 2 or 5 times a power of ten) not longer than metres."""
    if metres <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(metres))
    for step in (5, 2, 1):
        if step * power <= metres:
            return step * power
    return power


def _distance_text(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def location_map(*, circles: Sequence[Circle], lat: float, lon: float, accuracy_m: float, point_label: str,
                 title: str, width: int = 260, height: int = 170) -> Markup:
    """A north-up sketch: home and leave circles, the check-in point with its accuracy, and a scale bar."""
    origin_lat, origin_lon = (circles[0].lat, circles[0].lon) if circles else (lat, lon)
    cos_lat = math.cos(math.radians(origin_lat))

    def project(p_lat: float, p_lon: float) -> tuple[float, float]:
        return ((p_lon - origin_lon) * cos_lat * METRES_PER_DEGREE_LON, (p_lat - origin_lat) * METRES_PER_DEGREE_LAT)

    point = project(lat, lon)
    shapes = [(project(c.lat, c.lon), c.radius_m, c) for c in circles]
    accuracy = max(0.0, min(accuracy_m, 5000.0))
    extents = [(point[0] - accuracy, point[1] - accuracy), (point[0] + accuracy, point[1] + accuracy)]
    for (x, y), radius, _c in shapes:
        extents += [(x - radius, y - radius), (x + radius, y + radius)]
    min_x, max_x = min(e[0] for e in extents), max(e[0] for e in extents)
    min_y, max_y = min(e[1] for e in extents), max(e[1] for e in extents)
    span = max(max_x - min_x, (max_y - min_y) * width / height, 200.0) * 1.15
    centre_x, centre_y = (min_x + max_x) / 2, (min_y + max_y) / 2
    scale = width / span

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (width / 2 + (x - centre_x) * scale, height / 2 - (y - centre_y) * scale)

    parts = [
        f'<svg class="locmap" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f4f6f8" stroke="#c9d1d9"/>',
    ]
    colours = {"home": ("#2e7d32", "#c8e6c9"), "leave": ("#1565c0", "#bbdefb")}
    for (x, y), radius, circle in shapes:
        cx, cy = to_px(x, y)
        stroke, fill = colours.get(circle.kind, ("#555", "#ddd"))
        parts.append(f'<circle class="area-{escape(circle.kind)}" cx="{cx:.1f}" cy="{cy:.1f}" '
                     f'r="{max(radius * scale, 3):.1f}" fill="{fill}" fill-opacity="0.6" stroke="{stroke}"/>')
        parts.append(f'<text x="{cx:.1f}" y="{cy:.1f}" font-size="11" text-anchor="middle" fill="{stroke}">'
                     f"{escape(circle.label)}</text>")
    px, py = to_px(*point)
    if shapes:
        hx, hy = to_px(*shapes[0][0])
        parts.append(f'<line x1="{hx:.1f}" y1="{hy:.1f}" x2="{px:.1f}" y2="{py:.1f}" stroke="#777" '
                     'stroke-dasharray="4 3"/>')
    if accuracy * scale >= 2:
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{accuracy * scale:.1f}" fill="#ef9a9a" '
                     'fill-opacity="0.35" stroke="none"/>')
    parts.append(f'<circle class="checkin-point" cx="{px:.1f}" cy="{py:.1f}" r="4.5" fill="#c62828" '
                 'stroke="#fff" stroke-width="1.5"/>')
    anchor = "end" if px > width * 0.7 else "start"
    offset = -7 if anchor == "end" else 7
    label_y = min(max(py - 6, 12.0), height - 4.0)
    parts.append(f'<text x="{px + offset:.1f}" y="{label_y:.1f}" font-size="11" text-anchor="{anchor}" '
                 f'fill="#c62828">{escape(point_label)}</text>')
    bar_m = _nice_length(span / 4)
    bar_px = bar_m * scale
    parts.append(f'<line x1="8" y1="{height - 10}" x2="{8 + bar_px:.1f}" y2="{height - 10}" stroke="#333" '
                 'stroke-width="2"/>')
    parts.append(f'<text x="8" y="{height - 14}" font-size="10" fill="#333">{_distance_text(bar_m)}</text>')
    parts.append(f'<text x="{width - 10}" y="16" font-size="11" text-anchor="middle" fill="#333">N</text>')
    parts.append(f'<line x1="{width - 10}" y1="20" x2="{width - 10}" y2="32" stroke="#333"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, width: int = 420, unit: str = "") -> Markup:
    """Horizontal bars with their labels and values; an empty chart says so in its title only."""
    row, label_w, value_w = 22, 150, 56
    height = max(1, len(items)) * row + 8
    top = max((value for _label, value in items), default=0) or 1
    bar_room = width - label_w - value_w
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (text, value) in enumerate(items):
        y = 4 + index * row
        length = bar_room * value / top
        shown = f"{value:g}{unit}"
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" text-anchor="end" fill="#222">'
                     f"{escape(text)}</text>")
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" fill="#3f6fb5"/>')
        parts.append(f'<text x="{label_w + length + 4:.1f}" y="{y + 15}" font-size="12" fill="#222">'
                     f"{escape(shown)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


ZONE_COLOURS = {"home": ("#2e7d32", "#c8e6c9"), "county": ("#558b2f", "none"), "leave": ("#1565c0", "#bbdefb"),
                "exclusion": ("#c62828", "#ffcdd2"), "curfew": ("#6a1b9a", "none")}


def trail_map(*, points: Sequence[tuple[float, float]], zones: Sequence[dict],
              alerts: Sequence[tuple[str, float, float]], title: str, width: int = 720, height: int = 480) -> Markup:
    """A north-up drawing of a day's trail: zones (circles and polygons), the simplified track, start and end, and
    the alerts at their first evidence fix; no tiles and no script, so it works without any map service."""
    anchors = list(points) + [(lat, lon) for _label, lat, lon in alerts]
    for zone in zones:
        if zone.get("circle"):
            anchors.append((zone["circle"]["lat"], zone["circle"]["lon"]))
        anchors += [(p[0], p[1]) for p in zone.get("polygon") or []]
    if not anchors:
        anchors = [(0.0, 0.0)]
    origin_lat, origin_lon = anchors[0]
    cos_lat = math.cos(math.radians(origin_lat))

    def project(p_lat: float, p_lon: float) -> tuple[float, float]:
        return ((p_lon - origin_lon) * cos_lat * METRES_PER_DEGREE_LON, (p_lat - origin_lat) * METRES_PER_DEGREE_LAT)

    extents = [project(lat, lon) for lat, lon in anchors]
    for zone in zones:
        if zone.get("circle"):
            x, y = project(zone["circle"]["lat"], zone["circle"]["lon"])
            r = zone["circle"]["radius_m"]
            extents += [(x - r, y - r), (x + r, y + r)]
    min_x, max_x = min(e[0] for e in extents), max(e[0] for e in extents)
    min_y, max_y = min(e[1] for e in extents), max(e[1] for e in extents)
    span = max(max_x - min_x, (max_y - min_y) * width / height, 500.0) * 1.1
    centre_x, centre_y = (min_x + max_x) / 2, (min_y + max_y) / 2
    scale = width / span

    def px(lat: float, lon: float) -> tuple[float, float]:
        x, y = project(lat, lon)
        return (width / 2 + (x - centre_x) * scale, height / 2 - (y - centre_y) * scale)

    parts = [
        f'<svg class="trailmap" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f4f6f8" stroke="#c9d1d9"/>',
    ]
    for zone in zones:
        key = zone.get("scope") if zone.get("kind") == "inclusion" else zone.get("kind")
        stroke, fill = ZONE_COLOURS.get(str(key), ("#555", "none"))
        dash = ' stroke-dasharray="6 4"' if key in ("county", "curfew") else ""
        label = escape(str(zone.get("note") or key))
        if zone.get("circle"):
            cx, cy = px(zone["circle"]["lat"], zone["circle"]["lon"])
            parts.append(f'<circle class="zone zone-{escape(str(key))}" cx="{cx:.1f}" cy="{cy:.1f}" '
                         f'r="{max(zone["circle"]["radius_m"] * scale, 3):.1f}" fill="{fill}" fill-opacity="0.45" '
                         f'stroke="{stroke}"{dash}><title>{label}</title></circle>')
        elif zone.get("polygon"):
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (px(p[0], p[1]) for p in zone["polygon"]))
            parts.append(f'<polygon class="zone zone-{escape(str(key))}" points="{coords}" fill="{fill}" '
                         f'fill-opacity="0.45" stroke="{stroke}"{dash}><title>{label}</title></polygon>')
    if len(points) > 1:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (px(lat, lon) for lat, lon in points))
        parts.append(f'<polyline class="trail" points="{coords}" fill="none" stroke="#1f3b73" stroke-width="2" '
                     'stroke-linejoin="round"/>')
    if points:
        for (lat, lon), colour in ((points[0], "#2e7d32"), (points[-1], "#1f3b73")):
            x, y = px(lat, lon)
            parts.append(f'<circle class="trail-end" cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}" '
                         'stroke="#fff" stroke-width="1.5"/>')
    for label, lat, lon in alerts:
        x, y = px(lat, lon)
        parts.append(f'<path class="alert-mark" d="M{x:.1f},{y - 8:.1f} L{x + 7:.1f},{y + 5:.1f} '
                     f'L{x - 7:.1f},{y + 5:.1f} Z" fill="#c62828" stroke="#fff"><title>{escape(label)}</title></path>')
    bar_m = _nice_length(span / 5)
    parts.append(f'<line x1="10" y1="{height - 12}" x2="{10 + bar_m * scale:.1f}" y2="{height - 12}" stroke="#333" '
                 'stroke-width="2"/>')
    parts.append(f'<text x="10" y="{height - 17}" font-size="11" fill="#333">{_distance_text(bar_m)}</text>')
    parts.append(f'<text x="{width - 12}" y="16" font-size="12" text-anchor="middle" fill="#333">N</text>')
    parts.append(f'<line x1="{width - 12}" y1="20" x2="{width - 12}" y2="34" stroke="#333"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
