"""Calibration of the face engine on folders of identities: TAR at fixed FAR, FTE, FTA and timing."""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from verification.decode import decode_image
from verification.embedders import DLIB
from verification.engine import FaceEngine
from verification.errors import ImageError, QualityError
from verification.matching import band_for, face_distances
from verification.settings import EngineSettings

FAR_POINTS: tuple[float, ...] = (0.01, 0.001, 0.0001)
# Relatives who look alike, by folder name (people/): the hardest impostors, reported pair by pair.
LOOKALIKE_FAMILIES: tuple[frozenset[str], ...] = (
    frozenset({"George_W_Bush", "George_HW_Bush", "Jeb_Bush", "Laura_Bush"}),
    frozenset({"Michael_Schumacher", "Ralf_Schumacher"}),
)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic"}
Progress = Callable[[int], None]


def natural_key(name: str) -> list[Any]:
    """Sort key that orders "2.jpg" before "10.jpg"."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def person_key(folder_name: str) -> str:
    """Folder name without a set prefix ("LFW_", "CN_nz001_"), to spot one person filed in two sets."""
    return re.sub(r"^(LFW_|CN_nz\d+_)", "", folder_name).lower()


@dataclass
class Identity:
    """One person's folder split into reference and probe photos."""

    name: str
    set_name: str
    references: list[Path]
    probes: list[Path]


@dataclass
class ImageResult:
    """What the engine made of one photo for one purpose."""

    path: Path
    purpose: str
    templates: dict[str, np.ndarray] | None  # by embedder key; None when the engine refused the photo
    error: str | None
    ms: float
    colour: bool
    primary: str = ""

    @property
    def encoding(self) -> np.ndarray | None:
        """The deciding template, or None."""
        return None if self.templates is None else self.templates[self.primary]


@dataclass
class FarPoint:
    """TAR at a target FAR, and the distance threshold that gives it."""

    far_target: float
    threshold: float | None
    tar: float | None
    false_accepts: int
    resolvable: bool  # False when there are too few impostor pairs to measure this FAR


@dataclass
class SetReport:
    """Accuracy figures for one set of identities."""

    name: str
    identities: int
    enrolled: int
    fte_identities: list[str]  # had `refs` photos, but fewer than `refs` passed the enrolment gates
    short_identities: list[str]  # fewer than `refs` photos in the folder: not counted as FTE
    reference_images: int
    reference_failures: dict[str, int]
    probes: int
    probe_failures: dict[str, int]
    genuine_pairs: int
    impostor_pairs: int
    far_points: list[FarPoint]
    at_thresholds: dict[str, float | int | None]
    mean_ms_per_image: float
    # The fused rule (SFace verifies, dlib may veto): band shares at the configured thresholds; None otherwise.
    fused_at_thresholds: dict[str, float | int | None] | None = None
    # Impostor comparisons between look-alike relatives: claimed identity, probe owner, distances and band.
    lookalikes: list[dict[str, Any]] = field(default_factory=list)
    genuine_distances: list[float] = field(repr=False, default_factory=list)
    impostor_distances: list[float] = field(repr=False, default_factory=list)

    @property
    def fte_rate(self) -> float:
        """Share of identities (with enough photos) left with fewer usable references than requested."""
        eligible = self.identities - len(self.short_identities)
        return len(self.fte_identities) / eligible if eligible else 0.0

    @property
    def fta_rate(self) -> float:
        """Share of probe photos the engine refused."""
        return sum(self.probe_failures.values()) / self.probes if self.probes else 0.0

    def as_dict(self, include_distances: bool = False) -> dict[str, Any]:
        """Return JSON-serialisable values."""
        data = dataclasses.asdict(self)
        data["fte_rate"] = round(self.fte_rate, 4)
        data["fta_rate"] = round(self.fta_rate, 4)
        if not include_distances:
            data.pop("genuine_distances")
            data.pop("impostor_distances")
        return data


@dataclass
class EvalReport:
    """Per-directory, pooled and colour-only reports of one evaluation run."""

    refs: int
    verify_threshold: float
    reject_threshold: float
    engine_version: str
    sets: list[SetReport]
    pooled: SetReport | None
    colour_only: list[SetReport]

    def as_dict(self, include_distances: bool = False) -> dict[str, Any]:
        """Return JSON-serialisable values."""
        return {
            "refs": self.refs,
            "verify_threshold": self.verify_threshold,
            "reject_threshold": self.reject_threshold,
            "engine_version": self.engine_version,
            "sets": [s.as_dict(include_distances) for s in self.sets],
            "pooled": self.pooled.as_dict(include_distances) if self.pooled else None,
            "colour_only": [s.as_dict(include_distances) for s in self.colour_only],
        }


