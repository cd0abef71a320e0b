"""Evaluation: FAR/TAR arithmetic on known distances, and a small real run on a few identities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from verification.engine import FaceEngine
from verification.evaluation import evaluate, far_points, format_report, natural_key, person_key, rates_at


def test_natural_key_orders_numbers_numerically() -> None:
    assert sorted(["10.jpg", "2.jpg", "1.jpg"], key=natural_key) == ["1.jpg", "2.jpg", "10.jpg"]


def test_person_key_strips_set_prefixes() -> None:
    assert person_key("LFW_Roh_Moo-hyun") == person_key("Roh_Moo-hyun")
    assert person_key("CN_nz001_AnHu") == "anhu"


def test_far_points_on_known_distances() -> None:
    impostor = np.arange(1, 1001) / 1000.0  # 0.001 .. 1.000
    genuine = np.array([0.0005, 0.005, 0.0095, 0.02, 0.5])
    one_percent, tenth, hundredth = far_points(genuine, impostor)
    # 1% of 1000 impostors = 10 may be accepted: the threshold sits just below the 11th closest (0.011).
    assert one_percent.false_accepts == 10
    assert one_percent.threshold == pytest.approx(0.011, abs=1e-4)
    assert one_percent.threshold < 0.011
    assert one_percent.tar == pytest.approx(3 / 5)
    assert tenth.false_accepts == 1 and tenth.tar == pytest.approx(1 / 5)
    # 0.01% of 1000 is less than one pair: not resolvable, the threshold stays below every impostor.
    assert hundredth.false_accepts == 0 and not hundredth.resolvable
    assert hundredth.tar == pytest.approx(1 / 5)


def test_rates_at_thresholds() -> None:
    rates = rates_at(np.array([0.1, 0.4, 0.45, 0.6]), np.array([0.35, 0.5, 0.7, 0.8]), 0.39, 0.52)
    assert rates["tar"] == 0.25 and rates["genuine_review"] == 0.5 and rates["genuine_rejected"] == 0.25
    assert rates["far"] == 0.25 and rates["false_accepts"] == 1
    assert rates["impostor_review"] == 0.25 and rates["impostor_rejected"] == 0.5


def test_small_evaluation_run(faces_dir: Path, engine: FaceEngine) -> None:
    calls: list[int] = []
    people_dir = faces_dir / "people"
    report = evaluate([people_dir], refs=3, engine=engine, progress=calls.append, identities_per_set=4)
    (people,) = report.sets
    assert report.pooled is None and report.refs == 3
    assert people.identities == 4 and people.reference_images == 12 and people.probes == 20
    assert sum(calls) == 32  # every photo analysed exactly once
    acquired = people.probes - sum(people.probe_failures.values())
    assert people.enrolled == 4
    assert people.genuine_pairs == acquired  # one genuine pair per acquired probe
    assert people.impostor_pairs == acquired * (people.enrolled - 1)
    assert len(people.impostor_distances) == people.impostor_pairs
    imp = np.asarray(people.impostor_distances)
    gen = np.asarray(people.genuine_distances)
    verify = engine.settings.verify_threshold
    assert people.at_thresholds["far"] == pytest.approx(np.mean(imp <= verify), abs=1e-5)
    assert people.at_thresholds["tar"] == pytest.approx(np.mean(gen <= verify), abs=1e-5)
    for point in people.far_points:
        assert point.threshold is not None
        assert np.count_nonzero(imp <= point.threshold) == point.false_accepts <= point.far_target * imp.size
    assert "TAR" in format_report(report)
    data = report.as_dict()
    assert data["sets"][0]["name"] == "people" and "genuine_distances" not in data["sets"][0]
