"""Matching: band logic on synthetic encodings, and real identities from ../shared/faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.verification.conftest import AnalyzeFn
from verification.engine import FaceEngine
from verification.errors import QualityError
from verification.evaluation import natural_key
from verification.matching import band_for, match_encodings


def _unit(angle: float) -> np.ndarray:
    vector = np.zeros(128)
    vector[0], vector[1] = np.cos(angle), np.sin(angle)
    return vector


def test_match_reports_min_second_and_mean() -> None:
    probe = np.zeros(128)
    refs = [np.full(128, 0.05), np.full(128, 0.01), np.full(128, 0.1)]
    result = match_encodings(probe, refs, verify_threshold=0.39, reject_threshold=0.52)
    distances = [np.linalg.norm(r) for r in refs]
    assert result.best_index == 1
    assert result.distance == pytest.approx(min(distances))
    assert result.second_distance == pytest.approx(sorted(distances)[1])
    assert result.mean_distance == pytest.approx(np.mean(distances))
    assert result.band == "verified"


@pytest.mark.parametrize(
    ("distance", "band"),
    [
        (0.0, "verified"),
        (0.39, "verified"),
        (0.3901, "needs_review"),
        (0.52, "needs_review"),
        (0.5201, "rejected"),
        (None, "needs_review"),
    ],
)
def test_bands_edges(distance: float | None, band: str) -> None:
    assert band_for(distance, 0.39, 0.52) == band


def test_no_references_needs_review_and_bad_thresholds_raise() -> None:
    result = match_encodings(np.zeros(128), [], verify_threshold=0.39, reject_threshold=0.52)
    assert (result.distance, result.best_index, result.band) == (None, None, "needs_review")
    with pytest.raises(ValueError):
        match_encodings(np.zeros(128), [np.zeros(128)], verify_threshold=0.6, reject_threshold=0.5)


def test_engine_match_uses_configured_thresholds(engine: FaceEngine) -> None:
    result = engine.match(_unit(0.0), [_unit(np.pi / 2)])
    assert result.distance == pytest.approx(np.sqrt(2))
    assert result.band == "rejected"
    assert (result.verify_threshold, result.reject_threshold) == (
        engine.settings.verify_threshold,
        engine.settings.reject_threshold,
    )


def _photos(folder: Path) -> list[Path]:
    return sorted(folder.iterdir(), key=lambda p: natural_key(p.name))


def _encodings(analyze_file: AnalyzeFn, paths: list[Path], purpose: str) -> list[np.ndarray]:
    return [analyze_file(p, purpose).encoding for p in paths]


SAME_IDENTITIES = ["Colin_Powell", "Roger_Federer", "Hu_Jintao", "Kim_Clijsters", "Tony_Blair", "Yao_Ming"]


def _enrol(analyze_file: AnalyzeFn, paths: list[Path]) -> list[np.ndarray]:
    refs = []
    for path in paths:
        try:
            refs.append(analyze_file(path, "enrol").encoding)
        except QualityError:
            continue  # a refused reference is simply not enrolled, as in the product
    return refs


def test_same_identity_matches(faces_dir: Path, analyze_file: AnalyzeFn, engine: FaceEngine) -> None:
    # Five references each (the recommended enrolment); probes are the remaining photos.
    gallery = {}
    for name in SAME_IDENTITIES:
        photos = _photos(faces_dir / "people" / name)
        gallery[name] = (_enrol(analyze_file, photos[:5]), photos[5:])
    verified = total = 0
    for name, (refs, probes) in gallery.items():
        assert len(refs) >= 3, f"{name}: too few usable references"
        for probe_path in probes:
            probe = analyze_file(probe_path, "checkin").encoding
            own = engine.match(probe, refs)
            assert own.band != "rejected", (probe_path, own.distance)
            # Closed-set identification: the probe is nearer its own references than anyone else's.
            others = {
                other: engine.match(probe, r).distance for other, (r, _) in gallery.items() if other != name
            }
            assert own.distance is not None and own.distance < min(
                d for d in others.values() if d is not None
            )
            verified += own.band == "verified"
            total += 1
    # The bands are strict (set by the East Asian set): many genuine photos go to review, but not most.
    assert verified >= total / 2, f"{verified} of {total} verified"


@pytest.mark.parametrize(
    ("set_name", "first", "second"),
    [
        ("people", "Michael_Schumacher", "Ralf_Schumacher"),
        ("people", "George_W_Bush", "Jeb_Bush"),
        ("east-asian", "LFW_Jiang_Zemin", "LFW_Zhu_Rongji"),
        ("east-asian", "CN_nz102_ChenJianzhou", "CN_nz118_ChenWeidong"),
    ],
)
def test_different_identities_are_never_verified(
    set_name: str, first: str, second: str, faces_dir: Path, analyze_file: AnalyzeFn, engine: FaceEngine
) -> None:
    a = [analyze_file(p, "checkin").templates for p in _photos(faces_dir / set_name / first)]
    b = [analyze_file(p, "checkin").templates for p in _photos(faces_dir / set_name / second)]
    # Each side enrolled with three and with five photos, every photo of the other side probed against them, decided
    # by the engine's whole rule (SFace with dlib's veto: SFace alone verifies one George W. Bush photo as Jeb).
    for count in (3, 5):
        for refs, probes in ((a[:count], b), (b[:count], a)):
            gallery = {key: [r[key] for r in refs] for key in engine.template_keys}
            bands = [engine.decide(p, gallery) for p in probes]
            assert not any(r.band == "verified" for r in bands), [round(r.distance or 0, 3) for r in bands]


def test_settings_validate_and_convert_strings() -> None:
    from verification.settings import EngineSettings

    settings = EngineSettings.from_mapping(
        {
            "verify_threshold": "0.35",
            "num_jitters": "2",
            "matcher": "dlib",
            "enrol_max_yaw_degrees": "none",
        }
    )
    assert (settings.verify_threshold, settings.num_jitters, settings.matcher) == (0.35, 2, "dlib")
    assert settings.reject_threshold == 0.52  # dlib's own calibrated reject band fills the unset one
    assert settings.enrol_max_yaw_degrees is None
    assert settings.gates("enrol").min_face_px > settings.gates("checkin").min_face_px
    with pytest.raises(ValueError):
        EngineSettings(verify_threshold=0.6, reject_threshold=0.5)
    with pytest.raises(ValueError):
        EngineSettings(detect_long_side=0)
    with pytest.raises(ValueError):
        EngineSettings(matcher="arcface")


def test_fused_rule_lets_dlib_veto_a_verify_but_never_rescue_one(engine: FaceEngine) -> None:
    from verification.embedders import DLIB, SFACE

    assert engine.settings.matcher == "sface+dlib"
    consult = engine.settings.dlib_consult_above
    # Unit vectors at angle a lie 2 sin(a / 2) apart: one SFace reference just inside the verify band, above the
    # level where dlib is consulted, and one clearly inside it.
    border = 2 * np.arcsin((consult + engine.settings.verify) / 4)
    probe = {SFACE: _unit(0.0), DLIB: np.zeros(128)}
    near_dlib, far_dlib = [np.full(128, 0.01)], [np.full(128, 0.06)]  # dlib distances 0.11 and 0.68
    agreeing = engine.decide(probe, {SFACE: [_unit(border)], DLIB: near_dlib})
    assert agreeing.band == "verified" and agreeing.second_opinion["consulted"] is True
    vetoed = engine.decide(probe, {SFACE: [_unit(border)], DLIB: far_dlib})
    assert vetoed.band == "needs_review" and vetoed.second_opinion["vetoed"] is True
    assert vetoed.as_dict()["second_opinion"]["distance"] == pytest.approx(0.06 * np.sqrt(128))
    # A clear SFace verify is not second-guessed; a probe SFace rejects stays rejected however close dlib finds it.
    clear = engine.decide(probe, {SFACE: [_unit(0.1)], DLIB: far_dlib})
    assert clear.band == "verified" and clear.second_opinion["consulted"] is False
    far = engine.decide(probe, {SFACE: [_unit(np.pi)], DLIB: [np.zeros(128)]})
    assert far.band == "rejected"


def test_the_second_opinion_is_only_computed_when_the_rule_asks(engine: FaceEngine, faces_dir: Path) -> None:
    from verification.embedders import DLIB

    analysis = engine.analyze((faces_dir / "edge" / "exif_upright_reference.jpg").read_bytes(), purpose="checkin")
    assert analysis.templates.pending == (DLIB,)
    same = engine.decide(analysis.templates, {k: [analysis.templates.complete()[k]] for k in engine.template_keys})
    assert same.band == "verified" and analysis.templates.pending == ()