def load_identities(directory: Path, refs: int) -> list[Identity]:
    """List identity folders: the first `refs` photos (natural order) are references, the rest probes."""
    identities = []
    for folder in sorted((p for p in directory.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        photos = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
            key=lambda p: natural_key(p.name),
        )
        if photos:
            identities.append(Identity(folder.name, directory.name, photos[:refs], photos[refs:]))
    return identities


def count_images(identities: Iterable[Identity]) -> int:
    """Number of photos an evaluation of these identities will analyse."""
    return sum(len(i.references) + len(i.probes) for i in identities)


class EncodingCache:
    """Analyses each (photo, purpose) once per run."""

    def __init__(self, engine: FaceEngine, progress: Progress | None = None) -> None:
        self.engine = engine
        self.progress = progress
        self._results: dict[tuple[Path, str], ImageResult] = {}

    def get(self, path: Path, purpose: str) -> ImageResult:
        """Return the cached analysis of a photo, analysing it on first use."""
        key = (path, purpose)
        if key not in self._results:
            self._results[key] = self._analyze(path, purpose)
            if self.progress:
                self.progress(1)
        return self._results[key]

    def _analyze(self, path: Path, purpose: str) -> ImageResult:
        data = path.read_bytes()
        started = time.perf_counter()
        templates: dict[str, np.ndarray] | None = None
        error: str | None = None
        try:
            analysis = self.engine.analyze(data, purpose="enrol" if purpose == "enrol" else "checkin")
            templates = analysis.templates.complete()
        except (ImageError, QualityError) as exc:
            error = exc.code
        ms = (time.perf_counter() - started) * 1000.0
        return ImageResult(path, purpose, templates, error, ms, _is_colour(data), self.engine.primary_key)


def _is_colour(data: bytes) -> bool:
    # Grayscale photos stored as RGB have three equal channels; tolerate JPEG chroma noise.
    try:
        rgb = decode_image(data, max_pixels=50_000_000, min_long_side=128).rgb
    except ImageError:
        return False
    spread = np.abs(rgb.astype(np.int16) - rgb.mean(axis=2, keepdims=True).astype(np.int16))
    return bool(spread.mean() > 2.0)


def far_points(
    genuine: np.ndarray, impostor: np.ndarray, targets: Sequence[float] = FAR_POINTS
) -> list[FarPoint]:
    """Largest threshold whose impostor accept share is at most each target, and the TAR it gives."""
    imp = np.sort(np.asarray(impostor, dtype=np.float64))
    points = []
    for target in targets:
        if imp.size == 0:
            points.append(FarPoint(target, None, None, 0, False))
            continue
        allowed = math.floor(target * imp.size + 1e-9)
        # Accepting means distance <= threshold: stop below the (allowed+1)-th closest impostor, rounded
        # down to 4 decimals so the printed threshold itself never lets one more impostor through.
        limit = float(np.nextafter(imp[allowed], -np.inf)) if allowed < imp.size else float(imp[-1])
        threshold = math.floor(limit * 10_000) / 10_000
        accepted = int(np.count_nonzero(imp <= threshold))
        tar = float(np.mean(genuine <= threshold)) if genuine.size else None
        points.append(FarPoint(target, threshold, tar, accepted, allowed >= 1))
    return points


def rates_at(
    genuine: np.ndarray, impostor: np.ndarray, verify_threshold: float, reject_threshold: float
) -> dict[str, float | int | None]:
    """Band shares of genuine and impostor comparisons at the given thresholds."""

    def share(values: np.ndarray, mask: np.ndarray) -> float | None:
        return round(float(mask.mean()), 5) if values.size else None

    return {
        "verify_threshold": verify_threshold,
        "reject_threshold": reject_threshold,
        "tar": share(genuine, genuine <= verify_threshold),
        "genuine_review": share(genuine, (genuine > verify_threshold) & (genuine <= reject_threshold)),
        "genuine_rejected": share(genuine, genuine > reject_threshold),
        "far": share(impostor, impostor <= verify_threshold),
        "impostor_review": share(impostor, (impostor > verify_threshold) & (impostor <= reject_threshold)),
        "impostor_rejected": share(impostor, impostor > reject_threshold),
        "false_accepts": int(np.count_nonzero(impostor <= verify_threshold)),
    }


@dataclass
class _Pair:
    owner: int
    claimed: int
    distance: float
    second: float | None  # the fused rule's dlib distance


def score_identities(
    name: str,
    identities: Sequence[Identity],
    cache: EncodingCache,
    refs: int,
    settings: EngineSettings,
) -> SetReport:
    """Enrol every identity, then compare each probe with its own and every other identity's references."""
    ref_failures: Counter[str] = Counter()
    probe_failures: Counter[str] = Counter()
    fte: list[str] = []
    short: list[str] = []
    times: list[float] = []
    enrolled: dict[int, list[dict[str, np.ndarray]]] = {}
    probes: dict[int, list[dict[str, np.ndarray]]] = {}
    for index, identity in enumerate(identities):
        usable = []
        for path in identity.references:
            result = cache.get(path, "enrol")
            times.append(result.ms)
            if result.templates is None:
                ref_failures[result.error or "unknown"] += 1
            else:
                usable.append(result.templates)
        if len(identity.references) < refs:
            short.append(identity.name)
        elif len(usable) < refs:
            fte.append(identity.name)
        # An identity short of references is still scored with the ones it has (a conservative stand-in
        # for the retakes a real enrolment would ask for); one with none cannot be scored.
        if usable:
            enrolled[index] = usable
        probes[index] = []
        for path in identity.probes:
            result = cache.get(path, "checkin")
            times.append(result.ms)
            if result.templates is None:
                probe_failures[result.error or "unknown"] += 1
            else:
                probes[index].append(result.templates)

    primary = cache.engine.primary_key
    fused = settings.matcher == "sface+dlib"
    pairs: list[_Pair] = []
    people = [person_key(i.name) for i in identities]
    for owner, templates in probes.items():
        for probe in templates:
            for claimed, references in enrolled.items():
                if claimed != owner and people[claimed] == people[owner]:
                    # The same person filed in two sets (LFW_Roh_Moo-hyun, Roh_Moo-hyun) is no impostor.
                    continue
                distance = _min_distance(probe, references, primary)
                second = _min_distance(probe, references, DLIB) if fused else None
                pairs.append(_Pair(owner, claimed, distance, second))
    gen = np.asarray([p.distance for p in pairs if p.owner == p.claimed])
    imp = np.asarray([p.distance for p in pairs if p.owner != p.claimed])
    fused_rates = None
    if fused:
        scores = [_fused_score(p, settings.verify, settings.veto, settings.dlib_consult_above) for p in pairs]
        fused_rates = rates_at(
            np.asarray([x for x, p in zip(scores, pairs, strict=True) if p.owner == p.claimed]),
            np.asarray([x for x, p in zip(scores, pairs, strict=True) if p.owner != p.claimed]),
            settings.verify, settings.reject,
        )
    return SetReport(
        name=name,
        identities=len(identities),
        enrolled=len(enrolled),
        fte_identities=fte,
        short_identities=short,
        reference_images=sum(len(i.references) for i in identities),
        reference_failures=dict(ref_failures),
        probes=sum(len(i.probes) for i in identities),
        probe_failures=dict(probe_failures),
        genuine_pairs=int(gen.size),
        impostor_pairs=int(imp.size),
        far_points=far_points(gen, imp),
        at_thresholds=rates_at(gen, imp, settings.verify, settings.reject),
        mean_ms_per_image=round(float(np.mean(times)), 1) if times else 0.0,
        fused_at_thresholds=fused_rates,
        lookalikes=_lookalikes(pairs, identities, settings),
        genuine_distances=[round(float(x), 5) for x in gen],
        impostor_distances=[round(float(x), 5) for x in imp],
    )


def _min_distance(probe: dict[str, np.ndarray], references: list[dict[str, np.ndarray]], key: str) -> float:
    return float(face_distances(probe[key], [r[key] for r in references]).min())


def _fused_score(pair: _Pair, verify: float, veto: float, consult_above: float) -> float:
    # Under the fused rule a vetoed pair can no longer verify: push it just past the verify band (it goes to
    # review), so rates_at counts the rule's outcome with the same code as a single template's.
    if consult_above < pair.distance <= verify and pair.second is not None and pair.second > veto:
        return float(np.nextafter(verify, np.inf))
    return pair.distance


def _lookalikes(pairs: list[_Pair], identities: Sequence[Identity], settings: EngineSettings) -> list[dict[str, Any]]:
    """Every probe of a relative scored against a look-alike family member's references."""
    names = [i.name for i in identities]
    rows = []
    for pair in pairs:
        if pair.owner == pair.claimed:
            continue
        owner, claimed = names[pair.owner], names[pair.claimed]
        if not any(owner in family and claimed in family for family in LOOKALIKE_FAMILIES):
            continue
        score = pair.distance
        if pair.second is not None:
            score = _fused_score(pair, settings.verify, settings.veto, settings.dlib_consult_above)
        band = band_for(score, settings.verify, settings.reject)
        rows.append({"probe_of": owner, "claimed": claimed, "distance": round(pair.distance, 4),
                     "second_distance": None if pair.second is None else round(pair.second, 4), "band": band})
    return rows


def evaluate(
    directories: Sequence[Path],
    *,
    refs: int = 5,
    engine: FaceEngine,
    progress: Progress | None = None,
    identities_per_set: int | None = None,
) -> EvalReport:
    """Evaluate the engine on identity folders; see docs/faces.md for the protocol."""
    if refs < 1:
        raise ValueError("refs must be at least 1")
    cache = EncodingCache(engine, progress)
    s = engine.settings
    per_set = [load_identities(Path(d), refs)[:identities_per_set] for d in directories]
    reports = [
        score_identities(Path(d).name, ids, cache, refs, s) for d, ids in zip(directories, per_set, strict=True)
    ]
    everyone = [i for ids in per_set for i in ids]
    pooled = None
    if len(per_set) > 1:
        pooled = score_identities("pooled", everyone, cache, refs, s)
    colour_only = []
    for d, ids in zip(directories, per_set, strict=True):
        colour = [i for i in ids if all(cache.get(p, _purpose(i, p)).colour for p in i.references + i.probes)]
        if colour and len(colour) < len(ids):
            colour_only.append(
                score_identities(f"{Path(d).name} (colour only)", colour, cache, refs, s)
            )
    return EvalReport(refs, s.verify, s.reject, engine.version, reports, pooled, colour_only)


def _purpose(identity: Identity, path: Path) -> str:
    return "enrol" if path in identity.references else "checkin"


def format_report(report: EvalReport) -> str:
    """Render a report as plain-text tables."""
    lines = [
        f"engine {report.engine_version}, {report.refs} reference(s) per identity, "
        f"verify <= {report.verify_threshold}, reject > {report.reject_threshold}",
        "",
    ]
    for rep in [*report.sets, *report.colour_only, *([report.pooled] if report.pooled else [])]:
        lines.append(f"== {rep.name}")
        lines.append(
            f"identities {rep.identities} ({len(rep.short_identities)} with < {report.refs} photos), "
            f"FTE {len(rep.fte_identities)} ({rep.fte_rate:.1%}); "
            f"reference photos {rep.reference_images}, "
            f"refused at enrol gates {sum(rep.reference_failures.values())}"
            f"{_codes(rep.reference_failures)}"
        )
        lines.append(
            f"probes {rep.probes}, FTA {sum(rep.probe_failures.values())} ({rep.fta_rate:.1%})"
            f"{_codes(rep.probe_failures)}; genuine pairs {rep.genuine_pairs}, "
            f"impostor pairs {rep.impostor_pairs};"
            f" {rep.mean_ms_per_image:.0f} ms per photo"
        )
        lines.append("  FAR target   threshold   TAR      false accepts")
        for p in rep.far_points:
            note = "" if p.resolvable else "  (too few impostor pairs: threshold below the closest impostor)"
            tar = "-" if p.tar is None else f"{p.tar:.1%}"
            thr = "-" if p.threshold is None else f"{p.threshold:.4f}"
            lines.append(f"  {p.far_target:<10.2%}  {thr:<10}  {tar:<7}  {p.false_accepts}{note}")
        a = rep.at_thresholds
        lines.append(
            f"  at configured thresholds: TAR {_pct(a['tar'])}, "
            f"genuine to review {_pct(a['genuine_review'])}, "
            f"genuine rejected {_pct(a['genuine_rejected'])}; FAR {_pct(a['far'])} ({a['false_accepts']}), "
            f"impostor to review {_pct(a['impostor_review'])}, "
            f"impostor rejected {_pct(a['impostor_rejected'])}"
        )
        f = rep.fused_at_thresholds
        if f is not None:
            lines.append(
                f"  fused rule (dlib vetoes a verify): TAR {_pct(f['tar'])}, genuine to review "
                f"{_pct(f['genuine_review'])}; FAR {_pct(f['far'])} ({f['false_accepts']})"
            )
        if rep.lookalikes:
            bands = Counter(row["band"] for row in rep.lookalikes)
            lines.append(
                f"  look-alike relatives: {len(rep.lookalikes)} comparisons, verified {bands['verified']}, "
                f"review {bands['needs_review']}, rejected {bands['rejected']}"
            )
            for row in rep.lookalikes:
                if row["band"] == "verified":
                    lines.append(f"    VERIFIED: a {row['probe_of']} probe as {row['claimed']} "
                                 f"(distance {row['distance']}, second {row['second_distance']})")
        lines.append("")
    return "\n".join(lines)


def _pct(value: float | int | None) -> str:
    return "-" if value is None else f"{float(value):.2%}"


def _codes(counts: dict[str, int]) -> str:
    return " (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")" if counts else ""


# --------------------------------------------------------------------------------------------- sweeps
SWEEPS: dict[str, tuple[float, ...]] = {
    # face box side in pixels after downscaling the probe
    "face_size": (160, 96, 64, 48, 40, 32, 24, 20, 16),
    # multiplier on pixel values (exposure)
    "brightness": (1.0, 0.5, 0.3, 0.2, 0.15, 0.1, 0.07, 0.05, 1.6, 2.2, 3.0),
    # Gaussian blur sigma relative to the face box side
    "blur": (0.0, 0.01, 0.02, 0.03, 0.045, 0.06, 0.08, 0.1),
}


def sweep_quality(
    directories: Sequence[Path],
    kind: str,
    *,
    refs: int,
    engine: FaceEngine,
    progress: Progress | None = None,
    identities_per_set: int | None = None,
) -> list[dict[str, Any]]:
    """Degrade each genuine probe step by step; record the measured value and the genuine match rate."""
    if kind not in SWEEPS:
        raise ValueError(f"unknown sweep {kind!r}; choose from {sorted(SWEEPS)}")
    # Gates off so the sweep sees how matching degrades, not where the current gates cut.
    open_settings = dataclasses.replace(
        engine.settings,
        checkin_min_face_px=0.0,
        checkin_min_brightness=0.0,
        checkin_max_brightness=256.0,
        checkin_min_blur=0.0,
        checkin_max_yaw_degrees=None,
    )
    open_engine = FaceEngine(open_settings, engine.models)
    cache = EncodingCache(open_engine)
    rows: dict[float, dict[str, list[float]]] = {
        level: {"distance": [], "value": [], "lost": []} for level in SWEEPS[kind]
    }
    for directory in directories:
        for identity in load_identities(Path(directory), refs)[:identities_per_set]:
            references = [cache.get(p, "checkin").encoding for p in identity.references]
            usable = [r for r in references if r is not None]
            if not usable:
                continue
            for path in identity.probes:
                try:
                    rgb = decode_image(path.read_bytes(), max_pixels=50_000_000, min_long_side=1024).rgb
                    base = open_engine.analyze_image(rgb, purpose="checkin")
                except (ImageError, QualityError):
                    continue
                top, right, bottom, left = base.faces[0].box
                side = ((right - left) + (bottom - top)) / 2.0
                for level in SWEEPS[kind]:
                    degraded = _degrade(rgb, kind, level, side)
                    try:
                        result = open_engine.analyze_image(degraded, purpose="checkin")
                    except QualityError:
                        rows[level]["lost"].append(1.0)
                        continue
                    rows[level]["lost"].append(0.0)
                    rows[level]["distance"].append(float(face_distances(result.encoding, usable).min()))
                    metric = {"face_size": "face_px", "brightness": "brightness", "blur": "blur"}[kind]
                    rows[level]["value"].append(float(result.quality[metric]))
                if progress:
                    progress(1)
    verify = engine.settings.verify_threshold
    table = []
    for level, row in rows.items():
        dist = np.asarray(row["distance"])
        table.append(
            {
                "level": level,
                "probes": len(row["lost"]),
                "not_found": int(sum(row["lost"])),
                "median_value": round(float(np.median(row["value"])), 1) if row["value"] else None,
                "median_distance": round(float(np.median(dist)), 4) if dist.size else None,
                "verified_share": round(float(np.mean(dist <= verify)), 4) if dist.size else None,
            }
        )
    return table


def _degrade(rgb: np.ndarray, kind: str, level: float, face_side: float) -> np.ndarray:
    if kind == "face_size":
        factor = min(1.0, level / face_side)
        size = (max(8, round(rgb.shape[1] * factor)), max(8, round(rgb.shape[0] * factor)))
        return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    if kind == "brightness":
        return np.clip(rgb.astype(np.float32) * level, 0, 255).astype(np.uint8)
    if kind == "blur":
        sigma = level * face_side
        return rgb if sigma <= 0 else cv2.GaussianBlur(rgb, (0, 0), sigmaX=sigma)
    raise ValueError(kind)
